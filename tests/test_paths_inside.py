"""Paths derived from user data stay inside their folders: model ids become one folder name (recorded with the
id as typed), metadata rows that leave the dataset folder are refused naming the file and row (unless the
task opts in), result files land inside --output only."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from clapbench.cache import EmbeddingCache
from clapbench.audio.synth import make_esc50_layout
from clapbench.data.check import check_tasks
from clapbench.errors import ClapbenchError
from clapbench.models.contract import LoadedModel
from clapbench.paths import slug
from clapbench.registry import registry
from conftest import copy_task, assert_refused, run_cli

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small_esc50(tmp_path_factory) -> Path:
    return make_esc50_layout(tmp_path_factory.mktemp("paths") / "ESC-50-master", clips_per_class=2, seconds=0.5, formats=("wav",))


@pytest.fixture
def dataset(small_esc50, tmp_path) -> Path:
    return Path(shutil.copytree(small_esc50, tmp_path / "data" / "ESC-50-master"))


def run(model, data: Path, out: Path, *extra, task: str = "esc50"):
    return run_cli("run", "--model", model, "--tasks", task, "--data", f"{task}={data}", "--output", out, "--workers", 0,
                   "--bootstrap", 10, "--no-cache", *extra)


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def set_first_row(dataset: Path, filename: str) -> str:
    """Point the metadata's first row at ``filename``; returns the file name it had."""
    meta = dataset / "meta" / "esc50.csv"
    with open(meta) as fh:
        rows = list(csv.reader(fh))
    old, rows[1][0] = rows[1][0], filename
    with open(meta, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return old


# ---- model ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize("given, expected", [("../x", "x"), ("laion/clap-htsat", "laion-clap-htsat"), ("..", "model"),
                                             ("/abs/../m v2", "abs-..-m-v2"), (".hidden", "hidden")])
def test_slug_is_one_folder_name(given, expected):
    assert slug(given) == expected
    assert "/" not in expected and expected not in ("", ".", "..")


def test_model_id_with_dots_and_slashes_stays_in_output(spectral_plugin, small_esc50, tmp_path):
    out = tmp_path / "results"
    res = run(spectral_plugin, small_esc50, out, "--model-id", "../escaped")
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "escaped").exists()
    result = json.loads((out / "escaped" / "esc50.json").read_text())
    assert result["model"]["id"] == "escaped" and result["model"]["id_given"] == "../escaped"


def test_nested_model_id_is_found_by_leaderboard_report_and_compare(spectral_plugin, small_esc50, tmp_path):
    out = tmp_path / "results"
    assert run(spectral_plugin, small_esc50, out, "--model-id", "laion/clap-htsat").exit_code == 0
    assert [p.relative_to(out).as_posix() for p in files_under(out)] == ["laion-clap-htsat/esc50.items.npz", "laion-clap-htsat/esc50.json"]
    board = tmp_path / "board.csv"
    res = run_cli("leaderboard", out, "-o", board)
    assert res.exit_code == 0, res.output
    with open(board) as fh:
        assert [r["model"] for r in csv.DictReader(fh)] == ["laion-clap-htsat"]
    res = run_cli("report", out, "-o", tmp_path / "report.html")
    assert res.exit_code == 0, res.output
    assert "laion-clap-htsat" in (tmp_path / "report.html").read_text()
    res = run_cli("compare", out, out, "--model-id", "laion/clap-htsat", "--bootstrap", 10)
    assert res.exit_code == 0 and "1 unchanged" in res.output, res.output


# ---- metadata rows --------------------------------------------------------------------------------


def test_metadata_row_climbing_out_is_refused(spectral_plugin, dataset, tmp_path):
    secret = tmp_path / "data" / "secret.wav"
    shutil.copy(dataset / "audio" / set_first_row(dataset, "../../secret.wav"), secret)
    res = run(spectral_plugin, dataset, tmp_path / "out")
    assert_refused(res, tmp_path / "out", f"{dataset / 'meta' / 'esc50.csv'}: line 2", "the clip path 'audio/../../secret.wav'",
                   "climbs out of the dataset folder", "dataset.allow_paths_outside: true")


def test_metadata_row_with_an_absolute_path_is_refused(spectral_plugin, dataset, tmp_path):
    secret = tmp_path / "secret.wav"
    shutil.copy(dataset / "audio" / set_first_row(dataset, str(tmp_path / "secret.wav")), secret)
    res = run(spectral_plugin, dataset, tmp_path / "out")
    assert_refused(res, tmp_path / "out", f"{dataset / 'meta' / 'esc50.csv'}: line 2", f"'{secret}' is an absolute path")


def test_symlink_resolving_outside_is_refused(spectral_plugin, dataset, tmp_path):
    with open(dataset / "meta" / "esc50.csv") as fh:
        name = next(csv.DictReader(fh))["filename"]
    secret = tmp_path / "secret.wav"
    (dataset / "audio" / name).rename(secret)
    (dataset / "audio" / name).symlink_to(secret)
    res = run(spectral_plugin, dataset, tmp_path / "out")
    assert_refused(res, tmp_path / "out", f"{dataset / 'meta' / 'esc50.csv'}: line 2", f"resolves to {secret} through a symbolic link")
    # data check reads metadata as a run does, and says the same
    res = run_cli("data", "check", "--data", f"esc50={dataset}", "--tasks", "esc50")
    assert res.exit_code == 1, res.output
    (row,) = check_tasks([registry()["esc50"]], {"esc50": str(dataset)}, None)
    assert f"line 2: the clip path 'audio/{name}' resolves to {secret} through a symbolic link" in row.problem


def test_a_symlinked_dataset_folder_is_fine(spectral_plugin, small_esc50, tmp_path):
    """The folder itself may be a link (a data root pointing at another disk): paths are checked against its target."""
    link = tmp_path / "esc50-link"
    link.symlink_to(small_esc50)
    res = run(spectral_plugin, link, tmp_path / "out")
    assert res.exit_code == 0, res.output


def test_a_task_may_opt_in_to_paths_outside(spectral_plugin, dataset, tmp_path):
    tasks = tmp_path / "tasks"
    copy_task(tasks, "esc50", "esc50-outside", ("  reader: csv\n", "  reader: csv\n  allow_paths_outside: true\n"))
    shutil.copy(dataset / "audio" / set_first_row(dataset, "../../secret.wav"), tmp_path / "data" / "secret.wav")
    res = run(spectral_plugin, dataset, tmp_path / "out", "--tasks-dir", tasks, task="esc50-outside")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "clapbench_test_spectral.make" / "esc50-outside.json").is_file()


# ---- result and cache paths -----------------------------------------------------------------------


def test_result_folder_that_is_a_link_outside_output_is_refused(spectral_plugin, small_esc50, tmp_path):
    out, elsewhere = tmp_path / "results", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "m").symlink_to(elsewhere)
    res = run(spectral_plugin, small_esc50, out, "--model-id", "m")
    assert_refused(res, elsewhere, str(out / "m" / "esc50.json"), f"resolves to {elsewhere / 'esc50.json'}, outside {out}")


def test_cache_refuses_a_model_sha_that_is_not_a_digest(tmp_path):
    loaded = LoadedModel(model=None, model_id="m", path="x", kind="plugin", sha256="../../outside")
    with pytest.raises(ClapbenchError, match="not a hex digest"):
        EmbeddingCache(tmp_path / "cache", loaded)
    assert not (tmp_path / "cache").exists()
