"""What every temporal probe shares: its pair list, its items' embeddings, scoring per pair, result fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clapbench.errors import TaskError
from clapbench.evaluations import PairedItems, TaskContext
from clapbench.embedding import embed_texts, l2_normalize, make_progress
from clapbench.evaluations.metrics import evaluate_metrics
from clapbench.temporal.items import ItemRules, embed_variants
from clapbench.temporal.pairs import Pair, pairs_frame, pairs_sha256, read_pairs, sample_pairs

DEFAULT_PAIRS = 500


@dataclass
class PairItems:
    pairs: list[Pair]
    frame: pd.DataFrame  # the pair list as saved
    sha256: str
    rules: ItemRules
    provenance: dict[str, Any]

    @property
    def a(self) -> np.ndarray:
        return np.array([p.label_a for p in self.pairs], dtype=int)

    @property
    def b(self) -> np.ndarray:
        return np.array([p.label_b for p in self.pairs], dtype=int)


def load_items(ctx: TaskContext) -> PairItems:
    """The pair list: read from --pairs, or sampled with --seed; --limit N keeps the first N pairs.

    Sampling draws pairs one after another, so a limited run's pairs are the first pairs of the full run.
    """
    spec, options, dataset = ctx.spec, ctx.options, ctx.dataset
    rules = ItemRules.from_task(spec.dataset, spec.source_file)
    wanted = spec.dataset.get("pairs", DEFAULT_PAIRS)
    if not isinstance(wanted, int) or isinstance(wanted, bool) or wanted < 1:
        raise TaskError(f"{spec.source_file}: dataset.pairs must be a positive number of pairs, got {wanted!r}")
    if options.limit is not None:
        wanted = min(wanted, options.limit)
    if options.pairs is not None:
        pairs = read_pairs(options.pairs, dataset)
        pairs = pairs[:wanted] if options.limit is not None else pairs
        how = {"from_file": str(options.pairs)}
    else:
        pairs = sample_pairs(dataset, wanted, options.seed)
        how = {"sampled": True, "seed": options.seed, "requested": wanted}
    frame = pairs_frame(dataset, pairs)
    sha = pairs_sha256(frame)
    provenance = {"source_task": spec.source.name if spec.source else None, "n_pairs": len(pairs), "sha256": sha, **how}
    return PairItems(pairs, frame, sha, rules, provenance)


def embed_items(ctx: TaskContext, items: PairItems, variants: list[str]) -> dict[str, np.ndarray]:
    """{variant: (n_pairs, D)} L2-normalised item embeddings."""
    with make_progress(ctx.console) as progress:
        emb = embed_variants(
            ctx.loaded, ctx.dataset, items.pairs, variants, items.rules, ctx.options.batch_size,
            cache_key=items.sha256, progress=progress, description=ctx.spec.name,
        )
    return {v: l2_normalize(e) for v, e in emb.items()}


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
