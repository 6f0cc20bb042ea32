"""Zero-shot classification with a template ensemble (CLIP_benchmark's zero_shot_classifier)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from clapbench.data.dataset import Dataset
from clapbench.evaluations import Outcome, PairedItems, TaskContext, evaluation
from clapbench.embedding import embed_texts, l2_normalize
from clapbench.errors import TaskError
from clapbench.evaluations.metrics import SINGLE_LABEL, evaluate_metrics, multi_label_metrics, threshold_decisions, top1_decisions
from clapbench.models.contract import LoadedModel
from clapbench.registry import TaskSpec


def class_prompts(spec: TaskSpec, classes: list[str]) -> list[list[str]]:
    return [[t.format(spec.display_name(c)) for t in spec.templates] for c in classes]


def zero_shot_classifier(loaded: LoadedModel, prompts: list[list[str]], cache=None) -> np.ndarray:
    """(C, D): per class, embed every template, L2-normalise, average, re-normalise.

    All prompts go through the text tower once per task, never per clip.
    """
    flat = [p for per_class in prompts for p in per_class]
    emb = l2_normalize(embed_texts(loaded, flat, cache=cache))
    n_templates = len(prompts[0])
    per_class = emb.reshape(len(prompts), n_templates, -1).mean(axis=1)
    return l2_normalize(per_class)


@evaluation("zero-shot-classification")
def evaluate_zero_shot(ctx: TaskContext) -> Outcome:
    spec, dataset = ctx.spec, ctx.dataset
    decide, rule_text = f1_rule(spec) if spec.multilabel else (None, None)  # a task-file mistake shows before any embedding
    classifier = zero_shot_classifier(ctx.loaded, class_prompts(spec, dataset.classes), ctx.cache)
    scores = l2_normalize(ctx.audio_embeddings()) @ classifier.T
    boot = {"n_resamples": ctx.options.n_resamples, "seed": ctx.options.seed}
    if not spec.multilabel:
        y = np.array([item.labels[0] for item in dataset.items])
        metrics, ci95 = evaluate_metrics(spec.metrics, SINGLE_LABEL, y, scores, **boot)
        labels = [dataset.classes[i] for i in y]
        return Outcome(metrics, ci95, _predictions(dataset, labels, y, scores), paired=_paired(spec, dataset, y, scores))
    y = np.zeros(scores.shape, dtype=np.int8)
    for row, item in enumerate(dataset.items):
        y[row, list(item.labels)] = 1
    metrics, ci95 = evaluate_metrics(spec.metrics, multi_label_metrics(decide), y, scores, **boot)
    absent = [dataset.classes[c] for c in np.flatnonzero(y.sum(axis=0) == 0)]
    extra = {
        "multilabel": True,
        "classes_without_positives": absent,  # left out of mAP, as they have no defined AP
        "f1_rule": rule_text,
    }
    if spec.evaluation.get("f1_rule") == "threshold":
        extra["f1_threshold"] = float(spec.evaluation["f1_threshold"])
    labels = ["|".join(dataset.classes[c] for c in np.flatnonzero(row)) for row in y]
    return Outcome(metrics, ci95, _predictions(dataset, labels, y, scores), extra, paired=_paired(spec, dataset, y, scores, extra.get("f1_threshold")))


def _paired(spec: TaskSpec, dataset: Dataset, y: np.ndarray, scores: np.ndarray, f1_threshold: float | None = None) -> PairedItems:
    """What `clapbench compare` needs to recompute the main metric on resampled clips."""
    return PairedItems(
        ids=[item.path for item in dataset.items],
        kind="classification",
        metric=spec.main_metric,
        arrays={
            "y": y,
            "scores": scores.astype(np.float32),
            "multilabel": np.array(spec.multilabel),
            "f1_threshold": np.array(np.nan if f1_threshold is None else f1_threshold),
        },
    )


def f1_rule(spec: TaskSpec) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """The F1 decision rule a task file chooses (evaluation.f1_rule), and how the result file states it.

    top1 (default): each clip holds only its highest-scoring class. threshold: each clip holds every
    class whose cosine similarity is at least evaluation.f1_threshold.
    """
    rule = spec.evaluation.get("f1_rule", "top1")
    if rule == "top1":
        return top1_decisions, "top1: each clip is predicted to hold only its highest-scoring class"
    if rule == "threshold":
        t = spec.evaluation.get("f1_threshold")
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not -1.0 <= t <= 1.0:
            raise TaskError(f"{spec.source_file}: evaluation.f1_rule threshold needs evaluation.f1_threshold, a cosine similarity in [-1, 1]; got {t!r}")
        return threshold_decisions(float(t)), f"threshold: each clip is predicted to hold every class whose cosine similarity is >= {float(t)}"
    raise TaskError(f"{spec.source_file}: evaluation.f1_rule is '{rule}'; expected top1 or threshold")


def _predictions(dataset: Dataset, labels: list[str], y: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """A row per clip: its label(s), the top-1 class and whether it is right, and the top 5."""
    names = np.array(dataset.classes)
    order = np.argsort(-scores, axis=1, kind="stable")
    rows = np.arange(len(scores))
    correct = order[:, 0] == y if y.ndim == 1 else y[rows, order[:, 0]] == 1
    return pd.DataFrame(
        {
            "path": [item.path for item in dataset.items],
            "fold": [item.fold for item in dataset.items],
            "label": labels,
            "prediction": names[order[:, 0]],
            "correct": correct,
            "score": scores[rows, order[:, 0]].round(6),
            "top5": ["|".join(names[row]) for row in order[:, : min(5, scores.shape[1])]],
        }
    )
