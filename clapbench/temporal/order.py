"""The order test in both directions (Winoground / CompA-order style).

For each pair: the audio "A then B" and "B then A" and the captions "A before B" and "B before A".
With s(audio, caption) the cosine score:
- text score: each audio prefers its own caption (s(AB, "A before B") > s(AB, "B before A") and
  s(BA, "B before A") > s(BA, "A before B"));
- audio score: each caption prefers its own audio (s(AB, "A before B") > s(BA, "A before B") and
  s(BA, "B before A") > s(AB, "B before A"));
- group score: both. Ties count as wrong.
Chance with i.i.d. continuous scores: 1/4 (text), 1/4 (audio), 1/6 (group: the two matched scores
must be the top two of four).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clapbench.errors import TaskError
from clapbench.evaluations import Outcome, TaskContext, evaluation
from clapbench.temporal.probe import PAIRS_ARTIFACT, embed_captions, embed_items, items_record, load_items, pair_columns, paired_pairs, result_fields, score_pairs
from clapbench.temporal.prompts import check_prompts, relation

ITEM_VARIANTS = ["A then B", "B then A"]
CHANCE = {"text_score": 1 / 4, "audio_score": 1 / 4, "group_score": 1 / 6}


def order_scores(s_ab_ab: np.ndarray, s_ab_ba: np.ndarray, s_ba_ab: np.ndarray, s_ba_ba: np.ndarray) -> dict[str, np.ndarray]:
    """Per pair: text, audio and group correctness from s_<audio>_<caption> (strict: ties are wrong)."""
    text_ok = (s_ab_ab > s_ab_ba) & (s_ba_ba > s_ba_ab)
    audio_ok = (s_ab_ab > s_ba_ab) & (s_ba_ba > s_ab_ba)
    return {"text_score": text_ok, "audio_score": audio_ok, "group_score": text_ok & audio_ok}


@evaluation("order-pairs")
def evaluate_order_pairs(ctx: TaskContext) -> Outcome:
    prompts = check_prompts(ctx.spec, ("before",))
    unknown = [m for m in ctx.spec.metrics if m not in CHANCE]
    if unknown:
        raise TaskError(f"{ctx.spec.source_file}: metric '{unknown[0]}' is not one of the order-pairs metrics ({', '.join(CHANCE)})")
    items = load_items(ctx)
    emb = embed_items(ctx, items, ITEM_VARIANTS)
    show = [ctx.spec.display_name(c) for c in ctx.dataset.classes]
    cap_ab = [relation(prompts["before"], show[a], show[b]) for a, b in zip(items.a, items.b)]
    cap_ba = [relation(prompts["before"], show[b], show[a]) for a, b in zip(items.a, items.b)]
    text, row_of = embed_captions(ctx, cap_ab + cap_ba)
    t_ab, t_ba = text[[row_of[t] for t in cap_ab]], text[[row_of[t] for t in cap_ba]]
    # s[<audio>_<caption>]: row-wise cosine, e.g. "ab_ba" = audio "A then B" against caption "B before A"
    audio = {"ab": emb["A then B"], "ba": emb["B then A"]}
    captions = {"ab": t_ab, "ba": t_ba}
    s = {f"{ka}_{kc}": (audio[ka] * captions[kc]).sum(axis=1) for ka in audio for kc in captions}
    per_pair = order_scores(s["ab_ab"], s["ab_ba"], s["ba_ab"], s["ba_ba"])
    metrics, ci95 = score_pairs(ctx, {m: per_pair[m].astype(float) for m in ctx.spec.metrics})
    frame = pd.DataFrame(
        {
            **pair_columns(ctx, items),
            "caption_ab": cap_ab,
            "caption_ba": cap_ba,
            **{f"s_{k}": np.round(v, 6) for k, v in s.items()},
            "text_correct": per_pair["text_score"],
            "audio_correct": per_pair["audio_score"],
            "group_correct": per_pair["group_score"],
        }
    )
    chance = {m: CHANCE[m] for m in ctx.spec.metrics}
    rule = "i.i.d. scores: text 1/4, audio 1/4, group 1/6 (the two matched scores are the top two of four)"
    per_item = {"A then B": "audio of the pair in order", "B then A": "audio of the pair reversed"}
    values = {m: per_pair[m].astype(float) for m in ctx.spec.metrics}
    extra = result_fields(ctx, items, chance, rule, prompts, per_item)
    extra["temporal"]["item_embeddings"] = items_record(ctx)
    return Outcome(metrics, ci95, frame, extra, paired=paired_pairs(ctx, items, values), artifacts={PAIRS_ARTIFACT: items.frame})


evaluate_order_pairs.item_variants = lambda spec: ITEM_VARIANTS  # embedded with the run's other temporal items (run_items)
