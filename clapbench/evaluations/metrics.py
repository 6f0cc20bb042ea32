"""Classification metrics, each computed over many index resamples at once for bootstrap intervals.

A metric is ``fn(y, scores, idx) -> values``: ``idx`` is a (B, n) matrix of item indices, and the
metric returns B values, one per row. The point estimate is the metric on the identity row, so the
estimate and its interval come from one implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from clapbench.errors import TaskError
from clapbench.plugins import Registry

Metric = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
# Resamples are drawn in blocks of at most this many indices (16 MB of int64, and as much for what a metric
# gathers with them): memory stays flat in the number of items. numpy draws the same stream whatever the
# block split, so intervals do not depend on it.
BOOTSTRAP_BLOCK_ENTRIES = 2_000_000
SINGLE_LABEL: Registry[Metric] = Registry("single-label metric", error=TaskError)


def _metric(name: str, table: Registry[Metric]):
    return table.register(name)


@_metric("accuracy", SINGLE_LABEL)
def accuracy(y: np.ndarray, scores: np.ndarray, idx: np.ndarray) -> np.ndarray:
    correct = (scores.argmax(axis=1) == y).astype(np.float64)
    return correct[idx].mean(axis=1)


@_metric("top5_accuracy", SINGLE_LABEL)
def top5_accuracy(y: np.ndarray, scores: np.ndarray, idx: np.ndarray) -> np.ndarray:
    # top-k by sort position, as sklearn's top_k_accuracy_score does with distinct scores
    k = min(5, scores.shape[1])
    topk = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    hit = (topk == y[:, None]).any(axis=1).astype(np.float64)
    return hit[idx].mean(axis=1)


@_metric("balanced_accuracy", SINGLE_LABEL)
def balanced_accuracy(y: np.ndarray, scores: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mean recall over the classes present in each resample (sklearn's balanced_accuracy_score)."""
    n_classes = scores.shape[1]
    correct = (scores.argmax(axis=1) == y).astype(np.float64)
    rows = np.arange(idx.shape[0])[:, None] * n_classes
    flat = (rows + y[idx]).ravel()
    total = np.bincount(flat, minlength=idx.shape[0] * n_classes).reshape(-1, n_classes)
    hits = np.bincount(flat, weights=correct[idx].ravel(), minlength=idx.shape[0] * n_classes).reshape(-1, n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(total > 0, hits / np.maximum(total, 1), np.nan)
    return np.nanmean(recall, axis=1)


def evaluate_metrics(
    names: list[str],
    table: dict[str, Metric],
    y: np.ndarray,
    scores: np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Point estimates and percentile bootstrap intervals (resampling items with replacement)."""
    n = len(y)
    identity = np.arange(n)[None, :]
    values = {name: float(table[name](y, scores, identity)[0]) for name in names}
    intervals: dict[str, list[float]] = {}
    if n_resamples <= 0 or n == 0:
        return values, {name: [values[name], values[name]] for name in names}
    rng = np.random.default_rng(seed)
    draws = {name: [] for name in names}
    block = max(1, min(n_resamples, BOOTSTRAP_BLOCK_ENTRIES // max(n, 1)))  # bound the (B, n) index matrix
    done = 0
    while done < n_resamples:
        b = min(block, n_resamples - done)
        idx = rng.integers(0, n, size=(b, n))
        for name in names:
            draws[name].append(table[name](y, scores, idx))
        done += b
    tail = (1 - confidence) / 2 * 100
    for name in names:
        samples = np.concatenate(draws[name])
        lo, hi = np.nanpercentile(samples, [tail, 100 - tail])
        intervals[name] = [float(lo), float(hi)]
    return values, intervals


# ---- multi-label: y is an (n, C) 0/1 matrix, scores (n, C) -----------------------------------

MULTI_LABEL: Registry[Metric] = Registry("multi-label metric", error=TaskError)


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, n) multiplicity of each item in each resample row."""
    rows = np.arange(idx.shape[0])[:, None] * n
    return np.bincount((rows + idx).ravel(), minlength=idx.shape[0] * n).reshape(idx.shape[0], n).astype(np.float32)


def average_precision_weighted(y_c: np.ndarray, s_c: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Average precision of one class for each row of item multiplicities (B, n).

    Equal to sklearn's average_precision_score on the resampled items: tied scores share the
    precision at the end of their tie group.
    """
    order = np.argsort(-s_c, kind="stable")
    s_sorted, pos = s_c[order], y_c[order].astype(bool)
    if not pos.any():
        return np.full(counts.shape[0], np.nan)
    w = counts[:, order]
    tp = np.cumsum(w * pos, axis=1)
    total = np.cumsum(w, axis=1)
    # index of the last item of each item's tie group
    is_end = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    group = np.cumsum(is_end) - is_end
    end = np.flatnonzero(is_end)[group]
    at = end[pos]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp[:, at] / total[:, at]
        n_pos = (w[:, pos]).sum(axis=1)
        ap = (w[:, pos] * np.nan_to_num(precision)).sum(axis=1) / n_pos
    return np.where(n_pos > 0, ap, np.nan)


@_metric("mAP", MULTI_LABEL)
def mean_average_precision(y: np.ndarray, scores: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Macro mean of per-class AP over the classes with at least one positive (in each resample)."""
    counts = _counts(idx, len(y))
    per_class = np.stack([average_precision_weighted(y[:, c], scores[:, c], counts) for c in range(y.shape[1])], axis=1)
    with np.errstate(invalid="ignore"):
        return np.nanmean(per_class, axis=1)


def top1_decisions(scores: np.ndarray) -> np.ndarray:
    """The default F1 decision rule: each clip is predicted to hold its single highest-scoring class."""
    pred = np.zeros(scores.shape, dtype=np.float32)
    pred[np.arange(len(scores)), scores.argmax(axis=1)] = 1
    return pred


def threshold_decisions(threshold: float) -> Callable[[np.ndarray], np.ndarray]:
    """An F1 decision rule: each clip is predicted to hold every class scoring at least ``threshold``."""

    def decide(scores: np.ndarray) -> np.ndarray:
        return (scores >= threshold).astype(np.float32)

    return decide


Decisions = Callable[[np.ndarray], np.ndarray]


def _f1_counts(y: np.ndarray, scores: np.ndarray, idx: np.ndarray, decide: Decisions = top1_decisions):
    counts = _counts(idx, len(y))
    pred = decide(scores)
    yf = y.astype(np.float32)
    tp = counts @ (pred * yf)
    fp = counts @ (pred * (1 - yf))
    fn = counts @ ((1 - pred) * yf)
    return tp, fp, fn


@_metric("f1_micro", MULTI_LABEL)
def f1_micro(y: np.ndarray, scores: np.ndarray, idx: np.ndarray, decide: Decisions = top1_decisions) -> np.ndarray:
    tp, fp, fn = (a.sum(axis=1) for a in _f1_counts(y, scores, idx, decide))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)


@_metric("f1_macro", MULTI_LABEL)
def f1_macro(y: np.ndarray, scores: np.ndarray, idx: np.ndarray, decide: Decisions = top1_decisions) -> np.ndarray:
    """Mean F1 over all classes (sklearn's f1_score(average='macro'), zero_division=0)."""
    tp, fp, fn = _f1_counts(y, scores, idx, decide)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return f1.mean(axis=1)


def multi_label_metrics(decide: Decisions = top1_decisions) -> dict[str, Metric]:
    """The multi-label metrics with F1 taken under the decision rule ``decide``."""
    table = dict(MULTI_LABEL)
    table["f1_micro"] = partial(f1_micro, decide=decide)
    table["f1_macro"] = partial(f1_macro, decide=decide)
    return table
