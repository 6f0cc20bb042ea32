"""Zero-shot classification with a template ensemble (CLIP_benchmark's zero_shot_classifier)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from clapbench.data.dataset import Dataset
from clapbench.evaluations import Outcome, TaskContext, evaluation
from clapbench.evaluations.embedding import embed_texts, l2_normalize
from clapbench.errors import TaskError
from clapbench.evaluations.metrics import SINGLE_LABEL, evaluate_metrics, multi_label_metrics, threshold_decisions, top1_decisions
from clapbench.models.protocol import LoadedModel
from clapbench.registry import TaskSpec


def class_prompts(spec: TaskSpec, classes: list[str]) -> list[list[str]]:
    return [[t.format(spec.display_name(c)) for t in spec.templates] for c in classes]


def zero_shot_classifier(loaded: LoadedModel, prompts: list[list[str]]) -> np.ndarray:
    """(C, D): per class, embed every template, L2-normalise, average, re-normalise.

    All prompts go through the text tower once per task, never per clip.
    """
    flat = [p for per_class in prompts for p in per_class]
    emb = l2_normalize(embed_texts(loaded, flat))
    n_templates = len(prompts[0])
    per_class = emb.reshape(len(prompts), n_templates, -1).mean(axis=1)
    return l2_normalize(per_class)


@evaluation("zero-shot-classification")
def evaluate_zero_shot(ctx: TaskContext) -> Outcome:
    spec, dataset = ctx.spec, ctx.dataset
    decide, rule_text = f1_rule(spec) if spec.multilabel else (None, None)  # a task-file mistake shows before any embedding
    classifier = zero_shot_classifier(ctx.loaded, class_prompts(spec, dataset.classes))
    scores = l2_normalize(ctx.audio_embeddings()) @ classifier.T
    boot = {"n_resamples": ctx.options.n_resamples, "seed": ctx.options.seed}
    if not spec.multilabel:
        y = np.array([item.labels[0] for item in dataset.items])
        metrics, ci95 = evaluate_metrics(spec.metrics, SINGLE_LABEL, y, scores, **boot)
        return Outcome(metrics, ci95, _predictions(dataset, y, scores))
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
    return Outcome(metrics, ci95, _multilabel_predictions(dataset, y, scores), extra)


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


def _predictions(dataset: Dataset, y: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    names = np.array(dataset.classes)
    order = np.argsort(-scores, axis=1, kind="stable")
    top5 = order[:, : min(5, scores.shape[1])]
    return pd.DataFrame(
        {
            "path": [item.path for item in dataset.items],
            "fold": [item.fold for item in dataset.items],
            "label": names[y],
            "prediction": names[order[:, 0]],
            "correct": order[:, 0] == y,
            "score": scores[np.arange(len(y)), order[:, 0]].round(6),
            "top5": ["|".join(names[row]) for row in top5],
        }
    )


def _multilabel_predictions(dataset: Dataset, y: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    names = np.array(dataset.classes)
    order = np.argsort(-scores, axis=1, kind="stable")
    top5 = order[:, : min(5, scores.shape[1])]
    return pd.DataFrame(
        {
            "path": [item.path for item in dataset.items],
            "fold": [item.fold for item in dataset.items],
            "label": ["|".join(names[np.flatnonzero(row)]) for row in y],
            "prediction": names[order[:, 0]],
            "correct": y[np.arange(len(y)), order[:, 0]] == 1,
            "score": scores[np.arange(len(y)), order[:, 0]].round(6),
            "top5": ["|".join(names[row]) for row in top5],
        }
    )
