"""Every path a user gives is checked before the work (issue 14, item 5): an unwritable or wrong path is one
message naming it, exit 2, and for `run` the model is never loaded."""

from __future__ import annotations

import pytest
from conftest import assert_refused, run_cli

import clapbench.models

SPECTRAL = "plugins_spectral:spectral_model"


@pytest.fixture
def no_model_load(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(clapbench.models, "load_model", refuse)


@pytest.fixture
def blocker(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("where", ["under-a-file", "under-proc"])
def test_unwritable_output_and_cache_are_named_before_the_model_loads(esc50_dir, blocker, tmp_path, no_model_load, where):
    bad = blocker / "out" if where == "under-a-file" else "/proc/clapbench-out"
    base = ("run", "--model", "tests_have_no_such_model_but_it_is_never_loaded", "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--workers", "0")
    # a checkpoint file with a weights hash: the cache is checked too
    model = tmp_path / "model.pt"
    model.write_bytes(b"0" * 16)
    res = run_cli("run", "--model", model, *base[3:], "--output", bad)
    assert_refused(res, None, f"--output {bad}: cannot write there")
    res = run_cli("run", "--model", model, *base[3:], "--output", tmp_path / "ok", "--cache-dir", bad)
    assert_refused(res, None, f"--cache-dir {bad}: cannot write there", "--no-cache")
    res = run_cli("run", "--model", model, *base[3:], "--output", tmp_path / "ok", "--tokenizer", tmp_path / "no-tokenizer")
    assert_refused(res, None, "--tokenizer", "folder not found")


def test_output_files_of_report_compare_leaderboard_and_train(esc50_dir, blocker, tmp_path):
    out = tmp_path / "results"
    res = run_cli("run", "--model", SPECTRAL, "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--output", out, "--workers", "0", "--bootstrap", "20")
    assert res.exit_code == 0, res.output
    folder = out / "plugins_spectral.spectral_model"
    assert_refused(run_cli("report", out, "-o", blocker / "r.html"), None, f"-o {blocker / 'r.html'}", "cannot write there")
    assert_refused(run_cli("compare", folder, folder, "--json", blocker / "c.json"), None, "--json", "cannot write there")
    assert_refused(run_cli("leaderboard", out, "-o", blocker / "b.csv"), None, "-o", "cannot write there")
    assert_refused(run_cli("leaderboard", out, "--markdown", tmp_path), None, "--markdown", "is a directory")
    res = run_cli("train", "--config", "tiny", "--pairs", "esc50", "--data", f"esc50={esc50_dir}", "--output", blocker / "model", "--steps", "1")
    assert_refused(res, None, f"--output {blocker / 'model'}: cannot write there")
