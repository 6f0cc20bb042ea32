"""Turn result files into a leaderboard: a row per model, a column per task, and honest means.

A model missing a task shows the cell as missing and its mean as incomplete: never an average
over fewer tasks presented as if it were complete.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

MISSING = "missing"


def build_leaderboard(results: list[dict[str, Any]], tasks: list[str] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """(table, task -> domain). Columns: model, one per task, mean, complete."""
    domains: dict[str, str] = {}
    scores: dict[str, dict[str, float]] = {}
    labels: dict[str, str] = {}
    for r in results:
        model = r["model"]["id"] if isinstance(r["model"], dict) else str(r["model"])
        labels[model] = labels.get(model) or _family_label(r["model"])
        scores.setdefault(model, {})[r["task"]] = float(r["main_score"])
        domains.setdefault(r["task"], r.get("domain", "other"))
    task_names = tasks or sorted(domains, key=lambda t: (domains[t], t))
    rows = []
    for model in sorted(scores):
        row: dict[str, Any] = {"model": model + labels[model]}
        have = [scores[model][t] for t in task_names if t in scores[model]]
        for t in task_names:
            row[t] = scores[model].get(t)
        row["mean"] = sum(have) / len(have) if have else None
        row["complete"] = len(have) == len(task_names)
        rows.append(row)
    table = pd.DataFrame(rows, columns=["model", *task_names, "mean", "complete"])
    if not table.empty:
        table = table.sort_values(["complete", "mean"], ascending=[False, False], na_position="last").reset_index(drop=True)
    return table, {t: domains.get(t, "other") for t in task_names}


def _family_label(model: Any) -> str:
    """' (msclap 2023)': the row names the checkpoint family and variant when the result records them."""
    if not isinstance(model, dict) or not model.get("family"):
        return ""
    return f" ({model['family']}{' ' + model['variant'] if model.get('variant') else ''})"


def to_csv_frame(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for col in out.columns:
        if col not in ("model", "complete"):
            out[col] = out[col].map(lambda v: MISSING if v is None or pd.isna(v) else round(float(v), 4))
    return out


def to_markdown(table: pd.DataFrame, domains: dict[str, str]) -> str:
    tasks = [c for c in table.columns if c not in ("model", "mean", "complete")]
    head = ["model", *[f"{t} ({domains.get(t, '')})" for t in tasks], "mean"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, row in table.iterrows():
        cells = [str(row["model"])]
        for t in tasks:
            v = row[t]
            cells.append("—" if v is None or pd.isna(v) else f"{100 * float(v):.2f}")
        mean = row["mean"]
        mean_text = "—" if mean is None or pd.isna(mean) else f"{100 * float(mean):.2f}"
        cells.append(mean_text if row["complete"] else f"{mean_text} (incomplete)")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Scores are each task's main metric, in percent. A mean marked incomplete covers only the tasks that model has; — marks a missing task.")
    return "\n".join(lines) + "\n"
