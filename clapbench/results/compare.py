"""Compare two result sets task by task: paired bootstrap over the same items, a p-value, a verdict.

A CI gate fails a change that makes a model worse: a task is "regressed" when its main score dropped
by more than ``max_drop`` and the drop is significant (one-sided bootstrap p < alpha).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clapbench.errors import ClapbenchError
from clapbench.paths import slug
from clapbench.evaluations.metrics import MULTI_LABEL, SINGLE_LABEL, multi_label_metrics, threshold_decisions
from clapbench.results.marks import record_marks
from clapbench.results.record import ModelRef, ResultRecord, read_records
from clapbench.files import read_npz


@dataclass
class Side:
    """One side of a comparison: result records by task, and where per-item files live."""

    label: str
    results: dict[str, ResultRecord]
    folder: Path | None  # None for a leaderboard CSV (scores only)


@dataclass
class TaskComparison:
    task: str
    metric: str
    baseline: float
    new: float
    diff: float
    ci95: list[float] | None
    p_value: float | None  # two-sided, H0: no difference
    p_regression: float | None  # one-sided, H0: drop no larger than max_drop
    verdict: str  # improved / unchanged / regressed
    paired: bool
    n_items: int | None
    marks: str = ""  # the two results' subset and contamination marks ("new: subset 88/2000")


def load_side(path: str | Path, model_id: str | None = None) -> Side:
    """A model's result folder, a results folder with one model (or ``model_id``), or a leaderboard CSV."""
    path = Path(path)
    if path.is_file() and path.suffix == ".csv":
        return _side_from_leaderboard(path, model_id)
    if not path.is_dir():
        raise ClapbenchError(f"{path}: not found; expected a results folder or a leaderboard CSV")
    folder = path
    if not _result_files(folder):
        models = sorted(p for p in folder.iterdir() if p.is_dir() and _result_files(p))
        if model_id:  # as typed (laion/clap) or as its folder is named (laion-clap)
            models = [p for p in models if p.name in (model_id, slug(model_id))]
        if len(models) != 1:
            names = ", ".join(p.name for p in models) or "none"
            raise ClapbenchError(f"{path}: expected result files of one model; found models: {names} (pass --model-id or the model's folder)")
        folder = models[0]
    # esc50 (zero-shot) and esc50.linear-probe are compared separately
    results = {r.name: r for r in _result_files(folder)}
    return Side(label=str(path), results=results, folder=folder)


def _result_files(folder: Path) -> list[ResultRecord]:
    return read_records(sorted(folder.glob("*.json")))


def _side_from_leaderboard(path: Path, model_id: str | None) -> Side:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "model" not in table.columns:
        raise ClapbenchError(f"{path}: missing column model; expected a clapbench leaderboard CSV")
    if model_id:
        table = table[table["model"] == model_id]
    if len(table) != 1:
        raise ClapbenchError(f"{path}: expected one model row (pass --model-id); found {len(table)}")
    row = table.iloc[0]
    results = {}
    for col, value in row.items():
        task = col.split("/")[-1]
        if col in ("model", "mean", "complete") or task == "mean" or value in ("", "missing"):
            continue
        try:
            results[task] = ResultRecord(task=task, main_score=float(value), main_metric="", model=ModelRef(id=str(row["model"])))
        except ValueError:
            continue
    return Side(label=str(path), results=results, folder=None)


def _load_items(side: Side, task: str) -> dict[str, np.ndarray]:
    result = side.results[task]
    name = result.items_file
    path = side.folder / name if (side.folder and name) else None
    if path is None or not path.is_file():
        raise ClapbenchError(f"{result.file or side.label}: no per-item file for task {task}; rerun it with this clapbench version to compare with significance")
    return read_npz(path)


def metric_on_resamples(items: dict[str, np.ndarray], idx: np.ndarray) -> np.ndarray:
    """The main metric on each row of resampled indices (from ``resample_indices``), from a per-item file."""
    kind = str(items["kind"])
    if kind == "mean":
        return items["values"].astype(np.float64)[idx].mean(axis=1)
    if kind == "grouped":
        # idx draws groups (clips); each query weighs as often as its group was drawn
        n_groups = len(items["ids"])
        counts = np.zeros((len(idx), n_groups))
        np.add.at(counts, (np.repeat(np.arange(len(idx)), idx.shape[1]), idx.ravel()), 1.0)
        w = counts[:, items["group"].astype(np.int64)]
        return (w @ items["values"].astype(np.float64)) / w.sum(axis=1)
    if kind == "classification":
        table = SINGLE_LABEL
        if bool(items["multilabel"]):
            threshold = float(items["f1_threshold"]) if "f1_threshold" in items else float("nan")
            table = MULTI_LABEL if np.isnan(threshold) else multi_label_metrics(threshold_decisions(threshold))
        metric = table[str(items["metric"])]
        if "stratum" not in items:
            return metric(items["y"], items["scores"], idx)
        # the linear probe: the mean over test folds of each fold's metric; idx holds each fold's draws in turn
        per_stratum = [metric(items["y"], items["scores"], idx[:, cols]) for cols in _stratum_columns(items)]
        return np.mean(per_stratum, axis=0)
    raise ClapbenchError(f"per-item file of kind '{kind}' is not understood by this clapbench version")


def _stratum_columns(items: dict[str, np.ndarray]) -> list[slice]:
    sizes = np.bincount(np.unique(items["stratum"], return_inverse=True)[1])
    edges = np.concatenate([[0], np.cumsum(sizes)])
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def identity_indices(items: dict[str, np.ndarray]) -> np.ndarray:
    """(1, n) indices of the full set, in the column order ``metric_on_resamples`` expects."""
    if "stratum" in items:
        return np.argsort(items["stratum"], kind="stable")[None, :]
    return np.arange(len(items["ids"]))[None, :]


def resample_indices(items: dict[str, np.ndarray], n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(B, n) resampled indices: items (or groups) with replacement, within each stratum when there are strata."""
    if n_resamples <= 0:
        return identity_indices(items)
    if "stratum" not in items:
        n = len(items["ids"])
        return rng.integers(0, n, size=(n_resamples, n))
    members = [np.flatnonzero(items["stratum"] == s) for s in np.unique(items["stratum"])]
    return np.concatenate([m[rng.integers(0, len(m), size=(n_resamples, len(m)))] for m in members], axis=1)


def compare_task(
    task: str, base: Side, new: Side, n_resamples: int, seed: int, max_drop: float, alpha: float
) -> TaskComparison:
    rb, rn = base.results[task], new.results[task]
    if rb.task_version is not None and rn.task_version is not None and rb.task_version != rn.task_version:
        raise ClapbenchError(f"task {task}: task versions differ (baseline {rb.task_version}, new {rn.task_version}); scores are not comparable")
    if rb.main_metric and rb.main_metric != rn.main_metric:
        raise ClapbenchError(f"task {task}: main metrics differ (baseline {rb.main_metric}, new {rn.main_metric})")
    metric = rn.main_metric
    marks = "; ".join(f"{side}: {m}" for side, m in (("baseline", record_marks(rb)), ("new", record_marks(rn))) if m)
    items_new = _load_items(new, task)
    rng = np.random.default_rng(seed)
    n = len(items_new["ids"])
    if base.folder is not None:
        items_base = _load_items(base, task)
        if not np.array_equal(items_base["ids"], items_new["ids"]):
            items_base = _align(items_base, items_new["ids"])
        if items_base is None:
            items_base = _load_items(base, task)
            only_b = sorted(set(items_base["ids"].tolist()) - set(items_new["ids"].tolist()))
            only_n = sorted(set(items_new["ids"].tolist()) - set(items_base["ids"].tolist()))
            what = f"{len(only_b)} only in the baseline (e.g. {only_b[:1]}), {len(only_n)} only in the new results (e.g. {only_n[:1]})" if (only_b or only_n) else "repeated item ids"
            raise ClapbenchError(f"task {task}: the two runs scored different items: {what}")
        if str(items_base["kind"]) != str(items_new["kind"]) or ("stratum" in items_base) != ("stratum" in items_new) or (
                "stratum" in items_new and not np.array_equal(items_base["stratum"], items_new["stratum"])):
            raise ClapbenchError(f"task {task}: the two per-item files were not made by the same evaluation (kind or test folds differ)")
        idx = resample_indices(items_new, n_resamples, rng)
        base_score = float(metric_on_resamples(items_base, identity_indices(items_base))[0])
        diffs = metric_on_resamples(items_new, idx) - metric_on_resamples(items_base, idx)
        paired = True
    else:
        # A leaderboard CSV has no items: the baseline is a fixed number; resample the new run only.
        base_score = float(rb.main_score)
        idx = resample_indices(items_new, n_resamples, rng)
        diffs = metric_on_resamples(items_new, idx) - base_score
        paired = False
    new_score = float(metric_on_resamples(items_new, identity_indices(items_new))[0])
    diff = new_score - base_score
    b = len(diffs)
    p_two = float(min(1.0, 2 * min((1 + np.sum(diffs <= 0)) / (b + 1), (1 + np.sum(diffs >= 0)) / (b + 1))))
    p_reg = float((1 + np.sum(diffs >= -max_drop)) / (b + 1))
    p_imp = float((1 + np.sum(diffs <= 0)) / (b + 1))
    if diff < -max_drop and p_reg < alpha:
        verdict = "regressed"
    elif diff > 0 and p_imp < alpha:
        verdict = "improved"
    else:
        verdict = "unchanged"
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return TaskComparison(task, metric, base_score, new_score, diff, [float(lo), float(hi)], p_two, p_reg, verdict, paired, n, marks)


def _align(items: dict[str, np.ndarray], ids: np.ndarray) -> dict[str, np.ndarray] | None:
    """Reorder a per-item file to ``ids``; None when the item sets differ."""
    position = {k: i for i, k in enumerate(items["ids"].tolist())}
    if len(position) != len(items["ids"]) or len(ids) != len(position) or any(k not in position for k in ids.tolist()):
        return None
    order = np.array([position[k] for k in ids.tolist()])
    n = len(order)
    if str(items["kind"]) == "grouped":  # queries keep their order; their group index follows the clips' new order
        new_index = np.empty(n, dtype=np.int64)
        new_index[order] = np.arange(n)
        return {**items, "ids": items["ids"][order], "group": new_index[items["group"].astype(np.int64)]}
    return {k: (v[order] if v.ndim >= 1 and v.shape[0] == n else v) for k, v in items.items()}


def compare(
    base: Side, new: Side, tasks: list[str] | None = None, n_resamples: int = 1000, seed: int = 0, max_drop: float = 0.01, alpha: float = 0.05
) -> list[TaskComparison]:
    common = sorted(set(base.results) & set(new.results))
    if tasks:
        missing = [t for t in tasks if t not in common]
        if missing:
            raise ClapbenchError(f"task {missing[0]}: not in both result sets (baseline {base.label}, new {new.label})")
        common = [t for t in common if t in tasks]
    if not common:
        raise ClapbenchError(f"no task in common between {base.label} and {new.label}")
    return [compare_task(t, base, new, n_resamples, seed, max_drop, alpha) for t in common]


def to_json(rows: list[TaskComparison], settings: dict[str, Any]) -> str:
    counts = {v: sum(r.verdict == v for r in rows) for v in ("improved", "unchanged", "regressed")}
    return json.dumps({"settings": settings, "summary": counts, "tasks": [asdict(r) for r in rows]}, indent=2) + "\n"
