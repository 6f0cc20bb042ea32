"""What every temporal probe shares: its pair list, its items' embeddings, scoring per pair, result fields."""

from __future__ import annotations

from typing import Any

import numpy as np

from clapbench.evaluations import PairedItems, TaskContext
from clapbench.embedding import embed_texts, l2_normalize, make_progress
from clapbench.evaluations.metrics import evaluate_metrics
from clapbench.temporal.items import recipe
from clapbench.temporal.run_items import MEMO, PairItems, pair_items, run_item_embeddings


def load_items(ctx: TaskContext) -> PairItems:
    """The task's pair list (run_items.pair_items)."""
    return pair_items(ctx.spec, ctx.options, ctx.dataset)


def embed_items(ctx: TaskContext, items: PairItems, variants: list[str]) -> dict[str, np.ndarray]:
    """{variant: (n_pairs, D)} L2-normalised item embeddings, picked from the run's distinct items (run_items)."""
    by_variant = {v: [recipe(ctx.dataset, p, v, items.rules) for p in items.pairs] for v in variants}
    with make_progress(ctx.console) as progress:
        shared = run_item_embeddings(ctx, [r for rs in by_variant.values() for r in rs], progress)
    return {v: l2_normalize(shared.embeddings[[shared.rows[r] for r in rs]]) for v, rs in by_variant.items()}


def items_record(ctx: TaskContext) -> dict | None:
    """How the run embedded the temporal items, for the result file (None before any was embedded)."""
    shared = ctx.run.memo.get(MEMO) if ctx.run is not None else None
    return shared.record() if shared is not None else None


def embed_captions(ctx: TaskContext, texts: list[str]) -> tuple[np.ndarray, dict[str, int]]:
    """L2-normalised embeddings of the distinct texts, and each text's row."""
    unique = list(dict.fromkeys(texts))
    return l2_normalize(embed_texts(ctx.loaded, unique, cache=ctx.cache)), {t: i for i, t in enumerate(unique)}


def margin(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per row: the lowest target score minus the highest other score. Correct iff > 0 (ties count as wrong).

    ``targets`` is (n,) or (n, k) of column indices.
    """
    targets = targets.reshape(len(scores), -1)
    rows = np.arange(len(scores))[:, None]
    is_target = np.zeros(scores.shape, dtype=bool)
    is_target[rows, targets] = True
    lowest_target = np.where(is_target, scores, np.inf).min(axis=1)
    best_other = np.where(is_target, -np.inf, scores).max(axis=1)
    return lowest_target - best_other


def score_pairs(ctx: TaskContext, per_pair: dict[str, np.ndarray]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Each metric is the mean over pairs of a per-pair value; 95% percentile bootstrap resampling pairs.

    A pair's items (e.g. "A then B" and "B then A") are resampled together, as they share their clips.
    """
    names = list(per_pair)
    values = np.stack([np.asarray(per_pair[n], dtype=np.float64) for n in names], axis=1)
    table = {n: (lambda y, s, idx, k=k: y[:, k][idx].mean(axis=1)) for k, n in enumerate(names)}
    return evaluate_metrics(names, table, values, values, n_resamples=ctx.options.n_resamples, seed=ctx.options.seed)


def pair_columns(ctx: TaskContext, items: PairItems) -> dict[str, list]:
    classes = ctx.dataset.classes
    return {
        "pair": list(range(len(items.pairs))),
        "path_a": [p.a.path for p in items.pairs],
        "class_a": [classes[p.label_a] for p in items.pairs],
        "path_b": [p.b.path for p in items.pairs],
        "class_b": [classes[p.label_b] for p in items.pairs],
    }


PAIRS_ARTIFACT = "pairs.csv"  # the runner saves the pair list as <task>.pairs.csv beside the result; --pairs reads it back


def paired_pairs(ctx: TaskContext, items: PairItems, per_pair: dict[str, np.ndarray]) -> PairedItems:
    """The per-pair values of the main metric, for `clapbench compare` (pairs are the resampled unit)."""
    main = ctx.spec.main_metric
    ids = [f"{p.a.path}|{p.b.path}" for p in items.pairs]
    return PairedItems(ids=ids, kind="mean", metric=main, arrays={"values": np.asarray(per_pair[main], dtype=np.float64)})


def result_fields(ctx: TaskContext, items: PairItems, chance: dict[str, float], chance_rule: str, prompts: dict[str, Any], items_per_pair: dict[str, str]) -> dict[str, Any]:
    """Fields for the result file: the exact chance, the item rules, the pairs and the prompts."""
    main = ctx.spec.main_metric
    return {
        "n_items": len(items.pairs),  # scored and resampled unit: the pair
        "chance": chance[main],
        "chance_by_metric": chance,
        "chance_rule": chance_rule,
        "temporal": {
            "pairs": {**items.provenance, "file": f"{ctx.spec.name}.{PAIRS_ARTIFACT}"},
            "items": items.rules.describe(ctx.loaded.sample_rate),
            "items_per_pair": items_per_pair,
            "prompts": prompts,
            "class_names_in_prompts": {c: ctx.spec.display_name(c) for c in ctx.dataset.classes},
            "bootstrap_unit": "pair: a pair's items are resampled together, as they share their clips",
            "decision": "strict: a target must score above every other candidate (ties count as wrong)",
            "similarity": "cosine",
        },
    }
