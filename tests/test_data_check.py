"""`clapbench data check`: found / missing / malformed verdicts on the ESC-50 layout, messages and exit codes."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import run_cli

from clapbench.data.check import check_tasks
from clapbench.registry import registry


def _root_with(esc50_dir: Path, tmp_path: Path, inner: bool = True) -> Path:
    """A --data-root holding esc50/ (with the archive's own ESC-50-master/ folder inside when ``inner``)."""
    target = tmp_path / "root" / "esc50" / ("ESC-50-master" if inner else "")
    shutil.copytree(esc50_dir, target)
    return tmp_path / "root"


def _edit_meta(root: Path, edit) -> Path:
    meta = root / "esc50" / "ESC-50-master" / "meta" / "esc50.csv"
    rows = list(csv.reader(meta.open()))
    rows = edit(rows)
    with meta.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return meta


def _check(root: Path, tasks_dir: Path | None = None):
    reg = registry([str(tasks_dir)] if tasks_dir else None)
    [row] = check_tasks([reg["esc50"]], {}, str(root))
    return row


@pytest.mark.parametrize("inner", [True, False])
def test_found(esc50_dir, tmp_path, inner):
    root = _root_with(esc50_dir, tmp_path, inner)
    row = _check(root)
    assert (row.status, row.clips, row.classes, row.problem) == ("found", 30, 6, None)
    assert row.usable and row.location == str(root / "esc50")
    # A usable copy that is not the full release says so without failing.
    assert row.note == "30 of the release's 2000 clips; 6 classes, the task has 50"
    res = run_cli("data", "check", "--data-root", root, "--tasks", "esc50")
    assert res.exit_code == 0 and "found" in res.output and "1 of 1 task(s) usable" in res.output


def test_missing(tmp_path):
    (tmp_path / "root").mkdir()
    row = _check(tmp_path / "root")
    assert row.status == "missing" and row.clips is None
    assert row.problem == f"{tmp_path / 'root' / 'esc50'}: folder not found (from --data-root {tmp_path / 'root'})"
    res = run_cli("data", "check", "--data-root", tmp_path / "root", "--tasks", "esc50")
    assert res.exit_code == 1 and "missing" in res.output and "0 of 1 task(s) usable" in res.output


def test_no_location_is_missing_not_a_crash(esc50_dir, tmp_path):
    [row] = check_tasks([registry()["esc50"]], {}, None)
    assert row.status == "missing" and "pass --data esc50=PATH or --data-root DIR" in row.problem


def test_missing_column(esc50_dir, tmp_path):
    root = _root_with(esc50_dir, tmp_path)
    meta = _edit_meta(root, lambda rows: [[c for i, c in enumerate(r) if i != 3] for r in rows])  # drop category
    row = _check(root)
    assert row.status == "malformed" and row.clips is None
    assert row.problem == f"{meta}: missing column(s) category; found filename, fold, target, esc10, src_file, take"


def test_missing_audio_file(esc50_dir, tmp_path):
    root = _root_with(esc50_dir, tmp_path)
    audio = root / "esc50" / "ESC-50-master" / "audio"
    gone = sorted(audio.iterdir())[:2]
    for path in gone:
        path.unlink()
    row = _check(root)
    assert row.status == "malformed"
    assert row.problem == f"{gone[0]}: audio file listed in the metadata not found (and 1 more)"


def test_bad_class_index_and_empty_label(esc50_dir, tmp_path):
    root = _root_with(esc50_dir, tmp_path)

    def bad_target(rows):
        rows[4][2] = "four"
        return rows

    meta = _edit_meta(root, bad_target)
    assert _check(root).problem == f"{meta}: column target holds 'four'; expected integer class indices"

    def empty_label(rows):
        rows[4][2] = rows[5][2]
        rows[7][3] = ""
        return rows

    _edit_meta(root, empty_label)
    assert _check(root).problem == f"{meta}: line 8 has an empty label in column category; expected a class name"


def _task_copy(tmp_path: Path, edit) -> Path:
    """A user tasks folder holding a changed copy of esc50.yaml (it overrides the built-in one)."""
    raw = yaml.safe_load(Path(registry()["esc50"].source_file).read_text())
    edit(raw)
    folder = tmp_path / "tasks"
    folder.mkdir(exist_ok=True)
    (folder / "esc50.yaml").write_text(yaml.safe_dump(raw))
    return folder


def test_unknown_label(esc50_dir, tmp_path):
    from clapbench.audio.synth import DEMO_CLASSES

    tasks = _task_copy(tmp_path, lambda raw: raw["classes"].update(names=list(DEMO_CLASSES), count=6))
    root = _root_with(esc50_dir, tmp_path)

    def unicorn(rows):
        rows[3][3] = "unicorn"
        return rows

    meta = _edit_meta(root, unicorn)
    row = _check(root, tasks)
    assert row.status == "malformed"
    assert row.problem == f"{meta}: line 4 has unknown label 'unicorn' in column category; expected one of the task's 6 classes"
    res = run_cli("data", "check", "--data-root", root, "--tasks", "esc50", "--tasks-dir", tasks)
    assert res.exit_code == 1 and "malformed" in res.output and "Traceback" not in res.output


def test_a_reader_bug_is_reported_not_raised(esc50_dir, tmp_path, monkeypatch):
    from clapbench.data import readers

    readers.READERS.discover()

    def broken(root, spec, class_names):
        raise KeyError("some_field")

    monkeypatch.setitem(readers.READERS, "csv", broken)
    row = _check(_root_with(esc50_dir, tmp_path))
    assert row.status == "malformed" and row.problem.startswith("reader error (a clapbench bug, please report): KeyError")


def test_exit_codes_for_usage(esc50_dir, tmp_path):
    root = _root_with(esc50_dir, tmp_path)
    assert run_cli("data", "check", "--data-root", root, "--tasks", "no-such-task").exit_code == 2
    assert run_cli("data", "check").exit_code == 2  # neither --data-root nor --data
    assert run_cli("data", "check", "--data", "no-such-task=/x").exit_code == 2
    assert run_cli("data", "check", "--data", "esc50").exit_code == 2  # not NAME=PATH
    # --data alone checks the tasks it names.
    res = run_cli("data", "check", "--data", f"esc50={esc50_dir}")
    assert res.exit_code == 0 and "1 of 1 task(s) usable" in res.output


def test_mixed_verdicts_exit_1(esc50_dir, tmp_path):
    """Two tasks (esc50 and a renamed copy with no data): one found, one missing -> 1."""
    raw = yaml.safe_load(Path(registry()["esc50"].source_file).read_text())
    raw["name"] = "esc50-copy"
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "esc50-copy.yaml").write_text(yaml.safe_dump(raw))
    root = _root_with(esc50_dir, tmp_path)
    rows = check_tasks([registry([str(tasks)])[n] for n in ("esc50", "esc50-copy")], {}, str(root))
    assert [r.status for r in rows] == ["found", "missing"]
    res = run_cli("data", "check", "--data-root", root, "--tasks", "esc50,esc50-copy", "--tasks-dir", tasks)
    assert res.exit_code == 1 and "1 of 2 task(s) usable" in res.output


def test_tasks_lists_data_found_under_data_root(esc50_dir, tmp_path):
    root = _root_with(esc50_dir, tmp_path)
    res = run_cli("tasks", "--data-root", root)
    assert res.exit_code == 0
    esc50_line = next(line for line in res.output.splitlines() if line.startswith("esc50 "))
    assert "found" in esc50_line and "accuracy" in esc50_line and "0.020" in esc50_line
    # The quick look needs the layout's metadata, not just a folder.
    shutil.rmtree(root / "esc50" / "ESC-50-master" / "meta")
    res = run_cli("tasks", "--data-root", root)
    assert "missing" in next(line for line in res.output.splitlines() if line.startswith("esc50 "))


# ---- a folder one level off: the message names the folder that holds the layout ----------------------

@pytest.mark.parametrize("where", ["audio", "meta", "above", "data-root is the dataset"])
def test_a_folder_one_level_off_names_the_one_that_holds_the_layout(esc50_dir, tmp_path, where):
    top = tmp_path / "downloads" / "extracted"
    shutil.copytree(esc50_dir, top / "ESC-50-master")
    given = {"audio": top / "ESC-50-master" / "audio", "meta": top / "ESC-50-master" / "meta", "above": top.parent}.get(where)
    args = ["--data", f"esc50={given}"] if given else ["--data-root", top / "ESC-50-master", "--tasks", "esc50"]
    res = run_cli("data", "check", *args)
    assert res.exit_code == 1, res.output
    expected = top / "ESC-50-master" if where != "above" else top  # the archive's top folder, or the one it was extracted into
    flat = "".join(res.output.split())  # table cells fold long paths
    assert f"{expected}holdstheesc50layout(meta/esc50.csv):pass--dataesc50={expected}" in flat, res.output


def test_run_names_the_folder_that_holds_the_layout(tiny_model, esc50_dir, tmp_path):
    res = run_cli("run", "--model", tiny_model, "--tasks", "esc50", "--data", f"esc50={esc50_dir / 'audio'}", "--output", tmp_path / "out", "--workers", "0")
    assert res.exit_code == 2
    assert f"{esc50_dir} holds the esc50 layout (meta/esc50.csv): pass --data esc50={esc50_dir}" in " ".join(res.output.split())
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.json"))


def test_tasks_without_a_folder_under_the_root_are_one_line(esc50_dir, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(esc50_dir, root / "esc50")
    res = run_cli("data", "check", "--data-root", root, "--tasks", "esc50,us8k,gtzan-genres,crema-d")
    assert res.exit_code == 1
    lines = res.output.splitlines()
    assert any(line.startswith("esc50 ") and "found" in line for line in lines)
    (summary,) = [line for line in lines if line.startswith("missing:")]
    assert "3 task(s) have no folder under" in summary and "us8k, gtzan-genres, crema-d" in summary
    assert not any(line.startswith(("us8k ", "crema-d ")) for line in lines)
