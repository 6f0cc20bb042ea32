"""`clapbench data check` on every task's official layout, as the per-task fixtures write it."""

from __future__ import annotations

import pytest
from conftest import run_cli
from layouts_music_speech import BUILDERS as MUSIC_SPEECH
from layouts_sound import BUILDERS as SOUND

from clapbench.data.check import check_task
from clapbench.registry import registry

ALL = {**SOUND, **MUSIC_SPEECH}


def test_every_classification_task_has_a_layout_fixture():
    classification = {n for n, s in registry().items() if s.eval_type == "zero-shot-classification"}
    assert classification - set(ALL) == {"esc50"}  # esc50's fixture is conftest's esc50_dir


@pytest.mark.parametrize("task", sorted(ALL))
def test_data_check_finds_each_layout(task, tmp_path):
    layout = ALL[task](tmp_path / task)
    row = check_task(registry()[task], {task: str(layout.data)}, None)
    assert row.status == "found", row.problem
    assert row.clips == len(layout.labels)
    assert row.classes == len(layout.classes)
    res = run_cli("data", "check", "--data", f"{task}={layout.data}")
    assert res.exit_code == 0, res.output
    assert "1 of 1 task(s) usable" in res.output


@pytest.mark.parametrize("task", sorted(ALL))
def test_data_check_reports_a_missing_listed_file(task, tmp_path):
    layout = ALL[task](tmp_path / task)
    spec = registry()[task]
    if spec.dataset.get("missing") == "skip":
        pytest.skip(f"{task}: YouTube-sourced copies are incomplete by nature; missing clips are counted, not fatal")
    victim = layout.root / sorted(layout.labels)[0]
    victim.unlink()
    row = check_task(spec, {task: str(layout.data)}, None)
    if row.status == "found":  # layouts whose clip list is the folder listing: one clip fewer, still usable
        assert row.clips == len(layout.labels) - 1
        return
    assert row.status == "malformed"
    assert victim.name in row.problem
    res = run_cli("data", "check", "--data", f"{task}={layout.data}")
    assert res.exit_code == 1 and "malformed" in res.output
