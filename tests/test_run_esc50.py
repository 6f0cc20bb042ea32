"""`clapbench run` on an ESC-50-layout dataset end to end: result files, predictions, options, plugins."""

from __future__ import annotations

import csv
import importlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import soxr
import yaml
from sklearn.metrics import balanced_accuracy_score

import clapbench
from clapbench.audio.synth import DEMO_CLASSES
from clapbench.registry import template_sha
from conftest import assert_refused, assert_accuracy_within, assert_decisions_agree, run_cli

REPO = Path(__file__).resolve().parent.parent
ESC50_TEMPLATES = yaml.safe_load((REPO / "tasks" / "esc50.yaml").read_text())["prompts"]["templates"]


def meta_rows(data: Path) -> list[dict]:
    with open(data / "meta" / "esc50.csv") as fh:
        return list(csv.DictReader(fh))


def run_ok(*args) -> str:
    res = run_cli("run", *args)
    assert res.exit_code == 0, res.output
    return res.output


def read_result(out: Path, model_id: str, task: str = "esc50"):
    result = json.loads((out / model_id / f"{task}.json").read_text())
    preds_file = out / model_id / f"{task}.predictions.csv"
    preds = pd.read_csv(preds_file, dtype={"fold": str}) if preds_file.exists() else None
    return result, preds


@pytest.fixture(scope="module")
def hf_run(tiny_model, esc50_dir, tmp_path_factory):
    """One full run of the tiny HF model over all 30 clips, with predictions."""
    out = tmp_path_factory.mktemp("hf-run")
    run_ok("--model", tiny_model, "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--output", out,
           "--save-predictions", "--workers", "0", "--batch-size", "8")
    return out, *read_result(out, "tiny-clap")


def test_result_file_holds_every_field(hf_run, tiny_model, esc50_dir):
    import torch
    import transformers

    _, result, _ = hf_run
    assert result["task"] == "esc50" and result["task_version"] == "1.0"
    assert result["model"]["id"] == "tiny-clap" and result["model"]["path"] == str(tiny_model.resolve())
    assert len(result["model_sha"]) == 64 and int(result["model_sha"], 16) >= 0
    assert result["main_metric"] == "accuracy" and result["main_score"] == result["metrics"]["accuracy"]
    assert set(result["metrics"]) == set(result["ci95"]) == {"accuracy", "top5_accuracy", "balanced_accuracy"}
    for name, value in result["metrics"].items():
        lo, hi = result["ci95"][name]
        assert 0 <= lo <= value <= hi <= 1, name
    assert result["n_items"] == 30 and result["classes"] == DEMO_CLASSES  # in the order of the target column
    assert result["folds"] == ["1", "2", "3", "4", "5"] and result["limited"] is False
    protocol = result["protocol"]
    assert (protocol["sample_rate"], protocol["clip_seconds"], protocol["padding"], protocol["truncation"]) == (48000, 10.0, "repeatpad", "rand_trunc")
    assert protocol["templates"] == ESC50_TEMPLATES
    assert protocol["template_sha"] == template_sha(ESC50_TEMPLATES)
    assert protocol["class_prompt_names"] == [c.replace("_", " ") for c in DEMO_CLASSES]
    assert result["versions"]["clapbench"] == clapbench.__version__
    assert result["versions"]["torch"] == torch.__version__ and result["versions"]["transformers"] == transformers.__version__
    assert result["device"] == "cpu" and result["dtype"] == "float32" and result["batch_size"] == 8
    assert result["seconds"] > 0
    assert result["bootstrap"]["resamples"] >= 1000


def test_template_sha_follows_the_templates():
    assert template_sha(ESC50_TEMPLATES) == template_sha(list(ESC50_TEMPLATES))
    assert template_sha(ESC50_TEMPLATES) != template_sha(ESC50_TEMPLATES[:1])
    assert template_sha(["a {}"]) != template_sha(["a {} "])


def test_predictions_file_has_a_row_per_clip(hf_run, esc50_dir):
    _, result, preds = hf_run
    rows = meta_rows(esc50_dir)
    assert {"path", "fold", "label", "prediction", "top5"} <= set(preds.columns)
    assert list(preds.path) == [f"audio/{r['filename']}" for r in rows]  # relative to the dataset folder
    assert all((esc50_dir / p).is_file() for p in preds.path)
    assert list(preds.fold) == [r["fold"] for r in rows]
    assert list(preds.label) == [r["category"] for r in rows]
    for row in preds.itertuples():
        top5 = row.top5.split("|")
        assert len(top5) == 5 and len(set(top5)) == 5 and set(top5) <= set(DEMO_CLASSES)
        assert top5[0] == row.prediction


def test_metrics_agree_with_the_predictions(hf_run):
    _, result, preds = hf_run
    metrics = result["metrics"]
    assert metrics["accuracy"] == pytest.approx((preds.label == preds.prediction).mean())
    assert metrics["top5_accuracy"] == pytest.approx(np.mean([lab in t.split("|") for lab, t in zip(preds.label, preds.top5)]))
    assert metrics["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(preds.label, preds.prediction))


def test_folds_narrow_the_evaluation(spectral_plugin, esc50_dir, tmp_path):
    run_ok("--model", spectral_plugin, "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--output", tmp_path,
           "--folds", "2,5", "--save-predictions", "--workers", "0")
    result, preds = read_result(tmp_path, "clapbench_test_spectral.make")
    expected = [f"audio/{r['filename']}" for r in meta_rows(esc50_dir) if r["fold"] in ("2", "5")]
    assert result["n_items"] == len(expected) == 12 and result["folds"] == ["2", "5"]
    assert list(preds.path) == expected and set(preds.fold) == {"2", "5"}
    assert result["limited"] is False


def test_unknown_fold_is_a_user_error(spectral_plugin, esc50_dir, tmp_path):
    res = run_cli("run", "--model", spectral_plugin, "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--output", tmp_path, "--folds", "6")
    assert res.exit_code == 2 and "fold '6'" in res.output and "Traceback" not in res.output
    assert not list(tmp_path.rglob("*.json"))


def test_limit_marks_a_smoke_run(spectral_plugin, esc50_dir, tmp_path):
    args = ("--model", spectral_plugin, "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--limit", 7, "--save-predictions", "--workers", "0")
    output = run_ok(*args, "--output", tmp_path / "a")
    run_ok(*args, "--output", tmp_path / "b")
    (a, preds_a), (b, preds_b) = read_result(tmp_path / "a", "clapbench_test_spectral.make"), read_result(tmp_path / "b", "clapbench_test_spectral.make")
    assert a["limited"] is True and a["limit"] == 7 and a["n_items"] == 7 and len(preds_a) == 7
    assert a["subset"]["is_subset"] and a["subset"]["reasons"] == ["--limit 7", "6 of the official 50 classes"] and "subset 7/2000" in output
    # a seeded sample: the same clips and scores in every run, spread over the dataset
    assert list(preds_a.path) == list(preds_b.path) and a["metrics"] == b["metrics"]
    assert len(set(preds_a.label)) > 1


def test_result_is_kept_only_for_the_same_configuration(spectral_plugin, esc50_dir, tmp_path, monkeypatch):
    """Same fingerprint: kept, and its score row still printed. Another configuration: refused before the
    model loads, naming the fields that differ; --overwrite recomputes."""
    import clapbench.models

    args = ("--model", spectral_plugin, "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--output", tmp_path, "--workers", "0")
    run_ok(*args, "--limit", 3)
    path = tmp_path / "clapbench_test_spectral.make" / "esc50.json"
    first = path.read_bytes()
    real_load = clapbench.models.load_model

    def no_load(*a, **k):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(clapbench.models, "load_model", no_load)
    output = run_ok(*args, "--limit", 3)  # the same configuration: kept, the model never loaded
    assert path.read_bytes() == first and "kept" in output and "esc50" in output and "subset 3/2000" in output
    for other, field in ((("--limit", 5), "limit: 3 -> 5"), (("--limit", 3, "--seed", 1), "seed: 0 -> 1"),
                         (("--limit", 3, "--template", "a {}"), "templates:")):
        res = run_cli("run", *args, *other)
        assert_refused(res, None, "holds a result of another configuration", field, "--overwrite")
        assert path.read_bytes() == first
    monkeypatch.setattr(clapbench.models, "load_model", real_load)
    run_ok(*args, "--limit", 5, "--overwrite")
    assert json.loads(path.read_text())["n_items"] == 5


@pytest.mark.parametrize("layout", ["task_folder", "archive_root_inside"])
def test_data_root(spectral_plugin, esc50_dir, tmp_path, layout):
    root = tmp_path / "datasets"
    target = root / "esc50" if layout == "task_folder" else root / "esc50" / "ESC-50-master"
    target.parent.mkdir(parents=True)
    target.symlink_to(esc50_dir, target_is_directory=True)
    run_ok("--model", spectral_plugin, "--tasks", "esc50", "--data-root", root, "--output", tmp_path / "out", "--workers", "0", "--save-predictions")
    result, preds = read_result(tmp_path / "out", "clapbench_test_spectral.make")
    assert result["n_items"] == 30 and result["data_root"] == str(target)
    assert preds.path.iloc[0].startswith("audio/")


def test_plugin_model_scores_its_own_predictions(spectral_plugin, esc50_dir, tmp_path):
    """The plugin's score equals a brute-force zero-shot evaluation of the same plugin, decoding the
    files independently, and is well above chance (1/6) on the synthesized classes."""
    run_ok("--model", spectral_plugin, "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--output", tmp_path,
           "--save-predictions", "--batch-size", 4, "--workers", "0")
    result, preds = read_result(tmp_path, "clapbench_test_spectral.make")
    assert result["model"] == {"id": "clapbench_test_spectral.make", "id_given": None, "path": spectral_plugin, "kind": "plugin", "family": None, "variant": None}
    assert result["protocol"]["sample_rate"] == 16000

    model = importlib.import_module(spectral_plugin.split(":")[0]).make()
    rows = meta_rows(esc50_dir)
    waves = []
    for r in rows:
        data, rate = sf.read(esc50_dir / "audio" / r["filename"], dtype="float32", always_2d=True)
        waves.append(soxr.resample(data.mean(axis=1), rate, 16000))
    audio = model.embed_audio(waves)
    audio /= np.linalg.norm(audio, axis=1, keepdims=True)
    classes = []
    for name in DEMO_CLASSES:
        emb = model.embed_text([t.format(name.replace("_", " ")) for t in ESC50_TEMPLATES])
        mean = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).mean(axis=0)
        classes.append(mean / np.linalg.norm(mean))
    scores = audio @ np.array(classes).T
    truth = np.array([int(r["target"]) for r in rows])

    predicted = np.array([DEMO_CLASSES.index(p) for p in preds.prediction])
    assert_decisions_agree(predicted, scores)  # a best class, up to float noise at near-ties
    assert result["main_score"] == pytest.approx(float((predicted == truth).mean()), abs=1e-12)
    assert_accuracy_within(result["main_score"], scores, truth)
    assert result["main_score"] > 0.5
    assert result["model_sha"] is None  # a plugin claims no weights hash unless it names one


def test_model_sha_is_the_weights_not_the_folder(tiny_model, esc50_dir, hf_run, tmp_path):
    _, original, _ = hf_run
    same = Path(shutil.copytree(tiny_model, tmp_path / "renamed-copy"))
    changed = Path(shutil.copytree(tiny_model, tmp_path / "one-byte-changed"))
    weights = changed / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-4] ^= 0x01  # the lowest mantissa byte of the last float: the model still loads
    weights.write_bytes(bytes(blob))
    shas = {}
    for folder in (same, changed):
        run_ok("--model", folder, "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--output", tmp_path / "out",
               "--limit", 2, "--bootstrap", 0, "--workers", "0")
        shas[folder.name] = read_result(tmp_path / "out", folder.name)[0]["model_sha"]
    assert shas["renamed-copy"] == original["model_sha"]
    assert shas["one-byte-changed"] != original["model_sha"]


def test_a_result_is_not_kept_for_another_copy_of_the_data(spectral_plugin, esc50_dir, tmp_path):
    """The same options on a copy of the dataset with one clip fewer: not the same run, so not kept."""
    import shutil

    copy = Path(shutil.copytree(esc50_dir, tmp_path / "copy"))
    meta = copy / "meta" / "esc50.csv"
    lines = meta.read_text().splitlines(keepends=True)
    args = ("--model", spectral_plugin, "--tasks", "esc50", "--output", tmp_path / "out", "--workers", "0", "--bootstrap", "20")
    run_ok(*args, "--data", f"esc50={esc50_dir}")
    meta.write_text("".join(lines[:-1]))
    res = run_cli("run", *args, "--data", f"esc50={copy}")
    assert_refused(res, None, "holds a result of another configuration", "data_items_sha256")
