"""What a result is, and that nothing stands in for something it is not (issue 12): fail-fast planning,
--keep-going, did-you-mean, contamination marks after training, paired compare on every evaluation kind,
results written by earlier clapbench versions."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_refused, run_cli

import clapbench.models
from clapbench.audio.synth import DEMO_CLASSES, make_esc50_layout, synth_sound

SPECTRAL = "plugins_spectral:spectral_model"
WORSE = "plugins_spectral:spectral_model_worse"


@pytest.fixture(scope="module")
def esc50(tmp_path_factory) -> Path:
    return make_esc50_layout(tmp_path_factory.mktemp("ident") / "esc50", clips_per_class=10, seconds=0.5, sample_rate=8000, seed=3)


@pytest.fixture(scope="module")
def clotho(tmp_path_factory) -> Path:
    """A Clotho layout of demo-class sounds, five captions per clip naming the class (the spectral plugin reads them)."""
    root = tmp_path_factory.mktemp("ident") / "clotho"
    (root / "evaluation").mkdir(parents=True)
    rng = np.random.default_rng(4)
    rows = []
    import soundfile as sf

    for c, name in enumerate(DEMO_CLASSES):
        for k in range(3):
            file = f"{name} {k}.wav"
            sf.write(root / "evaluation" / file, synth_sound(name, 0.5, 8000, rng), 8000)
            label = name.replace("_", " ")
            rows.append([file] + [f"{w} {label}" for w in ("a", "the", "some", "one", "loud")])
    with open(root / "clotho_captions_evaluation.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["file_name"] + [f"caption_{i}" for i in range(1, 6)]] + rows)
    return root


def _no_model_load(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(clapbench.models, "load_model", refuse)


def test_every_problem_is_reported_before_the_model_loads(esc50, tmp_path, monkeypatch):
    _no_model_load(monkeypatch)
    out = tmp_path / "out"
    res = run_cli("run", "--model", SPECTRAL, "--tasks", "esc50,us8k,clotho", "--data", f"esc50={esc50}", "--data", f"esc-50={esc50}",
                  "--data", f"clotho={tmp_path / 'nowhere'}", "--output", out, "--workers", "0")
    # three problems in one message: a misspelt --data name, us8k without data, clotho's folder missing
    assert_refused(res, out, "3 problem(s) found before loading the model", "--data esc-50", "did you mean 'esc50'?",
                   "task us8k: no data location", "nowhere")
    # an unwritable output is named before any work too
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = run_cli("run", "--model", SPECTRAL, "--tasks", "esc50", "--data", f"esc50={esc50}", "--output", blocker / "out", "--workers", "0")
    assert_refused(res, None, f"--output {blocker / 'out'}: cannot write there")


def test_keep_going_runs_what_can_run(esc50, clotho, tmp_path):
    out = tmp_path / "out"
    res = run_cli("run", "--model", SPECTRAL, "--tasks", "esc50,us8k,clotho", "--data", f"esc50={esc50}", "--data", f"clotho={clotho}",
                  "--output", out, "--workers", "0", "--bootstrap", "50", "--keep-going")
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "not run" in text and "us8k" in text and "1 task(s) failed" in text
    folder = out / "plugins_spectral.spectral_model"
    assert sorted(p.name for p in folder.glob("*.json")) == ["clotho.json", "esc50.json"]
    assert "scores" in text and "esc50" in text and "clotho" in text  # the score table of what ran


def test_unknown_task_gets_did_you_mean(tmp_path):
    res = run_cli("run", "--model", SPECTRAL, "--tasks", "esc-50", "--output", tmp_path)
    assert res.exit_code == 2 and "did you mean 'esc50'" in " ".join(res.output.split())


def test_data_check_reports_derived_tasks_through_their_source(esc50):
    res = run_cli("data", "check", "--data", f"esc50={esc50}", "--tasks", "esc50,zste-1,order-pairs")
    assert res.exit_code == 0, res.output
    assert "3 of 3 task(s) usable" in res.output


def _train(esc50: Path, out: Path, tiny_model: Path) -> Path:
    res = run_cli("train", "--init", tiny_model, "--pairs", "esc50", "--data", f"esc50={esc50}", "--folds", "1,2,3,4",
                  "--output", out, "--steps", "1", "--batch-size", "6")
    assert res.exit_code == 0, res.output
    return out


def test_training_items_mark_results_contaminated(esc50, tiny_model, tmp_path):
    model = _train(esc50, tmp_path / "trained", tiny_model)
    training = json.loads((model / "training.json").read_text())
    assert training["trained_on"]["n_items"] == 48 and training["trained_on"]["sources"] == ["esc50"]
    assert training["trained_on"]["data"]["folds"] == ["1", "2", "3", "4"]
    out = tmp_path / "results"
    for folds in ([], ["--folds", "5"]):
        res = run_cli("run", "--model", model, "--model-id", "m" + "".join(folds[1:]), "--tasks", "esc50", "--data", f"esc50={esc50}",
                      "--output", out, "--workers", "0", "--bootstrap", "20", *folds)
        assert res.exit_code == 0, res.output
    everything = json.loads((out / "m" / "esc50.json").read_text())
    held_out = json.loads((out / "m5" / "esc50.json").read_text())
    assert everything["contamination"]["n_overlap"] == 48 and everything["contamination"]["n_items"] == 60
    assert held_out["contamination"]["n_overlap"] == 0 and held_out["contamination"]["n_items"] == 12
    board = run_cli("leaderboard", out, "-o", tmp_path / "b.csv", "--markdown", tmp_path / "b.md")
    assert board.exit_code == 0, board.output
    table = pd.read_csv(tmp_path / "b.csv", dtype=str, keep_default_na=False).set_index("model")
    assert "contaminated 48/60" in table.loc["m", "sound-events/esc50:marks"]
    assert "contaminated" not in table.loc["m5", "sound-events/esc50:marks"]
    assert "contaminated 48/60" in (tmp_path / "b.md").read_text() and "contaminated 48/60" in " ".join(board.output.split())
    assert run_cli("report", out, "-o", tmp_path / "r.html").exit_code == 0
    assert "contaminated 48/60" in (tmp_path / "r.html").read_text()
    # published numbers carry what the literature says of their contamination, with its source
    board = run_cli("leaderboard", out, "--published", "-o", tmp_path / "p.csv")
    assert board.exit_code == 0, board.output
    table = pd.read_csv(tmp_path / "p.csv", dtype=str, keep_default_na=False).set_index("model")
    laion = table.loc["LAION-CLAP (reported)", "sound-events/esc50:marks"]
    assert laion.startswith("contaminated per ") and "LAION-AI/CLAP#75" in laion
    assert table.loc["MS-CLAP 2023 (reported)", "sound-events/esc50:marks"] == ""


def _compare(base: Path, new: Path, task: str, tmp_path: Path) -> dict:
    res = run_cli("compare", base, new, "--tasks", task, "--json", tmp_path / f"{task}.json", "--bootstrap", "200")
    assert res.exit_code in (0, 1), res.output
    (row,) = json.loads((tmp_path / f"{task}.json").read_text())["tasks"]
    return row


def test_compare_gives_paired_verdicts_on_retrieval_temporal_and_probe(esc50, clotho, tmp_path):
    out = tmp_path / "out"
    common = ("--data", f"esc50={esc50}", "--data", f"clotho={clotho}", "--output", out, "--workers", "0", "--bootstrap", "100")
    for model in (SPECTRAL, WORSE):
        res = run_cli("run", "--model", model, "--tasks", "clotho,zste-1", "--limit", "40", *common)
        assert res.exit_code == 0, res.output
    res = run_cli("run", "--model", SPECTRAL, "--tasks", "esc50", "--eval", "linear-probe", *common)
    assert res.exit_code == 0, res.output
    res = run_cli("run", "--model", "plugins_spectral:spectral_model_noisy", "--tasks", "esc50", "--eval", "linear-probe", *common)
    assert res.exit_code == 0, res.output
    good, worse, noisy = out / "plugins_spectral.spectral_model", out / "plugins_spectral.spectral_model_worse", out / "plugins_spectral.spectral_model_noisy"
    clotho_result = json.loads((good / "clotho.json").read_text())
    assert "clips" in clotho_result["bootstrap"]["method"]  # retrieval resamples clips, all captions of a clip together
    for task, base, new in (("clotho", good, worse), ("zste-1", good, worse), ("esc50.linear-probe", good, noisy)):
        row = _compare(base, new, task, tmp_path)
        b = json.loads((base / f"{task}.json").read_text())["main_score"]
        n = json.loads((new / f"{task}.json").read_text())["main_score"]
        assert row["paired"] and row["baseline"] == pytest.approx(b) and row["new"] == pytest.approx(n), task
        assert n < b and row["verdict"] == "regressed", (task, b, n, row)
        same = _compare(base, base, task, tmp_path)
        assert same["verdict"] == "unchanged" and same["diff"] == 0


def _as_version_1(record: dict) -> dict:
    """A result as clapbench wrote it before the result schema (main at the time of issue 12)."""
    old = {k: v for k, v in record.items() if k not in ("schema_version", "fingerprint", "subset", "contamination", "variant")}
    if record.get("variant"):
        old["variant"] = record["variant"]
    old["limited"] = record.get("limit") is not None
    return old


def test_results_of_earlier_versions_still_load(esc50, tmp_path):
    out = tmp_path / "new"
    for model in (SPECTRAL, WORSE):
        res = run_cli("run", "--model", model, "--tasks", "esc50", "--data", f"esc50={esc50}", "--output", out, "--workers", "0",
                      "--bootstrap", "50", "--limit", "30")
        assert res.exit_code == 0, res.output
    old = tmp_path / "old"
    shutil.copytree(out, old)
    for path in old.glob("*/esc50.json"):
        path.write_text(json.dumps(_as_version_1(json.loads(path.read_text()))))
    for folder in (out, old):
        board = run_cli("leaderboard", folder, "-o", folder / "b.csv")
        assert board.exit_code == 0, board.output
        assert run_cli("report", folder, "-o", folder / "r.html").exit_code == 0
    new_board = pd.read_csv(out / "b.csv", dtype=str, keep_default_na=False)
    old_board = pd.read_csv(old / "b.csv", dtype=str, keep_default_na=False)
    assert list(new_board["sound-events/esc50"]) == list(old_board["sound-events/esc50"])
    assert set(new_board["sound-events/esc50:marks"]) == {"subset 30/2000"}
    assert set(old_board["sound-events/esc50:marks"]) == {"subset"}  # a v1 --limit result is still marked (it recorded no official size)
    row = _compare(old / "plugins_spectral.spectral_model", old / "plugins_spectral.spectral_model_worse", "esc50", tmp_path)
    assert row["paired"] and row["verdict"] == "regressed"
    # a v1 result has no fingerprint: a new run in its folder is refused, not silently kept
    res = run_cli("run", "--model", SPECTRAL, "--tasks", "esc50", "--data", f"esc50={esc50}", "--output", old, "--workers", "0",
                  "--bootstrap", "50", "--limit", "30")
    assert_refused(res, None, "no fingerprint", "--overwrite")
