"""HuggingFace parquet folders (--data TASK=hf:FOLDER): the ESC-50 copies' exact schema, run end to end."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import run_cli

from clapbench.audio import load_audio
from clapbench.audio.parquet_clips import clip_ref, parse_clip_ref
from clapbench.data.hf_parquet import read_hf_dataset
from clapbench.errors import DataError
from clapbench.registry import registry

# The `features` of ashraq/esc50 and mteb/esc50 (their dataset_infos.json): target is a plain int64, no ClassLabel.
ESC50_FEATURES = {
    "filename": {"dtype": "string", "id": None, "_type": "Value"},
    "fold": {"dtype": "int64", "id": None, "_type": "Value"},
    "target": {"dtype": "int64", "id": None, "_type": "Value"},
    "category": {"dtype": "string", "id": None, "_type": "Value"},
    "esc10": {"dtype": "bool", "id": None, "_type": "Value"},
    "src_file": {"dtype": "int64", "id": None, "_type": "Value"},
    "take": {"dtype": "string", "id": None, "_type": "Value"},
    "audio": {"sampling_rate": None, "mono": True, "decode": True, "id": None, "_type": "Audio"},
}
AUDIO_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def write_hf_parquet(path: Path, columns: dict[str, pa.Array], features: dict | None, row_group_size: int = 4) -> Path:
    """A parquet file as `datasets` writes one: the columns, plus its features in the schema's huggingface metadata."""
    table = pa.table(columns)
    if features is not None:
        table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def audio_cells(files: list[Path]) -> pa.Array:
    return pa.array([{"bytes": f.read_bytes(), "path": f.name} for f in files], type=AUDIO_TYPE)


def esc50_to_hf(layout: Path, out: Path, seed: int = 0) -> dict[str, str]:
    """Write the ESC-50 layout's clips as ashraq/esc50 does (two shards in data/, shuffled rows).

    Returns {clip reference: the clip's file name in the layout}."""
    meta = pd.read_csv(layout / "meta" / "esc50.csv")
    meta = meta.iloc[np.random.default_rng(seed).permutation(len(meta))].reset_index(drop=True)
    names = {}
    half = len(meta) // 2
    for shard, part in enumerate([meta.iloc[:half], meta.iloc[half:]]):
        rel = f"data/train-0000{shard}-of-00002-{'2f1ab7b8' if shard == 0 else '27425e5c'}.parquet"
        columns = {
            "filename": pa.array(part["filename"], pa.string()),
            "fold": pa.array(part["fold"], pa.int64()),
            "target": pa.array(part["target"], pa.int64()),
            "category": pa.array(part["category"], pa.string()),
            "esc10": pa.array(part["esc10"].astype(bool), pa.bool_()),
            "src_file": pa.array(part["src_file"], pa.int64()),
            "take": pa.array(part["take"].astype(str), pa.string()),
            "audio": audio_cells([layout / "audio" / f for f in part["filename"]]),
        }
        write_hf_parquet(out / rel, columns, ESC50_FEATURES)
        names.update({clip_ref(rel, row): f for row, f in enumerate(part["filename"])})
    return names


@pytest.fixture(scope="module")
def esc50_hf(esc50_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("hf") / "esc50"
    return out, esc50_to_hf(esc50_dir, out)


def test_clip_reference_round_trip_and_decoding(esc50_dir, esc50_hf):
    folder, names = esc50_hf
    assert parse_clip_ref("data/x.parquet#12").row == 12
    assert parse_clip_ref("data/x.parquet#wav:3").column == "wav"
    assert parse_clip_ref("audio/1-100-A-0.wav") is None
    for ref, filename in list(names.items())[:8]:
        from_parquet = load_audio(folder / ref, 48000)
        from_file = load_audio(esc50_dir / "audio" / filename, 48000)
        np.testing.assert_array_equal(from_parquet, from_file)
    with pytest.raises(DataError, match="only 15 rows"):
        load_audio(folder / "data/train-00000-of-00002-2f1ab7b8.parquet#99", 48000)


def test_reader_matches_the_folder_layout(esc50_dir, esc50_hf):
    folder, names = esc50_hf
    spec = registry()["esc50"]
    hf = read_hf_dataset(folder, spec.dataset)
    layout = pd.read_csv(esc50_dir / "meta" / "esc50.csv")
    by_name = {row.filename: row for row in layout.itertuples()}
    # Classes in target order, as the layout's class_order_column gives them.
    assert hf.classes == list(layout.drop_duplicates("target").sort_values("target")["category"])
    assert len(hf.items) == len(layout) == 30 and hf.folds == ["1", "2", "3", "4", "5"]
    for item in hf.items:
        row = by_name[names[item.path]]
        assert hf.classes[item.labels[0]] == row.category and item.fold == str(row.fold)


def _predictions(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "tiny-clap" / "esc50.predictions.csv")


def test_run_from_parquet_equals_run_from_folder(tiny_model, esc50_dir, esc50_hf, tmp_path):
    folder, names = esc50_hf
    common = ["run", "--model", tiny_model, "--tasks", "esc50", "--save-predictions", "--bootstrap", "200"]
    res = run_cli(*common, "--data", f"esc50={esc50_dir}", "--output", tmp_path / "a", "--workers", "0")
    assert res.exit_code == 0, res.output
    res = run_cli(*common, "--data", f"esc50=hf:{folder}", "--output", tmp_path / "b", "--workers", "0")
    assert res.exit_code == 0, res.output
    a = json.loads((tmp_path / "a" / "tiny-clap" / "esc50.json").read_text())
    b = json.loads((tmp_path / "b" / "tiny-clap" / "esc50.json").read_text())
    assert b["n_items"] == a["n_items"] == 30 and b["classes"] == a["classes"]
    # Rows come in another order, so resampled intervals may differ; point estimates may not.
    for metric, value in a["metrics"].items():
        assert b["metrics"][metric] == pytest.approx(value, abs=1e-9)
    # Per clip: the row reference names the clip, and its prediction and score equal the file's.
    pa_, pb = _predictions(tmp_path / "a"), _predictions(tmp_path / "b")
    assert all(p.endswith(".parquet#" + p.rsplit("#", 1)[1]) for p in pb["path"])
    pb["path"] = [f"audio/{names[p]}" for p in pb["path"]]
    merged = pa_.merge(pb, on="path", suffixes=("_dir", "_hf"))
    assert len(merged) == 30
    assert (merged["prediction_dir"] == merged["prediction_hf"]).all()
    assert (merged["label_dir"] == merged["label_hf"]).all() and (merged["fold_dir"] == merged["fold_hf"]).all()
    np.testing.assert_allclose(merged["score_dir"], merged["score_hf"], atol=1e-5)


def test_worker_processes_decode_parquet_rows_like_the_files(esc50_dir, esc50_hf):
    """The loader's worker processes get plain reference strings and decode the same samples as from the files."""
    from clapbench.audio.loader import iter_prepared

    folder, names = esc50_hf
    refs = list(names)
    waves = [w for _, batch in iter_prepared([str(folder / r) for r in refs], 32000, batch_size=4, workers=2) for w in batch]
    assert len(waves) == len(refs) == 30
    for ref, wave in zip(refs, waves):
        np.testing.assert_array_equal(wave, load_audio(esc50_dir / "audio" / names[ref], 32000))


def test_class_label_names_from_the_schema(esc50_dir, tmp_path):
    """MTEB-style copies: an int ClassLabel column whose names (not sorted) live only in the schema metadata."""
    files = sorted((esc50_dir / "audio").iterdir())[:6]
    names = ["zebra", "apple", "mango"]
    features = {"audio": {"_type": "Audio"}, "label": {"names": names, "_type": "ClassLabel"}}
    write_hf_parquet(tmp_path / "train.parquet", {"audio": audio_cells(files), "label": pa.array([2, 0, 1, 1, 0, 2], pa.int64())}, features)
    spec = {"hf": {"files": "*.parquet", "label_column": "label"}}
    dataset = read_hf_dataset(tmp_path, spec)
    assert dataset.classes == names
    assert [dataset.classes[i.labels[0]] for i in dataset.items] == ["mango", "zebra", "apple", "apple", "zebra", "mango"]
    assert dataset.items[3].path == "train.parquet#3" and dataset.folds == []


def test_class_label_target_needs_no_names_column(esc50_hf, tmp_path):
    """A copy whose target is a ClassLabel and which has no category column reads with the same classes."""
    folder, _ = esc50_hf
    spec = registry()["esc50"]
    expected = read_hf_dataset(folder, spec.dataset)
    for path in sorted(folder.glob("data/*.parquet")):
        table = pq.read_table(path).drop_columns(["category"])
        features = {k: v for k, v in ESC50_FEATURES.items() if k != "category"}
        features["target"] = {"names": expected.classes, "_type": "ClassLabel"}
        write_hf_parquet(tmp_path / "data" / path.name, {n: table.column(n) for n in table.column_names}, features)
    dataset = read_hf_dataset(tmp_path, spec.dataset)
    assert dataset.classes == expected.classes and dataset.items == expected.items


def test_multilabel_sequence_of_class_labels(esc50_dir, tmp_path):
    files = sorted((esc50_dir / "audio").iterdir())[:3]
    features = {"audio": {"_type": "Audio"}, "labels": {"feature": {"names": ["a", "b", "c"], "_type": "ClassLabel"}, "_type": "Sequence"}}
    labels = pa.array([[0, 2], [1], [2, 1, 0]], pa.list_(pa.int64()))
    write_hf_parquet(tmp_path / "data" / "test-0.parquet", {"audio": audio_cells(files), "labels": labels}, features)
    dataset = read_hf_dataset(tmp_path, {"hf": {"files": "data/test-*.parquet", "label_column": "labels"}})
    assert [i.labels for i in dataset.items] == [(0, 2), (1,), (2, 1, 0)]


def _broken_copy(esc50_hf, tmp_path, edit) -> Path:
    folder, _ = esc50_hf
    copy = tmp_path / "esc50"
    shutil.copytree(folder, copy)
    path = next((copy / "data").glob("train-00000-*.parquet"))
    table = pq.read_table(path)
    table = edit(table)
    pq.write_table(table, path, row_group_size=4)
    return path


def _check(copy_root: Path):
    from clapbench.data.check import check_tasks

    [row] = check_tasks([registry()["esc50"]], {"esc50": f"hf:{copy_root}"}, None)
    return row


def test_missing_column_is_reported(esc50_hf, tmp_path):
    path = _broken_copy(esc50_hf, tmp_path, lambda t: t.drop_columns(["category"]))
    row = _check(tmp_path / "esc50")
    assert row.status == "malformed" and row.format == "hf-parquet"
    assert row.problem.startswith(f"{path}: missing column(s) category; found filename, fold, target")


def test_inconsistent_label_names_are_reported(esc50_hf, tmp_path):
    def rename_first(t):
        cats = t.column("category").to_pylist()
        cats[1] = "unicorn"
        return t.set_column(t.schema.get_field_index("category"), "category", pa.array(cats))

    path = _broken_copy(esc50_hf, tmp_path, rename_first)
    row = _check(tmp_path / "esc50")
    assert row.status == "malformed"
    # The first row of that class after row 1 disagrees with row 1's name for the same target.
    assert f"' in {path}#1; expected one" in row.problem and "here but 'unicorn'" in row.problem


def test_missing_audio_bytes_are_reported(esc50_hf, tmp_path):
    def drop_bytes(t):
        cells = t.column("audio").to_pylist()
        cells[5] = {"bytes": None, "path": cells[5]["path"]}
        return t.set_column(t.schema.get_field_index("audio"), "audio", pa.array(cells, AUDIO_TYPE))

    path = _broken_copy(esc50_hf, tmp_path, drop_bytes)
    row = _check(tmp_path / "esc50")
    assert row.status == "malformed"
    assert row.problem.startswith(f"{path}#5: no audio bytes (the row names '")


def test_bad_hf_folders_exit_2_with_one_message(tiny_model, esc50_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    res = run_cli("run", "--model", tiny_model, "--tasks", "esc50", "--data", f"esc50=hf:{tmp_path / 'empty'}", "--output", tmp_path / "out")
    assert res.exit_code == 2 and "no parquet files match data/train-*.parquet" in " ".join(res.output.split())
    assert "Traceback" not in res.output and not (tmp_path / "out" / "tiny-clap" / "esc50.json").exists()
    # A task whose file declares no hf: mapping.
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    raw = yaml.safe_load(Path(registry()["esc50"].source_file).read_text())
    del raw["dataset"]["hf"]
    (tasks / "esc50.yaml").write_text(yaml.safe_dump(raw))
    res = run_cli("data", "check", "--data", f"esc50=hf:{tmp_path / 'empty'}", "--tasks-dir", tasks)
    assert res.exit_code == 1 and "malformed" in res.output
    from clapbench.data.check import check_tasks

    [row] = check_tasks([registry([str(tasks)])["esc50"]], {"esc50": f"hf:{tmp_path / 'empty'}"}, None)
    assert row.problem.startswith("task esc50 declares no HuggingFace dataset columns (dataset.hf in its task file)")


def test_data_check_and_tasks_see_the_hf_folder(esc50_hf):
    folder, _ = esc50_hf
    row = _check(folder)
    assert (row.status, row.clips, row.classes, row.problem) == ("found", 30, 6, None)
    res = run_cli("data", "check", "--data", f"esc50=hf:{folder}")
    assert res.exit_code == 0 and "found (hf)" in res.output
    res = run_cli("tasks", "--data", f"esc50=hf:{folder}")
    assert res.exit_code == 0 and "found" in res.output


def test_without_pyarrow_an_hf_folder_names_the_extra(tiny_model, esc50_hf, tmp_path, monkeypatch):
    """pyarrow is an extra (`clapbench[hf]`): without it, an hf: dataset ends in one message, exit 2, nothing written."""
    folder, _ = esc50_hf
    for name in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    out = tmp_path / "results"
    result = run_cli("run", "--model", tiny_model, "--tasks", "esc50", "--data", f"esc50=hf:{folder}", "--output", out, "--workers", "0")
    assert result.exit_code == 2, result.output
    assert "pyarrow is not installed" in result.output and "clapbench[hf]" in result.output
    assert not list(out.rglob("*.json"))
