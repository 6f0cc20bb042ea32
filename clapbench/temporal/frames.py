"""Frame-level probes: where in an item each class is heard, from a model's frame embeddings.

One evaluation type ``frame-probe`` with ``evaluation.probe: order | overlay``, over the same seeded pairs
and items as the ZSTE probes (temporal.items). Each frame embedding (L2-normalised) is scored by cosine
against the template-ensembled class prompts of the source task's classes. Frame t covers
[t, t + 1) / frame_rate seconds of the item.

order: the items "A then B" and "B then A" (each clip fitted to clip_seconds, so the second sound starts at
  clip_seconds). A frame lies in the first part when it ends by clip_seconds, in the second when it starts at or
  after it (a frame straddling the boundary, or starting past the item's end, is not scored). With
  d_t = s(frame t, first class) - s(frame t, second class):
  - onset_order: an item is right when the mean of d_t over the first part exceeds its mean over the second
    part (the first class is relatively more present early). Per pair: the mean of its two items.
  - pair_onset_order: both items of the pair right.
  - localisation: the share of scored frames whose better class of the two is the one playing (d_t > 0 in the
    first part, d_t < 0 in the second); per pair the mean of its two items' shares.
overlay: the item "A while B".
  - both_top2: the share of its frames whose two best classes among all C are A and B.
  - majority: an item is right when more than half of its frames are.
Ties count as wrong. Chance (all frame scores i.i.d. continuous): onset_order 1/2 (d_t is symmetric, so is a
difference of its means), pair_onset_order 1/4, localisation 1/2; both_top2 p = 2/(C(C-1)); majority the
mean over pairs of P(Binomial(T, p) > T/2), T the item's frame count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clapbench.audio.loader import BadClipsError, iter_prepared
from clapbench.errors import TaskError
from clapbench.evaluations import Outcome, TaskContext, evaluation
from clapbench.embedding import l2_normalize
from clapbench.evaluations.zero_shot import class_prompts, zero_shot_classifier
from clapbench.models.contract import check_frames, has_frames
from clapbench.temporal.items import forget_fitted, recipe
from clapbench.temporal.probe import PAIRS_ARTIFACT, PairItems, load_items, pair_columns, paired_pairs, result_fields, score_pairs
from clapbench.temporal.prompts import check_prompts
from clapbench.temporal.run_items import unreadable_clips

METRICS = {"order": ("onset_order", "pair_onset_order", "localisation"), "overlay": ("both_top2", "majority")}
FRAME_EVALUATIONS = ("frame-probe",)  # evaluation types that need embed_audio_frames
EPS = 1e-9  # seconds: frame edges that fall on the boundary up to float rounding


def frames_needed_message(task: str, model_id: str) -> str:
    return (f"{task}: skipped; {model_id} gives clip embeddings only, and this probe needs frame embeddings "
            "(a model with embed_audio_frames and frame_rate, e.g. a PE-A-Frame folder)")


@evaluation("frame-probe")
def evaluate_frame_probe(ctx: TaskContext) -> Outcome:
    probe = ctx.spec.evaluation.get("probe")
    if probe not in METRICS:
        raise TaskError(f"{ctx.spec.source_file}: evaluation.probe must be order or overlay for type frame-probe, got {probe!r}")
    unknown = [m for m in ctx.spec.metrics if m not in METRICS[probe]]
    if unknown:
        raise TaskError(f"{ctx.spec.source_file}: metric '{unknown[0]}' is not one of the frame-probe {probe} metrics ({', '.join(METRICS[probe])})")
    if not has_frames(ctx.loaded.model):
        raise TaskError(frames_needed_message(ctx.spec.name, ctx.loaded.model_id))
    check_prompts(ctx.spec, ("templates",))
    return (probe_order if probe == "order" else probe_overlay)(ctx)


def embed_item_frames(ctx: TaskContext, items: PairItems, variants: list[str]) -> dict[str, list[np.ndarray]]:
    """{variant: per pair an L2-normalised (T, D) frame array}, items built in the loader's workers from their recipes.

    A batch is ``batch_size // len(variants)`` pairs, all their variants (variant-major); frames are not cached.
    """
    model = ctx.loaded.model
    out: dict[str, list[np.ndarray]] = {v: [] for v in variants}
    per_batch = max(1, ctx.options.batch_size // len(variants))
    chunks = [items.pairs[start : start + per_batch] for start in range(0, len(items.pairs), per_batch)]
    recipes = [recipe(ctx.dataset, p, v, items.rules) for chunk in chunks for v in variants for p in chunk]
    # Every chunk but the last is full, so batches of per_batch * len(variants) recipes are the chunks' items.
    try:
        batches = iter_prepared(recipes, ctx.loaded.sample_rate, per_batch * len(variants), workers=ctx.options.workers)
        for (_, built), chunk in zip(batches, chunks):
            frames = check_frames(model.embed_audio_frames(built), len(built))
            for k, v in enumerate(variants):
                out[v] += [l2_normalize(f) for f in frames[k * len(chunk) : (k + 1) * len(chunk)]]
    except BadClipsError as exc:
        raise unreadable_clips(exc) from None
    finally:
        forget_fitted()
    return out


def frame_parts(n_frames: int, frame_rate: float, boundary: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the frames wholly before ``boundary`` and wholly after it (and starting before ``end``)."""
    starts = np.arange(n_frames) / frame_rate
    first = starts + 1.0 / frame_rate <= boundary + EPS
    second = (starts >= boundary - EPS) & (starts < end - EPS)
    return first, second


def _classifier(ctx: TaskContext) -> np.ndarray:
    return zero_shot_classifier(ctx.loaded, class_prompts(ctx.spec, ctx.dataset.classes), ctx.cache)


def probe_order(ctx: TaskContext) -> Outcome:
    items = load_items(ctx)
    variants = {"A then B": ("a", "b"), "B then A": ("b", "a")}
    frames = embed_item_frames(ctx, items, list(variants))
    classifier = _classifier(ctx)
    rate, boundary = float(ctx.loaded.model.frame_rate), items.rules.clip_seconds
    names = np.array(ctx.dataset.classes)
    base = pair_columns(ctx, items)
    rows, order_ok, local = [], np.zeros((len(items.pairs), 2), dtype=bool), np.zeros((len(items.pairs), 2))
    for k, (variant, (one, two)) in enumerate(variants.items()):
        first_cls, second_cls = (items.a, items.b) if one == "a" else (items.b, items.a)
        for i, f in enumerate(frames[variant]):
            first, second = frame_parts(len(f), rate, boundary, 2 * boundary)
            if not first.any() or not second.any():
                raise TaskError(f"{ctx.spec.name}: {len(f)} frames at {rate:g}/s leave no scored frame in one part of a {2 * boundary:g} s item; the model's frames do not cover the item")
            d = f @ classifier[first_cls[i]] - f @ classifier[second_cls[i]]
            gap = d[first].mean() - d[second].mean()
            order_ok[i, k] = gap > 0
            local[i, k] = (np.sum(d[first] > 0) + np.sum(d[second] < 0)) / (first.sum() + second.sum())
            rows.append({**{c: v[i] for c, v in base.items()}, "item": variant, "first": names[first_cls[i]], "second": names[second_cls[i]],
                         "frames": len(f), "frames_first": int(first.sum()), "frames_second": int(second.sum()),
                         "mean_gap": round(float(gap), 6), "onset_correct": bool(order_ok[i, k]), "localisation": round(float(local[i, k]), 6)})
    values = {"onset_order": order_ok.mean(axis=1), "pair_onset_order": order_ok.all(axis=1).astype(float), "localisation": local.mean(axis=1)}
    chance = {"onset_order": 0.5, "pair_onset_order": 0.25, "localisation": 0.5}
    rule = "i.i.d. frame scores: onset_order 1/2, pair_onset_order 1/4 (both directions), localisation 1/2 per frame"
    per_item = {"A then B": "A's class relatively more present in the first part, B's in the second", "B then A": "likewise, reversed"}
    return _outcome(ctx, items, values, chance, rule, per_item, rows, rate)


def probe_overlay(ctx: TaskContext) -> Outcome:
    items = load_items(ctx)
    from scipy.stats import binom  # here: scipy.stats takes 0.4 s to import, and most runs have no frame task

    frames = embed_item_frames(ctx, items, ["A while B"])["A while B"]
    classifier = _classifier(ctx)
    c = len(ctx.dataset.classes)
    p = 2.0 / (c * (c - 1))
    names = np.array(ctx.dataset.classes)
    base = pair_columns(ctx, items)
    rows, share, majority, majority_chance = [], np.zeros(len(frames)), np.zeros(len(frames)), np.zeros(len(frames))
    for i, f in enumerate(frames):
        scores = f @ classifier.T  # (T, C)
        targets = scores[:, [items.a[i], items.b[i]]].min(axis=1)
        others = np.delete(scores, [items.a[i], items.b[i]], axis=1).max(axis=1, initial=-np.inf)
        hit = targets > others
        share[i], majority[i] = hit.mean(), float(hit.sum() > len(f) / 2)
        majority_chance[i] = binom.sf(len(f) // 2, len(f), p)  # P(more than half of T frames)
        top2 = np.argsort(-scores.mean(axis=0), kind="stable")[:2]
        rows.append({**{k: v[i] for k, v in base.items()}, "item": "A while B", "frames": len(f), "frames_both_top2": int(hit.sum()),
                     "both_top2": round(float(share[i]), 6), "majority_correct": bool(majority[i]), "top2_of_mean_scores": "|".join(names[top2])})
    values = {"both_top2": share, "majority": majority}
    chance = {"both_top2": p, "majority": float(majority_chance.mean())}
    rule = "i.i.d. frame scores: both_top2 2/(C(C-1)) per frame; majority: mean over pairs of P(Binomial(T, 2/(C(C-1))) > T/2)"
    return _outcome(ctx, items, values, chance, rule, {"A while B": "A and B the two best classes of every frame"}, rows, float(ctx.loaded.model.frame_rate))


def _outcome(ctx: TaskContext, items: PairItems, values: dict, chance: dict, rule: str, per_item: dict, rows: list[dict], rate: float) -> Outcome:
    metrics, ci95 = score_pairs(ctx, {m: values[m] for m in ctx.spec.metrics})
    extra = result_fields(ctx, items, {m: chance[m] for m in ctx.spec.metrics}, rule, {"templates": ctx.spec.templates}, per_item)
    extra["temporal"]["frames"] = {
        "frame_rate": rate,
        "frame_span": "frame t covers [t, t + 1) / frame_rate seconds",
        "parts": "first: frames ending by clip_seconds; second: frames starting at or after it and before the item's end; straddling frames not scored",
        "class_scores": "cosine of the L2-normalised frame embedding and the template-ensembled class prompt",
    }
    return Outcome(metrics, ci95, pd.DataFrame(rows), extra, paired=paired_pairs(ctx, items, values), artifacts={PAIRS_ARTIFACT: items.frame})
