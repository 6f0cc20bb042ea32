"""Numbers that papers and third-party runs report, from ``results/published.csv``.

The file has a row per (model, task, metric) as its source states it: columns model, family, task,
metric, value (a fraction, like clapbench's scores), kind (``reported`` by the model's authors or a
third-party ``reproduction``), source, note and contamination (what the literature says about the
model having been trained or selected on the task's test data, with its source; empty when nothing is
known). They are shown beside measured scores, never mixed
into measured means: the protocols behind them (clip sets, templates, checkpoints) differ.

- ``load_published()`` reads the rows exactly as stated.
- ``on_main_metric(rows, main_metrics)`` keeps the rows that report their task's main metric, as the
  leaderboard's columns are main metrics; ``metric_match`` says when a stated metric counts as it.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from pathlib import Path

from clapbench.errors import ClapbenchError

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# A wheel carries the file inside the package; a source checkout has it in the top-level results/.
PUBLISHED_FILES = [PACKAGE_DIR / "_data" / "published.csv", PACKAGE_DIR.parent / "results" / "published.csv"]
COLUMNS = ("model", "family", "task", "metric", "value", "kind", "source", "note", "contamination")
OPTIONAL_COLUMNS = ("contamination",)  # files written before the column was added still load
KINDS = ("reported", "reproduction")

# Stated metric -> main metrics it is taken to be. Papers say "F1" without the averaging (MS-CLAP's
# DCASE17 number); it is shown against the task's F1 main metric with a note saying so.
LOOSE_MATCHES = {"f1": ("f1_micro", "f1_macro")}


@dataclass(frozen=True)
class PublishedNumber:
    model: str  # as the source names it, e.g. "MS-CLAP 2023"
    family: str  # e.g. "msclap-2023", "laion-clap"
    task: str  # a registered task name
    metric: str  # as stated, e.g. "accuracy", "mAP", "f1", "t2a/R@1"
    value: float  # a fraction in [0, 1]
    kind: str  # "reported" or "reproduction"
    source: str
    note: str = ""
    contamination: str = ""  # e.g. "checkpoint selected by ESC-50 zero-shot score (LAION-AI/CLAP#75)"


def published_file() -> Path:
    for path in PUBLISHED_FILES:
        if path.is_file():
            return path
    raise ClapbenchError(f"published numbers not found; looked for {' and '.join(str(p) for p in PUBLISHED_FILES)}")


def load_published(path: Path | None = None) -> list[PublishedNumber]:
    """Every row of the published-numbers file (default: the one shipped with clapbench), as stated."""
    path = Path(path) if path is not None else published_file()
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or []) and c not in OPTIONAL_COLUMNS]
            if missing:
                raise ClapbenchError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
            rows = [_row(path, line, raw) for line, raw in enumerate(reader, start=2)]
    except OSError as exc:
        raise ClapbenchError(f"{path}: cannot read published numbers ({exc.strerror})") from None
    return rows


def _row(path: Path, line: int, raw: dict[str, str]) -> PublishedNumber:
    fields = {c: (raw.get(c) or "").strip() for c in COLUMNS}
    for c in ("model", "task", "metric"):
        if not fields[c]:
            raise ClapbenchError(f"{path}, line {line}: empty {c}")
    try:
        value = float(fields["value"])
    except ValueError:
        raise ClapbenchError(f"{path}, line {line}: value '{fields['value']}' is not a number; expected a fraction in [0, 1]") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ClapbenchError(f"{path}, line {line}: value {value} is outside [0, 1]; scores are fractions, not percent")
    if fields["kind"] not in KINDS:
        raise ClapbenchError(f"{path}, line {line}: kind '{fields['kind']}'; expected {' or '.join(KINDS)}")
    return PublishedNumber(**{**fields, "value": value})


def metric_match(stated: str, main_metric: str) -> str | None:
    """None when ``stated`` is not ``main_metric``; "" when it is; a note when it is taken to be it."""
    if stated == main_metric:
        return ""
    if main_metric in LOOSE_MATCHES.get(stated.lower(), ()):
        return f"stated as '{stated}' without its averaging; shown as {main_metric}"
    return None


def on_main_metric(rows: list[PublishedNumber], main_metrics: dict[str, str]) -> list[PublishedNumber]:
    """The rows that report their task's main metric (``main_metrics``: task -> main metric).

    Rows of other tasks or metrics are left out. A kept row carries the main metric's name, and a
    loose match (see ``metric_match``) adds to its note.
    """
    out = []
    for row in rows:
        if row.task not in main_metrics:
            continue
        how = metric_match(row.metric, main_metrics[row.task])
        if how is None:
            continue
        note = "; ".join(n for n in (row.note, how) if n)
        out.append(replace(row, metric=main_metrics[row.task], note=note))
    return out
