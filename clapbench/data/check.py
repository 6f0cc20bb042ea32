"""`clapbench data check`: can each task's data be read, and if not, what is the first problem?

Reads every asked task's metadata exactly as a run would (same locator, same readers, same
file-existence check) but decodes no audio, so it is quick and its verdict matches what
`clapbench run` would meet.
"""

from __future__ import annotations

from dataclasses import dataclass

from clapbench.data import read_location
from clapbench.data.locate import find_location, layout_hint
from clapbench.errors import ClapbenchError
from clapbench.registry import TaskSpec

FOUND, MISSING, MALFORMED = "found", "missing", "malformed"


@dataclass
class CheckRow:
    task: str
    status: str  # found, missing (no folder) or malformed (a folder the reader rejects)
    location: str | None = None
    format: str = "layout"
    clips: int | None = None
    classes: int | None = None
    problem: str | None = None  # the reader's message: the first thing wrong
    note: str | None = None  # usable, but not the full release (fewer clips or classes than expected)
    absent: bool = False  # no folder there, and none nearby holds the layout (summarised in one line)

    @property
    def usable(self) -> bool:
        return self.status == FOUND


def check_task(spec: TaskSpec, data: dict[str, str], data_root: str | None) -> CheckRow:
    if spec.source is not None:
        # a task built from a source task's clips (the temporal probes) is usable when its source is
        row = check_task(spec.source, data, data_root)
        row.task = spec.name
        row.note = f"built from {spec.source.name}'s clips" + (f"; {row.note}" if row.note else "")
        row.classes = None if not row.usable else row.classes
        return row
    try:
        location = find_location(spec.name, data, data_root, spec.dataset.get("shares_data_with"))
    except ClapbenchError as exc:
        return CheckRow(spec.name, MISSING, problem=str(exc))
    row = CheckRow(spec.name, MISSING, str(location.path), location.format)
    if not location.path.is_dir():
        hint = layout_hint(location, spec.dataset)
        row.problem, row.absent = f"{location.path}: folder not found (from {location.origin})" + hint, not hint
        return row
    try:
        dataset = read_location(location, spec.dataset, spec.classes.get("names"))
    except ClapbenchError as exc:
        row.status, row.problem = MALFORMED, str(exc)
        return row
    except Exception as exc:  # a reader bug, not the user's data; still report it, never crash the check
        row.status, row.problem = MALFORMED, f"reader error (a clapbench bug, please report): {type(exc).__name__}: {exc}"
        return row
    row.status, row.clips, row.classes = FOUND, len(dataset.items), len(dataset.classes)
    row.note = _partial_note(spec, row.clips, row.classes)
    return row


def check_tasks(specs: list[TaskSpec], data: dict[str, str], data_root: str | None) -> list[CheckRow]:
    return [check_task(spec, data, data_root) for spec in specs]


def _partial_note(spec: TaskSpec, clips: int, classes: int) -> str | None:
    notes = []
    expected_items = spec.dataset.get("expected_items")
    if expected_items and clips != int(expected_items):
        notes.append(f"{clips} of the release's {expected_items} clips")
    expected_classes = spec.classes.get("count")
    if expected_classes and classes != int(expected_classes):
        notes.append(f"{classes} classes, the task has {expected_classes}")
    return "; ".join(notes) or None
