"""Text-to-audio and audio-to-text retrieval over a dataset whose clips carry captions.

The task file states the metrics (``t2a/R@1``, ``a2t/mAP@10``, ...), the leaderboard's main metric,
and one main metric per direction (``direction_main_metrics``); optionally ``chunk_rows``, the
queries scored at once (default: as many as fit in 256 MiB). Captions go through the task's
single prompt template (``"{}"``: as written). Conventions and the tie rule are in
``retrieval_metrics``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from clapbench.data.dataset import Dataset
from clapbench.errors import DataError, ModelError, TaskError
from clapbench.evaluations import Outcome, PairedItems, TaskContext, evaluation
from clapbench.embedding import embed_texts
from clapbench.evaluations.retrieval_metrics import (
    ALL_KEYS,
    BOOTSTRAP_UNIT,
    DIRECTIONS,
    HIGHER_IS_BETTER,
    QueryRanks,
    chance_level,
    query_value,
    retrieval_metrics,
    retrieval_ranks,
    split_key,
)
from clapbench.registry import TaskSpec, template_sha

TIE_RULE = "pessimistic: an irrelevant item scoring exactly as high as a relevant one is ranked before it"


def check_retrieval_task(spec: TaskSpec) -> tuple[list[str], dict[str, str]]:
    """The metric keys to report and the main metric of each direction, or TaskError naming the task file."""
    where = spec.source_file or spec.name
    keys = list(spec.evaluation.get("metrics") or ALL_KEYS)
    unknown = [k for k in keys if k not in ALL_KEYS]
    if unknown:
        raise TaskError(f"{where}: unknown retrieval metric '{unknown[0]}'; expected DIRECTION/METRIC from {', '.join(ALL_KEYS)}")
    per_direction = dict(spec.evaluation.get("direction_main_metrics") or {})
    if sorted(per_direction) != sorted(DIRECTIONS):
        raise TaskError(f"{where}: evaluation.direction_main_metrics must give one metric for each of {', '.join(DIRECTIONS)}")
    for direction, key in [("main_metric", spec.main_metric), *per_direction.items()]:
        if key not in keys:
            raise TaskError(f"{where}: {direction} '{key}' is not among the task's metrics ({', '.join(keys)})")
        if split_key(key)[1] not in HIGHER_IS_BETTER:
            raise TaskError(f"{where}: {direction} '{key}' must be one where higher is better ({', '.join(HIGHER_IS_BETTER)}), as leaderboards average main scores")
        if direction in DIRECTIONS and split_key(key)[0] != direction:
            raise TaskError(f"{where}: direction_main_metrics.{direction} is '{key}', a metric of the other direction")
    if len(spec.templates) != 1:
        raise TaskError(f"{where}: a retrieval task takes exactly one prompt template for its captions (e.g. '{{}}'); got {len(spec.templates)}")
    return keys, per_direction


@evaluation("retrieval")
def evaluate_retrieval(ctx: TaskContext) -> Outcome:
    spec, dataset = ctx.spec, ctx.dataset
    keys, per_direction = check_retrieval_task(spec)
    empty = [item.path for item in dataset.items if not item.captions]
    if empty:
        raise DataError(f"{dataset.root / empty[0]}: clip has no caption; a retrieval task needs captions for every clip")
    info = dict(dataset.info)
    if info.get("n_missing"):
        ctx.console.print(
            f"[yellow]{spec.name}[/]: {info['n_missing']} of the {info['n_listed']} listed clips have no local audio; "
            "evaluating the clips found (the result records n_listed and n_missing)"
        )
    template = spec.templates[0]
    captions = [template.format(c) for item in dataset.items for c in item.captions]
    caption_clip = np.repeat(np.arange(len(dataset.items)), [len(item.captions) for item in dataset.items])

    audio = ctx.audio_embeddings()
    text = embed_texts(ctx.loaded, captions, cache=ctx.cache)
    if audio.shape[1] != text.shape[1]:
        raise ModelError(f"audio embeddings have {audio.shape[1]} dimensions and text embeddings {text.shape[1]}; retrieval needs one shared space")
    ranks = retrieval_ranks(audio, text, caption_clip, chunk_rows=spec.evaluation.get("chunk_rows"))
    metrics, ci95 = retrieval_metrics(ranks, keys, n_resamples=ctx.options.n_resamples, seed=ctx.options.seed, caption_clip=caption_clip)

    n_candidates = {"t2a": len(dataset.items), "a2t": len(captions)}
    chances = {}
    for key in keys:
        direction = split_key(key)[0]
        value = chance_level(key, n_candidates[direction], ranks[direction].n_relevant)
        if value is not None:
            chances[key] = value
    extra: dict[str, Any] = {
        "n_clips": len(dataset.items),
        "n_captions": len(captions),
        "captions_per_clip": {str(k): v for k, v in sorted(Counter(len(i.captions) for i in dataset.items).items())},
        "n_listed": info.get("n_listed", len(dataset.items)),
        "n_missing": info.get("n_missing", 0),
        "dataset_info": info,
        "n_classes": None,
        "classes": [],
        "chance": chances.get(spec.main_metric),
        "chance_levels": chances,
        "direction_main_metrics": {
            d: {"metric": k, "score": metrics[k], "ci95": ci95[k]} for d, k in per_direction.items()
        },
        "bootstrap": {
            "resamples": ctx.options.n_resamples,
            "seed": ctx.options.seed,
            "method": f"percentile; {BOOTSTRAP_UNIT}",
            "unit": "clip",
        },
        "protocol": {
            **ctx.loaded.preprocessing,
            "templates": spec.templates,
            "template_sha": template_sha(spec.templates),
            "similarity": "cosine of L2-normalised embeddings, rounded to multiples of 2^-25 and multiplied exactly in float64",
            "ties": TIE_RULE,
            "conventions": (
                "LAION-CLAP evaluate_clotho_audiocaps: t2a pools every caption as a query over all clips; "
                "a2t ranks all captions per clip, R@k and ranks use the best rank among its captions, "
                "mAP@10 = sum over its captions in the top 10 (sorted by rank) of i/rank_i, divided by its caption count; "
                "median rank = floor(median of 1-based ranks)"
            ),
        },
    }
    return Outcome(metrics, ci95, _predictions(dataset, captions, caption_clip, ranks), extra,
                   paired=_paired(spec.main_metric, dataset, ranks, caption_clip))


def _paired(main: str, dataset: Dataset, ranks: dict[str, QueryRanks], caption_clip: np.ndarray) -> PairedItems:
    """Per query the main metric's value, grouped by clip: `clapbench compare` resamples clips, as the intervals do."""
    direction = split_key(main)[0]
    group = caption_clip if direction == "t2a" else np.arange(len(dataset.items))
    return PairedItems(
        ids=[item.path for item in dataset.items], kind="grouped", metric=main,
        arrays={"values": query_value(main, ranks[direction]), "group": np.asarray(group, dtype=np.int64)},
    )


def _predictions(dataset: Dataset, captions: list[str], caption_clip: np.ndarray, ranks: dict[str, QueryRanks]) -> pd.DataFrame:
    paths = np.array([item.path for item in dataset.items], dtype=object)
    texts = np.array(captions, dtype=object)
    t2a, a2t = ranks["t2a"], ranks["a2t"]
    rows_t2a = pd.DataFrame(
        {
            "direction": "t2a",
            "query": texts,
            "clip": paths[caption_clip],
            "rank": t2a.best_rank,
            "top1": paths[t2a.top1],
            "top1_correct": t2a.top1 == caption_clip,
            "top1_score": t2a.top1_score.round(6),
            "ap10": t2a.ap10.round(6),
        }
    )
    rows_a2t = pd.DataFrame(
        {
            "direction": "a2t",
            "query": paths,
            "clip": paths,
            "rank": a2t.best_rank,
            "top1": texts[a2t.top1],
            "top1_correct": caption_clip[a2t.top1] == np.arange(len(paths)),
            "top1_score": a2t.top1_score.round(6),
            "ap10": a2t.ap10.round(6),
        }
    )
    return pd.concat([rows_t2a, rows_a2t], ignore_index=True)
