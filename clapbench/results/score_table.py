"""The table `clapbench run` prints at its end: one row per result, its marks beside its score."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from clapbench.results.marks import record_marks
from clapbench.results.record import ResultRecord


def score_table(records: list[ResultRecord], kept: set[str] = frozenset()) -> Table:
    table = Table(title="scores")
    for col in ("task", "metric", "score", "95% CI", "items", "chance", "marks", "seconds"):
        table.add_column(col, justify="left" if col in ("task", "metric", "marks") else "right")
    for r in records:
        lo, hi = r.interval
        name = r.task + (f"/{r.variant}" if r.variant else "")
        marks = [m for m in (record_marks(r), "kept" if r.name in kept else "") if m]
        table.add_row(escape(name), r.main_metric, f"{r.main_score:.4f}", f"[{lo:.4f}, {hi:.4f}]", str(r.n_items),
                      "-" if r.chance is None else f"{r.chance:.4f}", escape(", ".join(marks)), "-" if r.seconds is None else f"{r.seconds:.1f}")
    return table
