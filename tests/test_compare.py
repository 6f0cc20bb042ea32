"""clapbench compare: paired bootstrap verdicts and exit codes on real runs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import run_cli

from clapbench.audio.synth import make_esc50_layout
from clapbench.evaluations.metrics import SINGLE_LABEL


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_esc50_layout(tmp_path_factory.mktemp("cmp") / "esc50", clips_per_class=20, seconds=0.5, sample_rate=8000, seed=5)


def _run(model, data, out, *extra):
    res = run_cli("run", "--model", model, "--model-id", "m", "--tasks", "esc50", "--data", f"esc50={data}", "--output", out, "--workers", "0", *extra)
    assert res.exit_code == 0, res.output
    return json.loads((out / "m" / "esc50.json").read_text())


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    base = _run("plugins_spectral:spectral_model", data, root / "base")
    again = _run("plugins_spectral:spectral_model", data, root / "again")
    worse = _run("plugins_spectral:spectral_model_worse", data, root / "worse")
    return root, base, again, worse


def test_identical_rerun_is_unchanged(runs, tmp_path):
    root, base, again, _ = runs
    assert base["main_score"] == again["main_score"]
    res = run_cli("compare", root / "base", root / "again", "--json", tmp_path / "c.json")
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "c.json").read_text())
    (row,) = report["tasks"]
    assert row["verdict"] == "unchanged" and row["diff"] == 0 and row["paired"]
    assert report["summary"] == {"improved": 0, "unchanged": 1, "regressed": 0}


def test_worse_model_is_regressed_with_exit_1(runs, tmp_path):
    root, base, _, worse = runs
    assert base["main_score"] > 3 / 6  # the spectral plugin hears the classes (chance 1/6)
    res = run_cli("compare", root / "base", root / "worse", "--json", tmp_path / "c.json")
    assert res.exit_code == 1, res.output
    (row,) = json.loads((tmp_path / "c.json").read_text())["tasks"]
    assert row["verdict"] == "regressed"
    assert row["diff"] == pytest.approx(worse["main_score"] - base["main_score"])
    lo, hi = row["ci95"]
    assert lo <= row["diff"] <= hi < 0
    # the other way round it is an improvement, and that passes the gate
    res = run_cli("compare", root / "worse", root / "base", "--json", tmp_path / "d.json")
    assert res.exit_code == 0
    assert json.loads((tmp_path / "d.json").read_text())["tasks"][0]["verdict"] == "improved"


def test_paired_interval_matches_brute_force(runs, tmp_path):
    root, *_ = runs
    res = run_cli("compare", root / "base", root / "worse", "--bootstrap", "200", "--seed", "3", "--json", tmp_path / "c.json")
    assert res.exit_code == 1
    (row,) = json.loads((tmp_path / "c.json").read_text())["tasks"]
    a = np.load(root / "base" / "m" / "esc50.items.npz")
    b = np.load(root / "worse" / "m" / "esc50.items.npz")
    assert list(a["ids"]) == list(b["ids"])
    rng = np.random.default_rng(3)
    idx = rng.integers(0, len(a["ids"]), size=(200, len(a["ids"])))
    correct_a = (a["scores"].argmax(1) == a["y"])
    correct_b = (b["scores"].argmax(1) == b["y"])
    diffs = correct_b[idx].mean(1) - correct_a[idx].mean(1)
    assert row["ci95"] == pytest.approx(list(np.percentile(diffs, [2.5, 97.5])))
    assert SINGLE_LABEL["accuracy"](b["y"], b["scores"], np.arange(len(b["y"]))[None])[0] == pytest.approx(row["new"])


def test_max_drop_tolerates_small_drops(runs, tmp_path):
    root, base, _, worse = runs
    drop = base["main_score"] - worse["main_score"]
    res = run_cli("compare", root / "base", root / "worse", "--max-drop", str(drop + 0.01))
    assert res.exit_code == 0, res.output
    assert "unchanged" in res.output


def test_mismatched_items_exit_2(runs, data, tmp_path):
    root, *_ = runs
    smaller = _run("plugins_spectral:spectral_model", data, tmp_path / "small", "--limit", "50")
    assert smaller["n_items"] == 50
    res = run_cli("compare", root / "base", tmp_path / "small")
    assert res.exit_code == 2
    assert "different items" in res.output and "esc50" in res.output
    assert "Traceback" not in res.output


def test_task_version_mismatch_exit_2(runs, tmp_path):
    root, *_ = runs
    other = tmp_path / "v2"
    shutil.copytree(root / "again", other)
    result_file = other / "m" / "esc50.json"
    result = json.loads(result_file.read_text())
    result["task_version"] = "99"
    result_file.write_text(json.dumps(result))
    res = run_cli("compare", root / "base", other)
    assert res.exit_code == 2
    assert "task versions differ" in res.output and "99" in res.output


def test_leaderboard_csv_baseline(runs, tmp_path):
    root, base, _, worse = runs
    board = tmp_path / "board.csv"
    assert run_cli("leaderboard", root / "base", "-o", board).exit_code == 0
    res = run_cli("compare", board, root / "worse", "--json", tmp_path / "c.json")
    assert res.exit_code == 1, res.output
    (row,) = json.loads((tmp_path / "c.json").read_text())["tasks"]
    assert not row["paired"] and row["verdict"] == "regressed"
    assert row["baseline"] == pytest.approx(round(base["main_score"], 4))
