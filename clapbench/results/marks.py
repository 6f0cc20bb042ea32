"""The marks a result carries beside its score: how much of the official data it covers (``subset``) and
how many of its items the model was trained on (``contamination``).

Computed by the runner from the task file's official counts, the data the run read and the model's
``trained_on.json``; shown by every table that shows the score.
"""

from __future__ import annotations

from pathlib import Path

from clapbench.data.trained_on import TrainedOn
from clapbench.results.record import Contamination, ResultRecord, SubsetMark


def official_counts(spec) -> tuple[int | None, int | None, str]:
    """(items, classes, note) the task file declares for the official evaluation data."""
    items = getattr(spec, "official_items", None)
    if items is None:
        items = spec.dataset.get("expected_items")
    classes = getattr(spec, "official_classes", None)
    if classes is None:
        classes = spec.classes.get("count")
    note = getattr(spec, "official_note", None) or spec.dataset.get("expected_items_note") or ""
    return (int(items) if items is not None else None, int(classes) if classes is not None else None, str(note))


def subset_mark(spec, dataset, options, n_items: int, source_mark: SubsetMark | None = None) -> SubsetMark:
    """Whether a result covers fewer items or classes than the official evaluation data, and why.

    ``source_mark``: for a task built from a source task's clips (the temporal probes), the mark the
    source's data would get; the probe is a subset when its source data is, or when --limit cuts its pairs."""
    reasons: list[str] = []
    if spec.source is not None:
        if source_mark is not None and source_mark.is_subset:
            reasons.append(f"source {spec.source.name}: {source_mark.label}" + (f" ({'; '.join(source_mark.reasons)})" if source_mark.reasons else ""))
        if options.limit is not None:
            reasons.append(f"--limit {options.limit}")
        return SubsetMark(is_subset=bool(reasons), n_items=n_items, reasons=reasons)
    items, classes, note = official_counts(spec)
    n_classes = len(dataset.classes) if dataset.classes else None
    if options.limit is not None:
        reasons.append(f"--limit {options.limit}")
    if options.folds:
        reasons.append(f"folds {','.join(options.folds)} of {','.join(str(f) for f in spec.dataset.get('folds') or dataset.folds)}")
    info = dataset.info or {}
    if info.get("n_missing"):
        reasons.append(f"{info['n_missing']} of {info['n_listed']} listed clips missing")
    if items is not None and len(dataset.items) < items and not reasons:
        reasons.append(f"{len(dataset.items)} of the official {items} items")
    if classes is not None and n_classes is not None and n_classes < classes:
        reasons.append(f"{n_classes} of the official {classes} classes")
    return SubsetMark(is_subset=bool(reasons), n_items=len(dataset.items), official_items=items, n_classes=n_classes,
                      official_classes=classes, reasons=reasons, note=note)


def contamination_mark(trained_on: TrainedOn | None, groups: list[list[Path]]) -> Contamination | None:
    """How many of a result's items (each a group of audio files: a clip, or a temporal probe's pair)
    hold a file the model was trained on; None when nothing is known of the model's training data."""
    if trained_on is None:
        return None
    hit = sum(any(trained_on.overlap([str(p)]) for p in group) for group in groups)
    return Contamination(n_overlap=hit, n_items=len(groups), source=str(trained_on.file), trained_on=list(trained_on.sources))


def record_marks(record: ResultRecord) -> str:
    """The marks a table prints beside a result's score: 'subset 400/2000 folds 5', 'contaminated 4/5'."""
    marks = list(record.marks)
    if record.subset is not None and record.subset.is_subset and record.folds and any(r.startswith("folds ") for r in record.subset.reasons):
        marks[0] += f" folds {','.join(record.folds)}"
    return ", ".join(marks)
