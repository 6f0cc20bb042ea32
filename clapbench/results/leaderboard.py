"""Turn result files into a leaderboard: a row per model, task columns grouped by domain, honest means.

Columns are ``<domain>/<task>`` (each task's main metric), then per domain ``<domain>/mean`` and
``<domain>/complete`` (left out when there is only one domain: they would repeat the overall
ones), then ``mean`` and ``complete``. A mean is the plain mean over tasks. A model missing a task
shows the cell as missing and every mean that should cover it as incomplete: never an average over
fewer tasks presented as if it were complete.

Each task column has a ``<domain>/<task>:marks`` companion (and each mean a ``:marks`` one) holding what
must be said beside the number: ``subset 88/2000 folds 5``, ``contaminated 1600/2000``; a mean over a
subset or contaminated result says so. CSV keeps the companions as columns; Markdown, the terminal and
the report print them beside the number.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from clapbench.results.marks import record_marks
from clapbench.results.record import ResultRecord

MISSING = "missing"
MARKS = ":marks"


def task_column(domain: str, task: str) -> str:
    return f"{domain}/{task}"


def build_leaderboard(
    results: list[ResultRecord],
    tasks: list[str] | None = None,
    known_domains: dict[str, str] | None = None,
    variant: str | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """(table, task -> domain). ``known_domains`` names the domain of asked tasks no result has.

    One board per kind of evaluation: ``variant`` None takes each task's own (zero-shot) results,
    "linear-probe" the probe results; a mean over a mix of the two would mean nothing.
    """
    results = [r for r in results if r.variant == variant]
    domains: dict[str, str] = dict(known_domains or {})
    scores: dict[str, dict[str, float]] = {}
    marks: dict[str, dict[str, str]] = {}
    labels: dict[str, str] = {}
    for r in results:
        model = r.model_id
        labels[model] = labels.get(model) or r.model.label
        scores.setdefault(model, {})[r.task] = float(r.main_score)
        marks.setdefault(model, {})[r.task] = record_marks(r)
        domains[r.task] = r.domain or domains.get(r.task, "other")
    task_names = list(dict.fromkeys(tasks)) if tasks else sorted({r.task for r in results})
    task_domain = {t: domains.get(t, "other") for t in task_names}
    groups: dict[str, list[str]] = {}
    for t in sorted(task_names, key=lambda t: (task_domain[t], t)):
        groups.setdefault(task_domain[t], []).append(t)
    per_domain = len(groups) > 1

    columns = ["model", "family"]
    for domain, members in groups.items():
        columns += [c for t in members for c in (task_column(domain, t), task_column(domain, t) + MARKS)]
        if per_domain:
            columns += [f"{domain}/mean", f"{domain}/mean{MARKS}", f"{domain}/complete"]
    columns += ["mean", f"mean{MARKS}", "complete"]

    rows = []
    for model in sorted(scores):
        have, said = scores[model], marks[model]
        row: dict[str, Any] = {"model": model, "family": labels[model]}
        for domain, members in groups.items():
            for t in members:
                row[task_column(domain, t)] = have.get(t)
                row[task_column(domain, t) + MARKS] = said.get(t, "")
            if per_domain:
                row[f"{domain}/mean"], row[f"{domain}/complete"] = _mean(have, members)
                row[f"{domain}/mean{MARKS}"] = _mean_marks(said, members)
        row["mean"], row["complete"] = _mean(have, task_names)
        row[f"mean{MARKS}"] = _mean_marks(said, task_names)
        rows.append(row)
    table = pd.DataFrame(rows, columns=columns)
    if not table.empty:
        table = table.sort_values(["complete", "mean"], ascending=[False, False], na_position="last").reset_index(drop=True)
    return table, task_domain


def _mean(have: dict[str, float], tasks: list[str]) -> tuple[float | None, bool]:
    present = [have[t] for t in tasks if t in have]
    return (sum(present) / len(present) if present else None), len(present) == len(tasks)


def _mean_marks(said: dict[str, str], tasks: list[str]) -> str:
    """What a mean covers that a reader must know: subset or contaminated results among its tasks."""
    out = []
    for word in ("subset", "contaminated"):
        which = [t for t in tasks if word in said.get(t, "")]
        if which:
            out.append(f"includes {word} {', '.join(which)}")
    return "; ".join(out)


def column_kind(column: str) -> tuple[str, str | None, str]:
    """(kind, domain, label) of a leaderboard column: kind is model, task, domain-mean, domain-complete, mean,
    complete, or marks (the companion of a task or mean column: its label is that column)."""
    if column.endswith(MARKS):
        return "marks", None, column[: -len(MARKS)]
    if column in ("model", "family", "source", "mean", "complete"):
        return column, None, column
    domain, _, name = column.rpartition("/")
    if name == "mean":
        return "domain-mean", domain, "mean"
    if name == "complete":
        return "domain-complete", domain, "complete"
    return "task", domain, name


def _is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, bool) and pd.isna(value))


def with_published(table: pd.DataFrame, reported: list) -> pd.DataFrame:
    """Append published numbers (clapbench.results.published rows already on each task's main metric)
    as rows of their own, one per (model, kind), marked in a ``source`` column.

    They carry no mean: a mean over the tasks a paper happens to report is not comparable with a
    measured one. Measured rows keep ``source`` = "measured".
    """
    out = table.copy()
    out.insert(2, "source", "measured")
    tasks = {column_kind(c)[2]: c for c in out.columns if column_kind(c)[0] == "task"}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for number in reported:
        if number.task not in tasks:
            continue
        row = rows.setdefault((number.model, number.kind), {"model": f"{number.model} ({number.kind})", "family": number.family, "source": number.kind})
        row[tasks[number.task]] = number.value
        if getattr(number, "contamination", "") and tasks[number.task] + MARKS in out.columns:
            row[tasks[number.task] + MARKS] = f"contaminated per {number.contamination}"
    extra = pd.DataFrame(list(rows.values()), columns=out.columns)
    return pd.concat([out, extra], ignore_index=True) if len(extra) else out


def is_measured(row: pd.Series) -> bool:
    return row.get("source", "measured") == "measured"


def to_csv_frame(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    measured = out.apply(is_measured, axis=1) if len(out) else pd.Series(dtype=bool)
    for col in out.columns:
        if column_kind(col)[0] in ("task", "domain-mean", "mean"):
            # a task a measured model lacks is "missing"; a paper that reports no number is just blank
            out[col] = [
                (MISSING if m else "") if _is_missing(v) else round(float(v), 4) for v, m in zip(out[col], measured)
            ]
            out[col] = out[col].astype(object)
        elif column_kind(col)[0] == "marks":
            out[col] = ["" if _is_missing(v) else str(v) for v in out[col]]
    return out


def cell_text(table: pd.DataFrame, row: pd.Series, column: str, style: str = "plain") -> str:
    """A task or mean cell as a table prints it: the score in percent, then its marks and whether the mean
    is incomplete; ``style`` "rich" colours the words for the terminal."""
    text, note = cell_parts(table, row, column, style)
    return text + (f" ({_style(note, 'yellow', style)})" if note else "")


def cell_parts(table: pd.DataFrame, row: pd.Series, column: str, style: str = "plain") -> tuple[str, str]:
    """(the cell's value as printed, its note: marks and whether a mean is incomplete; "" when none)."""
    kind, domain, _ = column_kind(column)
    v = row[column]
    if kind in ("model", "family", "source"):
        return ("" if _is_missing(v) else str(v)), ""
    mark = row.get(column + MARKS, "") if column + MARKS in table.columns else ""
    mark = "" if _is_missing(mark) else str(mark)
    if not is_measured(row):  # a published row: numbers as reported, no means
        text = "" if _is_missing(v) else f"{100 * float(v):.2f}"
        return text, (mark if text else "")
    if _is_missing(v):
        return (_style(MISSING, "red", style) if kind == "task" else "—"), ""
    text = f"{100 * float(v):.2f}"
    complete = row[f"{domain}/complete"] if kind == "domain-mean" else row["complete"] if kind == "mean" else True
    return text, "; ".join(([] if complete else ["incomplete"]) + ([mark] if mark else []))


def _style(text: str, colour: str, style: str) -> str:
    return f"[{colour}]{text}[/]" if style == "rich" else text


def to_markdown(table: pd.DataFrame, domains: dict[str, str]) -> str:
    """A Markdown table whose header groups task columns by domain (``domain / task``)."""
    shown = [c for c in table.columns if column_kind(c)[0] in ("model", "family", "source", "task", "domain-mean", "mean")]
    head = []
    for c in shown:
        kind, domain, label = column_kind(c)
        head.append(f"{domain} / **mean**" if kind == "domain-mean" else f"{domain} / {label}" if domain else f"**{label}**" if kind == "mean" else label)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(cell_text(table, row, c) for c in shown) + " |")
    lines.append("")
    lines.append(
        "Scores are each task's main metric, in percent; a mean is the plain mean over the tasks it covers. "
        "A mean marked incomplete covers only the tasks that model has. A score marked subset n/N covers n of the "
        "official N items (a --limit, --folds or partial copy of the data); contaminated n/N: the model was trained "
        "on n of its items. A mean that includes such results says so. Rows whose source is reported or "
        "reproduction are published numbers (results/published.csv), not measured here, and carry no mean."
    )
    return "\n".join(lines) + "\n"
