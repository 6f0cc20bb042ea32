"""ZSTE, the zero-shot temporal evaluation of TeminAL (Sinha et al., arXiv 2408.09269), as five probes.

One evaluation type ``zste`` with ``evaluation.probe: 1..5``. Every probe scores each pair in both
directions where it has them, counts a tie as wrong, and states its exact chance level: the expected
score when all candidate scores are i.i.d. continuous (every order of them equally likely).
C is the number of classes of the source task.

1. Each clip of the pair alone against all class prompts: top-1. Chance 1/C.
2. The overlay "A while B" against all class prompts: A and B must be the top two. Chance 1/C(C,2) = 2/(C(C-1)).
3. "A then B" against {A before B, B before A, A while B}: top-1 must be "A before B"; and "B then A"
   against the same three: "B before A". Chance 1/3.
4. "A then B" against ~50 sampled "x before y" / "x while y" captions over A, B and 5 other classes
   (the three captions of probe 3 always in): top-1 must be "A before B"; likewise "B then A". Chance: the
   mean over pairs of 1/(number of captions).
5. "A then B" against "the first sound is x" and "the second sound is x" for every class x: the top
   "first" prompt must be A and the top "second" prompt B (the two argmaxes are independent under
   i.i.d. scores, so chance is 1/C^2); likewise "B then A".

``accuracy`` is the share of items right (a pair's items weigh the same). ``pair_accuracy`` is the share
of pairs with all their items right; its chance is the product of the items' chances. It exposes a model
that ignores the audio: it gives both directions the same answer, so at most one is right: on probe 3 its
accuracy can reach 1/2, above the 1/3 of random scores, but its pair_accuracy is 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clapbench.errors import TaskError
from clapbench.evaluations import Outcome, TaskContext, evaluation
from clapbench.embedding import embed_texts, l2_normalize
from clapbench.evaluations.zero_shot import class_prompts, zero_shot_classifier
from clapbench.temporal.probe import PAIRS_ARTIFACT, PairItems, embed_captions, embed_items, items_record, load_items, margin, pair_columns, paired_pairs, result_fields, score_pairs
from clapbench.temporal.prompts import check_prompts, relation, zs4_captions

DIRECTIONS = (("A then B", "a", "b"), ("B then A", "b", "a"))  # item, first class, second class
METRICS = ("accuracy", "pair_accuracy")


@evaluation("zste")
def evaluate_zste(ctx: TaskContext) -> Outcome:
    probe = ctx.spec.evaluation.get("probe")
    if probe not in PROBES:
        raise TaskError(f"{ctx.spec.source_file}: evaluation.probe must be one of 1, 2, 3, 4, 5 for type zste, got {probe!r}")
    unknown = [m for m in ctx.spec.metrics if m not in METRICS]
    if unknown:
        raise TaskError(f"{ctx.spec.source_file}: metric '{unknown[0]}' is not one of the zste metrics ({', '.join(METRICS)})")
    return PROBES[probe](ctx)


# The items each probe embeds: the run embeds the distinct items of all its temporal tasks at once (run_items).
PROBE_VARIANTS = {1: ["A", "B"], 2: ["A while B"], 3: ["A then B", "B then A"], 4: ["A then B", "B then A"], 5: ["A then B", "B then A"]}
evaluate_zste.item_variants = lambda spec: PROBE_VARIANTS.get(spec.evaluation.get("probe"), [])


def _outcome(ctx: TaskContext, items: PairItems, rows: list[dict], item_chance: np.ndarray | float, rule: str, prompts: dict, per_item: dict[str, str]) -> Outcome:
    """accuracy and pair_accuracy from the per-item rows, bootstrapped over pairs.

    ``item_chance``: each pair's chance for one item (a scalar when all pairs share it).
    """
    frame = pd.DataFrame(rows).sort_values(["pair", "item_order"], kind="stable").drop(columns="item_order")
    correct = frame.groupby("pair", sort=True)["correct"]
    n_items = frame.groupby("pair").size().iloc[0]
    p = np.broadcast_to(np.asarray(item_chance, dtype=np.float64), (len(items.pairs),))
    values = {"accuracy": correct.mean().to_numpy(), "pair_accuracy": correct.all().to_numpy().astype(float)}
    chances = {"accuracy": float(p.mean()), "pair_accuracy": float((p**n_items).mean())}
    metrics, ci95 = score_pairs(ctx, {m: values[m] for m in ctx.spec.metrics})
    rule += f"; pair_accuracy: chance of one item to the power {n_items}" if n_items > 1 else ""
    extra = result_fields(ctx, items, {m: chances[m] for m in ctx.spec.metrics}, rule, prompts, per_item)
    extra["temporal"]["item_embeddings"] = items_record(ctx)
    return Outcome(metrics, ci95, frame.reset_index(drop=True), extra, paired=paired_pairs(ctx, items, values), artifacts={PAIRS_ARTIFACT: items.frame})


def _rows(ctx: TaskContext, items: PairItems, item: str, order: int, target: list[str], prediction: list[str], m: np.ndarray) -> list[dict]:
    base = pair_columns(ctx, items)
    return [
        {**{k: v[i] for k, v in base.items()}, "item": item, "item_order": order, "target": target[i],
         "prediction": prediction[i], "correct": bool(m[i] > 0), "margin": round(float(m[i]), 6)}
        for i in range(len(items.pairs))
    ]


def _class_scores(ctx: TaskContext, audio: np.ndarray) -> np.ndarray:
    """Cosine scores of items against the template-ensembled class prompts of the source's classes."""
    classifier = zero_shot_classifier(ctx.loaded, class_prompts(ctx.spec, ctx.dataset.classes), ctx.cache)
    return audio @ classifier.T


def probe_single(ctx: TaskContext) -> Outcome:
    check_prompts(ctx.spec, ("templates",))
    items = load_items(ctx)
    emb = embed_items(ctx, items, PROBE_VARIANTS[1])
    names = np.array(ctx.dataset.classes)
    rows = []
    for order, (item, labels) in enumerate((("A", items.a), ("B", items.b))):
        scores = _class_scores(ctx, emb[item])
        rows += _rows(ctx, items, item, order, list(names[labels]), list(names[scores.argmax(axis=1)]), margin(scores, labels))
    c = len(ctx.dataset.classes)
    return _outcome(ctx, items, rows, 1.0 / c, "1/C", {"templates": ctx.spec.templates}, {"A": "clip A alone: top-1 must be A", "B": "clip B alone: top-1 must be B"})


def probe_overlay(ctx: TaskContext) -> Outcome:
    check_prompts(ctx.spec, ("templates",))
    items = load_items(ctx)
    emb = embed_items(ctx, items, PROBE_VARIANTS[2])
    scores = _class_scores(ctx, emb["A while B"])
    names = np.array(ctx.dataset.classes)
    top2 = np.argsort(-scores, axis=1, kind="stable")[:, :2]
    m = margin(scores, np.stack([items.a, items.b], axis=1))
    target = [f"{names[a]}|{names[b]}" for a, b in zip(items.a, items.b)]
    prediction = [f"{names[i]}|{names[j]}" for i, j in top2]
    rows = _rows(ctx, items, "A while B", 0, target, prediction, m)
    c = len(names)
    return _outcome(ctx, items, rows, 2.0 / (c * (c - 1)), "2/(C(C-1))", {"templates": ctx.spec.templates}, {"A while B": "overlay: A and B must be the top two classes"})


def probe_three(ctx: TaskContext) -> Outcome:
    prompts = check_prompts(ctx.spec, ("before", "while"))
    items = load_items(ctx)
    emb = embed_items(ctx, items, [d[0] for d in DIRECTIONS])
    show = [ctx.spec.display_name(c) for c in ctx.dataset.classes]
    candidates = [
        [relation(prompts["before"], show[a], show[b]), relation(prompts["before"], show[b], show[a]), relation(prompts["while"], show[a], show[b])]
        for a, b in zip(items.a, items.b)
    ]
    text, row_of = embed_captions(ctx, [t for triple in candidates for t in triple])
    cand = text[[[row_of[t] for t in triple] for triple in candidates]]  # (n, 3, D)
    rows = []
    for order, (item, _, _) in enumerate(DIRECTIONS):
        scores = np.einsum("nd,nkd->nk", emb[item], cand)
        target = np.full(len(items.pairs), order)  # "A before B" for A then B, "B before A" for B then A
        pred = scores.argmax(axis=1)
        rows += _rows(ctx, items, item, order, [c[order] for c in candidates], [c[k] for c, k in zip(candidates, pred)], margin(scores, target))
    per_item = {"A then B": "top-1 of {A before B, B before A, A while B} must be A before B", "B then A": "... must be B before A"}
    return _outcome(ctx, items, rows, 1.0 / 3.0, "1/3", prompts, per_item)


def probe_many(ctx: TaskContext) -> Outcome:
    prompts = check_prompts(ctx.spec, ("before", "while"))
    n_captions = int(ctx.spec.evaluation.get("captions", 50))
    n_others = int(ctx.spec.evaluation.get("other_classes", 5))
    if n_captions < 3 or n_others < 0:
        raise TaskError(f"{ctx.spec.source_file}: evaluation.captions must be >= 3 and other_classes >= 0")
    items = load_items(ctx)
    emb = embed_items(ctx, items, [d[0] for d in DIRECTIONS])
    show = [ctx.spec.display_name(c) for c in ctx.dataset.classes]
    seed = ctx.options.seed % 2**32
    sets = [
        zs4_captions(int(a), int(b), len(show), np.random.default_rng([seed, i]), n_captions, n_others)
        for i, (a, b) in enumerate(zip(items.a, items.b))
    ]
    texts = [[relation(prompts[r], show[x], show[y]) for r, x, y in s] for s in sets]
    text, row_of = embed_captions(ctx, [t for s in texts for t in s])
    rows = []
    for order, (item, first, _) in enumerate(DIRECTIONS):
        target, prediction, m = [], [], np.empty(len(items.pairs))
        for i, (a, b) in enumerate(zip(items.a, items.b)):
            scores = text[[row_of[t] for t in texts[i]]] @ emb[item][i]
            true = sets[i].index(("before", int(a), int(b)) if first == "a" else ("before", int(b), int(a)))
            m[i] = margin(scores[None, :], np.array([true]))[0]
            target.append(texts[i][true])
            prediction.append(texts[i][int(scores.argmax())])
        rows += _rows(ctx, items, item, order, target, prediction, m)
    chance = np.array([1.0 / len(s) for s in sets])
    outcome = _outcome(ctx, items, rows, chance, "mean over pairs of 1/(captions in the pair's set)", prompts,
                       {"A then B": "top-1 of the pair's caption set must be A before B", "B then A": "... must be B before A"})
    outcome.extra["temporal"]["captions"] = {
        "per_pair": n_captions, "other_classes": n_others, "seed": "numpy default_rng([--seed, pair index])",
        "forced": ["{a} before {b}", "{b} before {a}", "{a} while {b}"], "mean_set_size": float(np.mean([len(s) for s in sets])),
    }
    return outcome


def probe_positions(ctx: TaskContext) -> Outcome:
    prompts = check_prompts(ctx.spec, ("first", "second"))
    items = load_items(ctx)
    emb = embed_items(ctx, items, [d[0] for d in DIRECTIONS])
    show = [ctx.spec.display_name(c) for c in ctx.dataset.classes]
    first = l2_normalize(embed_texts(ctx.loaded, [prompts["first"].format(c) for c in show], cache=ctx.cache))
    second = l2_normalize(embed_texts(ctx.loaded, [prompts["second"].format(c) for c in show], cache=ctx.cache))
    names = np.array(ctx.dataset.classes)
    rows = []
    for order, (item, one, _) in enumerate(DIRECTIONS):
        want1, want2 = (items.a, items.b) if one == "a" else (items.b, items.a)
        s1, s2 = emb[item] @ first.T, emb[item] @ second.T
        m = np.minimum(margin(s1, want1), margin(s2, want2))  # both must be right
        target = [f"first={names[x]}; second={names[y]}" for x, y in zip(want1, want2)]
        prediction = [f"first={names[x]}; second={names[y]}" for x, y in zip(s1.argmax(axis=1), s2.argmax(axis=1))]
        rows += _rows(ctx, items, item, order, target, prediction, m)
    c = len(names)
    per_item = {"A then B": "top 'first' prompt must be A and top 'second' prompt B", "B then A": "first B, second A"}
    return _outcome(ctx, items, rows, 1.0 / c**2, "1/C^2", prompts, per_item)


PROBES = {1: probe_single, 2: probe_overlay, 3: probe_three, 4: probe_many, 5: probe_positions}
