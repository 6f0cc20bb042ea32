"""Audio-text retrieval ranks and metrics when a clip has several captions.

Conventions (LAION-CLAP ``evaluate_clotho_audiocaps``, after Mei et al.'s audio-text_retrieval):

- text-to-audio (t2a): every caption is its own query over all clips; its one relevant item is
  its clip. mAP@10 is 1/rank when rank <= 10, else 0.
- audio-to-text (a2t): every clip is a query over all captions; its relevant items are its own
  captions. R@k, median and mean rank use the best rank among them; mAP@10 sorts the ranks of
  its captions, and sums i / rank_i over those ranked within the top 10 (i = 1, 2, ... the order
  among its captions), divided by the number of its captions. Any number of captions per clip.
  (LAION's code pairs i with the captions in file order, not rank order; sorting is the
  average-precision definition its docstring states, and what we compute.)
- Median rank is ``floor(median)`` of the 1-based ranks, as LAION computes it.

Ties count against the query (pessimistic): an irrelevant item scoring exactly as high as a
relevant one is ranked before it. So the i-th best relevant item has rank
``i + (number of irrelevant items scoring at least as high)``.

Similarities are cosines computed exactly: both sides are L2-normalised and rounded to integer
multiples of 2**-25, and multiplied in float64. Every product and partial sum is then an integer
below 2**53 (Cauchy-Schwarz bounds the sum of |products| by 2**50), so each similarity is exact
whatever the BLAS kernel, chunk shape or thread count: chunked ranks equal the unchunked ones bit
for bit, and equal embeddings tie exactly. The rounding moves a cosine by at most about
sqrt(D) * 2**-26 (< 1e-6 for D <= 1024), the size of float32 matmul noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from clapbench.evaluations.metrics import BOOTSTRAP_BLOCK_ENTRIES, evaluate_metrics

DIRECTIONS = ("t2a", "a2t")
SCALE_BITS = 25
SCORE_UNIT = 2.0 ** (2 * SCALE_BITS)  # an integer similarity divided by this is the cosine
AP_DEPTH = 10
DEFAULT_CHUNK_BYTES = 256 * 2**20


def exact_operands(embeddings: np.ndarray) -> np.ndarray:
    """L2-normalised rows as float64 integers (units of 2**-25); products of two are exact."""
    x = np.asarray(embeddings, dtype=np.float64)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.rint(x / np.maximum(norm, 1e-30) * 2.0**SCALE_BITS)


def relevance_matrix(groups: Sequence[Sequence[int]]) -> np.ndarray:
    """(n_queries, max group size) candidate indices, padded with -1."""
    width = max((len(g) for g in groups), default=0)
    out = np.full((len(groups), max(width, 1)), -1, dtype=np.int64)
    for row, group in enumerate(groups):
        out[row, : len(group)] = sorted(group)
    return out


@dataclass
class QueryRanks:
    """Per query: its best relevant item's rank, its AP@10, and what it retrieved first."""

    best_rank: np.ndarray  # (n,) int64, 1-based
    ap10: np.ndarray  # (n,) float64
    top1: np.ndarray  # (n,) int64 candidate index ranked first (ties: irrelevant first, then lowest index)
    top1_score: np.ndarray  # (n,) float64 cosine of that candidate
    n_relevant: np.ndarray  # (n,) int64


def rank_queries(
    queries: np.ndarray,
    candidates: np.ndarray,
    relevant: np.ndarray,
    chunk_rows: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> QueryRanks:
    """Rank every candidate for every query, a chunk of query rows at a time.

    ``queries`` and ``candidates`` come from ``exact_operands``; ``relevant`` from
    ``relevance_matrix``. Memory per chunk is about 9 bytes per (query, candidate) pair:
    the float64 scores and one boolean comparison.
    """
    n_q, n_c = len(queries), len(candidates)
    if chunk_rows is None:
        chunk_rows = max(1, chunk_bytes // (9 * max(n_c, 1)))
    parts = [
        rank_scores(queries[start : start + chunk_rows] @ candidates.T, relevant[start : start + chunk_rows], SCORE_UNIT, overwrite=True)
        for start in range(0, n_q, chunk_rows)
    ]
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return QueryRanks(empty, empty.astype(np.float64), empty, empty.astype(np.float64), empty)
    return QueryRanks(*(np.concatenate([getattr(p, f) for p in parts]) for f in QueryRanks.__dataclass_fields__))


def rank_scores(scores: np.ndarray, relevant: np.ndarray, score_unit: float = 1.0, overwrite: bool = False) -> QueryRanks:
    """Ranks from a (queries, candidates) score matrix; ``relevant`` as from ``relevance_matrix``.

    ``overwrite`` lets it mask relevant entries in ``scores`` itself instead of in a copy.
    """
    scores = np.asarray(scores, dtype=np.float64) if overwrite else np.array(scores, dtype=np.float64)
    width = relevant.shape[1]
    valid = relevant >= 0
    n_rel = valid.sum(axis=1)
    if len(n_rel) and n_rel.min() == 0:
        raise ValueError(f"query {int(np.argmin(n_rel))} has no relevant item")
    order = np.arange(1, width + 1)
    rows = np.arange(len(scores))
    rel_scores = np.where(valid, scores[rows[:, None], np.maximum(relevant, 0)], -np.inf)
    sorted_scores = -np.sort(-rel_scores, axis=1)  # best first, padding last
    # For the i-th best relevant item: items of any kind, and relevant ones, scoring at least as high.
    at_least_all = np.stack([(scores >= sorted_scores[:, j : j + 1]).sum(axis=1) for j in range(width)], axis=1)
    at_least_rel = (sorted_scores[:, None, :] >= sorted_scores[:, :, None]).sum(axis=2)
    ranks = order + (at_least_all - at_least_rel)  # i + irrelevant items scoring at least as high
    filled = order[None, :] <= n_rel[:, None]
    gain = np.where(filled & (ranks <= AP_DEPTH), order / ranks, 0.0)
    ap10 = gain.sum(axis=1) / n_rel

    # Top-1 under the same tie rule: an irrelevant item tied with the best relevant one comes first.
    best_rel = relevant[rows, np.argmax(rel_scores, axis=1)]  # lowest-index relevant item among ties
    r_idx, k_idx = np.nonzero(valid)
    scores[r_idx, relevant[r_idx, k_idx]] = -np.inf
    best_wrong = np.argmax(scores, axis=1)
    wrong_score = scores[rows, best_wrong]
    wrong_first = wrong_score >= sorted_scores[:, 0]
    top1 = np.where(wrong_first, best_wrong, best_rel)
    top1_score = np.where(wrong_first, wrong_score, sorted_scores[:, 0]) / score_unit
    return QueryRanks(ranks[:, 0].astype(np.int64), ap10, top1.astype(np.int64), top1_score, n_rel.astype(np.int64))


def retrieval_ranks(
    audio: np.ndarray,
    text: np.ndarray,
    caption_clip: np.ndarray,
    chunk_rows: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> dict[str, QueryRanks]:
    """Both directions. ``caption_clip[j]`` is the index (row of ``audio``) of caption j's clip."""
    caption_clip = np.asarray(caption_clip, dtype=np.int64)
    n_clips = len(audio)
    if len(text) != len(caption_clip):
        raise ValueError(f"{len(text)} caption embeddings for {len(caption_clip)} captions")
    if len(caption_clip) and (caption_clip.min() < 0 or caption_clip.max() >= n_clips):
        raise ValueError("caption_clip holds an index outside the clips")
    a, t = exact_operands(audio), exact_operands(text)
    captions_of = np.split(np.argsort(caption_clip, kind="stable"), np.cumsum(np.bincount(caption_clip, minlength=n_clips))[:-1])
    return {
        "t2a": rank_queries(t, a, caption_clip[:, None], chunk_rows, chunk_bytes),
        "a2t": rank_queries(a, t, relevance_matrix(captions_of), chunk_rows, chunk_bytes),
    }


# ---- metrics over per-query values, weighted by how often each query is in a resample ----------
# ``w`` is (B, n): row b gives each query's multiplicity in resample b (ones: the full set once).
# Clips are the resampled unit in both directions (a clip comes with all its captions: they are not
# independent), so a t2a query's weight is its clip's multiplicity.

RetrievalMetric = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _weighted_mean(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (w @ values.astype(np.float64)) / w.sum(axis=1)


def _recall_at(k: int) -> RetrievalMetric:
    def recall(best_rank: np.ndarray, ap10: np.ndarray, w: np.ndarray) -> np.ndarray:
        return _weighted_mean((best_rank <= k).astype(np.float64), w)

    return recall


def _map10(best_rank: np.ndarray, ap10: np.ndarray, w: np.ndarray) -> np.ndarray:
    return _weighted_mean(ap10, w)


def _median_rank(best_rank: np.ndarray, ap10: np.ndarray, w: np.ndarray) -> np.ndarray:
    """floor(np.median) of the multiset in which query i appears w[b, i] times (integer weights)."""
    order = np.argsort(best_rank, kind="stable")
    ranks = best_rank[order].astype(np.float64)
    cw = np.cumsum(w[:, order], axis=1)
    total = cw[:, -1]
    # 1-based positions of the two middle elements (the same one when the total is odd)
    lower = np.floor((total - 1) / 2) + 1
    upper = np.floor(total / 2) + 1
    lo = np.array([ranks[np.searchsorted(row, k)] for row, k in zip(cw, lower)])
    hi = np.array([ranks[np.searchsorted(row, k)] for row, k in zip(cw, upper)])
    return np.floor((lo + hi) / 2)


def _mean_rank(best_rank: np.ndarray, ap10: np.ndarray, w: np.ndarray) -> np.ndarray:
    return _weighted_mean(best_rank.astype(np.float64), w)


METRICS: dict[str, RetrievalMetric] = {
    "R@1": _recall_at(1),
    "R@5": _recall_at(5),
    "R@10": _recall_at(10),
    "mAP@10": _map10,
    "median_rank": _median_rank,
    "mean_rank": _mean_rank,
}
HIGHER_IS_BETTER = ("R@1", "R@5", "R@10", "mAP@10")
ALL_KEYS = [f"{d}/{m}" for d in DIRECTIONS for m in METRICS]
BOOTSTRAP_UNIT = "clips: each resample draws clips with replacement, a clip with all its captions (t2a queries) and itself (a2t query)"


def split_key(key: str) -> tuple[str, str]:
    direction, _, metric = key.partition("/")
    if direction not in DIRECTIONS or metric not in METRICS:
        raise KeyError(key)
    return direction, metric


def query_value(key: str, ranks: QueryRanks) -> np.ndarray:
    """Per query, the value whose mean is the metric ``key`` (R@k: hit or not; mAP@10: its AP@10)."""
    metric = split_key(key)[1]
    if metric.startswith("R@"):
        return (ranks.best_rank <= int(metric[2:])).astype(np.float64)
    if metric == "mAP@10":
        return ranks.ap10.astype(np.float64)
    if metric == "mean_rank":
        return ranks.best_rank.astype(np.float64)
    raise KeyError(f"{key} is not a mean over queries")


def retrieval_metrics(
    ranks: dict[str, QueryRanks],
    keys: Sequence[str] = ALL_KEYS,
    n_resamples: int = 1000,
    seed: int = 0,
    caption_clip: np.ndarray | None = None,
    confidence: float = 0.95,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Metric values and percentile bootstrap 95% intervals, resampling clips with replacement.

    ``caption_clip[j]`` is caption j's clip (the t2a queries' groups); a2t queries are the clips
    themselves. Without ``caption_clip`` every t2a query is its own clip (one caption per clip)."""
    n_clips = len(ranks["a2t"].best_rank)
    groups = {
        "t2a": np.arange(len(ranks["t2a"].best_rank)) if caption_clip is None else np.asarray(caption_clip, dtype=np.int64),
        "a2t": np.arange(n_clips),
    }
    if caption_clip is None:
        n_clips = max(n_clips, len(groups["t2a"]))
    values: dict[str, float] = {}
    intervals: dict[str, list[float]] = {}
    chosen = [(k, *split_key(k)) for k in keys]
    for key, direction, name in chosen:
        r = ranks[direction]
        values[key] = float(METRICS[name](r.best_rank, r.ap10, np.ones((1, len(r.best_rank))))[0])
    if n_resamples <= 0 or n_clips == 0:
        return values, {k: [values[k], values[k]] for k in keys}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    n_queries = max(len(g) for g in groups.values())
    block = max(1, min(n_resamples, BOOTSTRAP_BLOCK_ENTRIES // max(n_queries, 1)))  # bound the (B, queries) weights
    done = 0
    while done < n_resamples:
        b = min(block, n_resamples - done)
        idx = rng.integers(0, n_clips, size=(b, n_clips))
        counts = np.zeros((b, n_clips))
        np.add.at(counts, (np.repeat(np.arange(b), n_clips), idx.ravel()), 1.0)
        for key, direction, name in chosen:
            r = ranks[direction]
            draws[key].append(METRICS[name](r.best_rank, r.ap10, counts[:, groups[direction]]))
        done += b
    tail = (1 - confidence) / 2 * 100
    for key in keys:
        lo, hi = np.nanpercentile(np.concatenate(draws[key]), [tail, 100 - tail])
        intervals[key] = [float(lo), float(hi)]
    return values, intervals


def chance_level(key: str, n_candidates: int, relevant_counts: np.ndarray) -> float | None:
    """Expected value of a metric when candidates are ranked uniformly at random (no ties).

    ``relevant_counts``: per query, how many of the ``n_candidates`` are relevant. None for the
    median rank, which has no closed form over queries.
    """
    _, metric = split_key(key)
    counts, weights = np.unique(np.asarray(relevant_counts, dtype=np.int64), return_counts=True)
    per_count = []
    for c in counts:
        if metric.startswith("R@"):
            k = min(int(metric[2:]), n_candidates)
            # P(no relevant item in the top k) = prod over the k slots of drawing an irrelevant one
            miss = np.prod([(n_candidates - c - t) / (n_candidates - t) for t in range(k)]) if c < n_candidates else 0.0
            per_count.append(1.0 - max(float(miss), 0.0))
        elif metric == "mAP@10":
            # Each relevant item sits at rank r with probability 1/C; given that, its expected
            # order among the relevant ones is 1 + (r - 1)(c - 1)/(C - 1).
            total = 0.0
            for r in range(1, min(AP_DEPTH, n_candidates) + 1):
                others_before = (r - 1) * (c - 1) / (n_candidates - 1) if n_candidates > 1 else 0.0
                total += (1 + others_before) / (r * n_candidates)
            per_count.append(total)
        elif metric == "mean_rank":
            per_count.append((n_candidates + 1) / (c + 1))  # expected minimum of c draws without replacement
        else:
            return None
    return float(np.average(per_count, weights=weights))
