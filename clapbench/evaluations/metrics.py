"""Classification metrics, each computed over many index resamples at once for bootstrap intervals.

A metric is ``fn(y, scores, idx) -> values``: ``idx`` is a (B, n) matrix of item indices, and the
metric returns B values, one per row. The point estimate is the metric on the identity row, so the
estimate and its interval come from one implementation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
SINGLE_LABEL: dict[str, Metric] = {}


def _metric(name: str, table: dict[str, Metric]):
    def register(fn: Metric) -> Metric:
        table[name] = fn
        return fn

    return register


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
    block = max(1, min(n_resamples, 20_000_000 // max(n, 1)))  # bound the (B, n) index matrix
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
