"""The demo's tasks: ESC-50's and Clotho's task files under names of their own, sized to the demo's suite.

The suite is laid out like ESC-50 and Clotho so the real readers and evaluations run on it, but it is
not ESC-50 or Clotho: its results are called ``demo-sounds`` and ``demo-captions``, so no table can put
them beside published numbers on the real datasets, and their official sizes are the suite's own.
"""

from __future__ import annotations

import dataclasses

from clapbench.registry import TaskSpec

SOUNDS_TASK = "demo-sounds"  # ESC-50 layout: 5 folds, folds 1-4 for training, 5 held out
CAPTIONS_TASK = "demo-captions"  # Clotho layout: held-out clips with 5 captions each
_BASES = {SOUNDS_TASK: "esc50", CAPTIONS_TASK: "clotho"}


def demo_task(base: TaskSpec, name: str, items: int, classes: int | None) -> TaskSpec:
    dataset = {**base.dataset, "expected_items": items}
    dataset.pop("expected_items_note", None)
    class_info = {**base.classes, **({"count": classes} if classes is not None else {})}
    if classes is None:
        class_info.pop("count", None)
    changes = dict(name=name, title=f"clapbench demo ({base.title} layout)", groups=["demo"], dataset=dataset, classes=class_info,
                   description=f"The clapbench demo's synthesized suite, read with the {base.name} task's layout, prompts and metrics.")
    fields = {f.name for f in dataclasses.fields(base)}
    changes.update({k: v for k, v in (("official_items", items), ("official_classes", classes), ("official_note", "")) if k in fields})
    return dataclasses.replace(base, **changes)


def demo_tasks(registry: dict[str, TaskSpec], suite) -> dict[str, TaskSpec]:
    counts = suite.counts
    return {
        SOUNDS_TASK: demo_task(registry[_BASES[SOUNDS_TASK]], SOUNDS_TASK, counts["train_clips"] + counts["eval_clips"], counts["classes"]),
        CAPTIONS_TASK: demo_task(registry[_BASES[CAPTIONS_TASK]], CAPTIONS_TASK, counts["retrieval_clips"], None),
    }
