"""`clapbench leaderboard`: a row per model, a column per task, honest means over complete rows only."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import copy_task, run_cli

REPO = Path(__file__).resolve().parent.parent
PLUGIN_ID = "clapbench_test_spectral.make"


@pytest.fixture(scope="module")
def results(tiny_model, spectral_plugin, esc50_dir, tmp_path_factory) -> Path:
    """Real results: the plugin on esc50 and esc50b (a copy of the task), the tiny CLAP on esc50 only."""
    base = tmp_path_factory.mktemp("leaderboard")
    tasks_dir = base / "tasks"
    copy_task(tasks_dir, "esc50", "esc50b")
    out = base / "results"
    common = ("--data", f"esc50={esc50_dir}", "--data", f"esc50b={esc50_dir}", "--output", out, "--workers", "0", "--tasks-dir", tasks_dir)
    for args in (("--model", spectral_plugin, "--tasks", "esc50"),
                 ("--model", spectral_plugin, "--tasks", "esc50b", "--folds", "1,2"),  # another score for the second task
                 ("--model", tiny_model, "--tasks", "esc50", "--limit", 6)):
        res = run_cli("run", *args, *common)
        assert res.exit_code == 0, res.output
    return out


def main_score(results: Path, model: str, task: str) -> float:
    return json.loads((results / model / f"{task}.json").read_text())["main_score"]


def test_leaderboard_tables(results, tmp_path):
    csv_out, md_out = tmp_path / "board.csv", tmp_path / "board.md"
    res = run_cli("leaderboard", results, "-o", csv_out, "--markdown", md_out)
    assert res.exit_code == 0, res.output

    table = pd.read_csv(csv_out, dtype=str)
    assert list(table.columns) == ["model", "family", "sound-events/esc50", "sound-events/esc50:marks", "sound-events/esc50b",
                                   "sound-events/esc50b:marks", "mean", "mean:marks", "complete"]
    table = table.rename(columns=lambda c: c.split("/")[-1]).fillna("")
    assert list(table.model) == [PLUGIN_ID, "tiny-clap"]  # complete rows first
    plugin, tiny = table.iloc[0], table.iloc[1]
    esc50, esc50b = main_score(results, PLUGIN_ID, "esc50"), main_score(results, PLUGIN_ID, "esc50b")
    assert esc50 != esc50b  # the second task was scored on two folds only
    assert float(plugin.esc50) == pytest.approx(esc50, abs=1e-4) and float(plugin.esc50b) == pytest.approx(esc50b, abs=1e-4)
    assert float(plugin["mean"]) == pytest.approx((esc50 + esc50b) / 2, abs=1e-4) and plugin.complete == "True"
    assert float(tiny.esc50) == pytest.approx(main_score(results, "tiny-clap", "esc50"), abs=1e-4)
    assert tiny.esc50b == "missing" and tiny.complete == "False"
    # the fixture is a toy copy of ESC-50 (30 clips, 6 classes): every score is marked a subset, and so is every mean over them
    n_folds12 = json.loads((results / PLUGIN_ID / "esc50b.json").read_text())["n_items"]
    assert plugin["esc50:marks"] == "subset 30/2000" and plugin["esc50b:marks"] == f"subset {n_folds12}/2000 folds 1,2"
    assert tiny["esc50:marks"] == "subset 6/2000" and tiny["esc50b:marks"] == ""
    assert plugin["mean:marks"] == "includes subset esc50, esc50b" and tiny["mean:marks"] == "includes subset esc50"

    markdown = md_out.read_text().splitlines()
    assert markdown[0].startswith("| model | family | sound-events / esc50 |") and "esc50b" in markdown[0] and markdown[0].rstrip().endswith("mean** |")
    plugin_line = next(line for line in markdown if line.startswith(f"| {PLUGIN_ID} "))
    tiny_line = next(line for line in markdown if line.startswith("| tiny-clap "))
    assert f"{100 * (esc50 + esc50b) / 2:.2f} (includes subset esc50, esc50b) |" in plugin_line and "incomplete" not in plugin_line
    assert f"{100 * esc50:.2f} (subset 30/2000) |" in plugin_line
    cells = [c.strip() for c in tiny_line.strip("|").split("|")]
    assert cells[2].endswith("(subset 6/2000)") and cells[3] == "missing" and cells[4].endswith("(incomplete; includes subset esc50)")

    screen = " ".join(res.output.split())
    assert "missing" in screen and "incomplete; includes subset esc50" in screen and "subset 6/2000" in screen


def test_leaderboard_of_chosen_tasks_is_complete(results, tmp_path):
    res = run_cli("leaderboard", results, "--tasks", "esc50", "-o", tmp_path / "b.csv")
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "b.csv", dtype=str)
    assert list(table.columns) == ["model", "family", "sound-events/esc50", "sound-events/esc50:marks", "mean", "mean:marks", "complete"]
    assert set(table.complete) == {"True"} and list(table["mean"]) == list(table["sound-events/esc50"])


def test_leaderboard_of_an_empty_folder_is_a_user_error(tmp_path):
    res = run_cli("leaderboard", tmp_path, "-o", tmp_path / "b.csv")
    assert res.exit_code == 2 and str(tmp_path) in " ".join(res.output.split()) and "no result files" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "b.csv").exists()


def test_several_folders_make_one_board_and_one_report(results, tmp_path):
    """leaderboard and report take several results folders; the same (model, task) in two is refused."""
    import shutil

    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(results / PLUGIN_ID, a / PLUGIN_ID)
    shutil.copytree(results / "tiny-clap", b / "tiny-clap")
    csv_out = tmp_path / "board.csv"
    res = run_cli("leaderboard", a, b, "-o", csv_out)
    assert res.exit_code == 0, res.output
    assert list(pd.read_csv(csv_out).model) == [PLUGIN_ID, "tiny-clap"]
    assert run_cli("leaderboard", results, "-o", tmp_path / "one.csv").exit_code == 0
    assert (tmp_path / "one.csv").read_text() == csv_out.read_text()  # the same board as from one folder

    res = run_cli("report", a, b)  # no -o: report.html in the first folder
    assert res.exit_code == 0, res.output
    html = (a / "report.html").read_text()
    assert PLUGIN_ID in html and "tiny-clap" in html

    shutil.copytree(results / "tiny-clap", a / "tiny-clap")
    res = run_cli("leaderboard", a, b)
    assert res.exit_code == 2
    assert "model tiny-clap on task esc50 is also in" in " ".join(res.output.split())


def test_marks_print_as_numbered_notes_and_folders_are_read_once(results):
    # The same folder twice, and one model's folder inside it: each result is read once, not refused as a duplicate.
    res = run_cli("leaderboard", results, results, results / "tiny-clap")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    rows = [line for line in lines if line.startswith((PLUGIN_ID, "tiny-clap "))]
    assert len(rows) == 2, res.output
    notes = {line[0]: line[2:] for line in lines if line[:1] in "¹²³⁴⁵⁶⁷⁸⁹" and line[1:2] == " "}
    # each distinct mark once below the table, its number beside every score it qualifies
    assert set(notes.values()) >= {"subset 30/2000", "subset 6/2000", "includes subset esc50, esc50b"}, res.output
    number = {text: sym for sym, text in notes.items()}
    assert f" {number['subset 30/2000']}" in next(r for r in rows if r.startswith(PLUGIN_ID))
    assert "(subset" not in " ".join(rows)  # the marks are not repeated inline
