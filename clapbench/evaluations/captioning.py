"""Audio captioning: the model writes one caption per clip, scored against all the clip's references.

The task file lists the metrics (of ``caption_metrics.ALL_METRICS``) and the main metric (SPIDEr, as DCASE
and MS-CLAP 2023 report) with ``fallback_main_metric`` (CIDEr-D): when SPICE cannot run here, SPIDEr is
absent rather than guessed, and the result says which metric is main and why. The per-item file holds each
clip's main-metric score (the paired comparison resamples them), its generated caption, references and CIDEr-D.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from clapbench.errors import DataError, TaskError
from clapbench.evaluations import Outcome, PairedItems, TaskContext, evaluation
from clapbench.evaluations.caption_metrics import ALL_METRICS, NEEDS_SPICE, score_captions
from clapbench.embedding import caption_clips, make_progress
from clapbench.registry import TaskSpec

SAMPLE_CLIPS = 8  # clips shown with their captions in the result (and the report)


def check_captioning_task(spec: TaskSpec) -> tuple[list[str], str | None]:
    where = spec.source_file or spec.name
    metrics = list(spec.evaluation.get("metrics") or ALL_METRICS)
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown:
        raise TaskError(f"{where}: unknown captioning metric '{unknown[0]}'; expected some of {', '.join(ALL_METRICS)}")
    fallback = spec.evaluation.get("fallback_main_metric")
    for key, value in (("main_metric", spec.main_metric), ("fallback_main_metric", fallback)):
        if value is not None and value not in metrics:
            raise TaskError(f"{where}: evaluation.{key} '{value}' is not among the task's metrics ({', '.join(metrics)})")
    if spec.main_metric in NEEDS_SPICE and (fallback is None or fallback in NEEDS_SPICE):
        raise TaskError(f"{where}: main metric {spec.main_metric} needs SPICE; give a fallback_main_metric that does not (e.g. CIDEr-D)")
    return metrics, fallback


@evaluation("captioning")
def evaluate_captioning(ctx: TaskContext) -> Outcome:
    spec, dataset = ctx.spec, ctx.dataset
    metrics_wanted, fallback = check_captioning_task(spec)
    empty = [item.path for item in dataset.items if not item.captions]
    if empty:
        raise DataError(f"{dataset.root / empty[0]}: clip has no reference caption; a captioning task needs references for every clip")
    paths = [dataset.absolute(i) for i in dataset.items]
    with make_progress(ctx.console) as progress:
        generated = caption_clips(ctx.loaded, paths, ctx.options.batch_size, ctx.options.workers, progress, description=spec.name)
    references = [list(item.captions) for item in dataset.items]
    scores = score_captions(references, generated, n_resamples=ctx.options.n_resamples, seed=ctx.options.seed)

    main, main_reason = spec.main_metric, None
    if main in scores.unavailable:
        main, main_reason = fallback, f"{spec.main_metric} unavailable ({scores.unavailable[spec.main_metric]}); main score is {fallback}"
        ctx.console.print(f"[yellow]{spec.name}[/]: {main_reason}")
    metrics = {m: scores.metrics[m] for m in metrics_wanted if m in scores.metrics}
    ci95 = {m: scores.ci95[m] for m in metrics}
    info = dict(dataset.info)
    ids = [item.path for item in dataset.items]
    per_clip = scores.per_clip
    rng = np.random.default_rng(ctx.options.seed)
    sample = sorted(rng.permutation(len(ids))[:SAMPLE_CLIPS].tolist())
    extra: dict[str, Any] = {
        "main_metric": main,
        "main_metric_note": main_reason,
        "task_main_metric": spec.main_metric,
        "unavailable_metrics": {m: why for m, why in scores.unavailable.items() if m in metrics_wanted},
        "n_clips": len(ids),
        "n_references": sum(len(r) for r in references),
        "references_per_clip": {str(k): v for k, v in sorted(Counter(len(r) for r in references).items())},
        "n_listed": info.get("n_listed", len(ids)),
        "n_missing": info.get("n_missing", 0),
        "n_classes": None,
        "classes": [],
        "chance": None,
        "caption_samples": [
            {"clip": ids[i], "generated": generated[i], "references": references[i], "CIDEr-D": round(float(per_clip["CIDEr-D"][i]), 6)}
            for i in sample
        ],
        "bootstrap": {
            "resamples": ctx.options.n_resamples,
            "seed": ctx.options.seed,
            "method": (
                "percentile; clips resampled with replacement. BLEU recomputed from the resampled clips' n-gram statistics; "
                "ROUGE_L, CIDEr-D, SPICE, SPIDEr as means of per-clip scores (CIDEr-D document frequencies of the full set); "
                "METEOR: the interval of the mean per-clip score (the point value is METEOR's corpus score)"
            ),
        },
        "protocol": {
            **ctx.loaded.preprocessing,
            "scoring": (
                "pycocoevalcap: Stanford PTB tokenizer (lower-cased, punctuation removed) on generated and reference captions; "
                "BLEU corpus level with the closest reference length; METEOR 1.5 -norm; ROUGE-L; CIDEr-D (sigma 6, clipped, x10); "
                "SPICE 1.0; SPIDEr = (CIDEr-D + SPICE) / 2"
            ),
            "metric_versions": _versions(),
        },
    }
    predictions = pd.DataFrame({
        "clip": ids,
        "generated": generated,
        "generated_tokens": scores.tokenized_hypotheses,
        "references": [" | ".join(r) for r in references],
        **{m: np.round(v, 6) for m, v in per_clip.items()},
    })
    arrays = {
        "values": per_clip[main].astype(np.float64),
        "cider_d": per_clip["CIDEr-D"].astype(np.float64),
        "generated": np.array(generated, dtype=str),
        "references": np.array(["\n".join(r) for r in references], dtype=str),
    }
    return Outcome(metrics, ci95, predictions, extra, paired=PairedItems(ids=ids, kind="mean", metric=main, arrays=arrays))


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return {"pycocoevalcap": version("pycocoevalcap")}
    except PackageNotFoundError:  # pragma: no cover - a declared dependency
        return {}
