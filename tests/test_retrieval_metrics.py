"""Retrieval ranks and metrics against brute-force references, by hand and on random matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clapbench.evaluations.retrieval_metrics import (
    ALL_KEYS,
    QueryRanks,
    chance_level,
    exact_operands,
    rank_queries,
    rank_scores,
    relevance_matrix,
    retrieval_metrics,
    retrieval_ranks,
)

# ---- independent references ---------------------------------------------------------------------


def brute_force(scores: np.ndarray, relevant: list[set[int]]) -> dict[str, np.ndarray]:
    """Spell out each query's whole ranking: by score, irrelevant before relevant on ties
    (pessimistic), then by index; read off the relevant items' positions."""
    best, ap, top1 = [], [], []
    for q, rel in enumerate(relevant):
        order = sorted(range(scores.shape[1]), key=lambda j: (-scores[q, j], j in rel, j))
        positions = sorted(order.index(j) + 1 for j in rel)
        best.append(positions[0])
        ap.append(sum(i / r for i, r in enumerate(positions, start=1) if r <= 10) / len(rel))
        top1.append(order[0])
    return {"best_rank": np.array(best), "ap10": np.array(ap), "top1": np.array(top1)}


def brute_metrics(best: np.ndarray, ap: np.ndarray) -> dict[str, float]:
    return {
        "R@1": float(np.mean(best <= 1)),
        "R@5": float(np.mean(best <= 5)),
        "R@10": float(np.mean(best <= 10)),
        "mAP@10": float(np.mean(ap)),
        "median_rank": float(math.floor(np.median(best))),
        "mean_rank": float(np.mean(best)),
    }


def laion_style(sim_audio_text: np.ndarray, caption_clip: np.ndarray) -> dict[str, float]:
    """The LAION-CLAP recipe (argsort, position of the ground truth), valid when no scores tie;
    mAP@10 for a2t with the captions' ranks sorted, as its docstring describes."""
    out = {}
    n_clips = sim_audio_text.shape[0]
    t2a = []
    for j, clip in enumerate(caption_clip):
        ranking = np.argsort(-sim_audio_text[:, j])
        t2a.append(int(np.where(ranking == clip)[0][0]))
    t2a = np.array(t2a)
    out.update({"t2a/R@1": np.mean(t2a < 1), "t2a/R@5": np.mean(t2a < 5), "t2a/R@10": np.mean(t2a < 10)})
    out["t2a/mAP@10"] = np.mean(np.where(t2a < 10, 1 / (t2a + 1), 0.0))
    out["t2a/median_rank"] = np.floor(np.median(t2a)) + 1
    out["t2a/mean_rank"] = t2a.mean() + 1
    a2t, maps = [], []
    for i in range(n_clips):
        ranking = np.argsort(-sim_audio_text[i])
        preds = np.sort([int(np.where(ranking == j)[0][0]) for j in np.flatnonzero(caption_clip == i)])
        a2t.append(preds.min())
        kept = preds[preds < 10]
        maps.append(np.sum(np.arange(1, len(kept) + 1) / (kept + 1)) / len(preds))
    a2t = np.array(a2t)
    out.update({"a2t/R@1": np.mean(a2t < 1), "a2t/R@5": np.mean(a2t < 5), "a2t/R@10": np.mean(a2t < 10)})
    out["a2t/mAP@10"] = np.mean(maps)
    out["a2t/median_rank"] = np.floor(np.median(a2t)) + 1
    out["a2t/mean_rank"] = a2t.mean() + 1
    return {k: float(v) for k, v in out.items()}


def random_captions(rng: np.random.Generator, n_clips: int, max_captions: int = 5) -> np.ndarray:
    """caption -> clip, with 1..max_captions captions per clip, interleaved (not grouped)."""
    counts = rng.integers(1, max_captions + 1, size=n_clips)
    return rng.permutation(np.repeat(np.arange(n_clips), counts))


def check_against_brute(ranks: QueryRanks, scores: np.ndarray, relevant: list[set[int]]) -> None:
    ref = brute_force(scores, relevant)
    np.testing.assert_array_equal(ranks.best_rank, ref["best_rank"])
    np.testing.assert_allclose(ranks.ap10, ref["ap10"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ranks.top1, ref["top1"])


# ---- hand-made matrices --------------------------------------------------------------------------


def test_hand_made_audio_to_text_with_ties_and_uneven_captions():
    # clip 0 owns captions {0, 1}, clip 1 owns {2}, clip 2 owns {3, 4, 5}
    scores = np.array(
        [
            [0.9, 0.5, 0.5, 0.9, 0.1, 0.0],  # wrong 3 ties rel 0 at the top; wrong 2 ties rel 1
            [0.2, 0.2, 0.2, 0.2, 0.2, 0.2],  # everything ties: the one relevant caption is last
            [0.0, 0.1, 0.2, 0.9, 0.8, 0.3],  # all three relevant captions on top
        ]
    )
    relevant = relevance_matrix([[0, 1], [2], [3, 4, 5]])
    r = rank_scores(scores, relevant)
    np.testing.assert_array_equal(r.best_rank, [2, 6, 1])
    np.testing.assert_allclose(r.ap10, [(1 / 2 + 2 / 4) / 2, 1 / 6, 1.0])
    np.testing.assert_array_equal(r.top1, [3, 0, 3])  # a tied wrong caption is retrieved first
    np.testing.assert_array_equal(r.n_relevant, [2, 1, 3])
    values, _ = retrieval_metrics({"t2a": r, "a2t": r}, ["a2t/R@1", "a2t/R@5", "a2t/mAP@10", "a2t/median_rank", "a2t/mean_rank"], n_resamples=0)
    assert values["a2t/R@1"] == pytest.approx(1 / 3)
    assert values["a2t/R@5"] == pytest.approx(2 / 3)
    assert values["a2t/mAP@10"] == pytest.approx((0.5 + 1 / 6 + 1) / 3)
    assert values["a2t/median_rank"] == 2 and values["a2t/mean_rank"] == 3


def test_hand_made_map_cut_at_rank_ten():
    # relevant {0, 1}; two wrong items above 0.8 put caption 0 at rank 3, and n wrong items at
    # 0.5 put caption 1 at rank 3 + n - 1 + 1 + ... : rank 2 + 2 + n.
    def one_query(n_middle: int) -> QueryRanks:
        row = [0.8, 0.1, 0.9, 0.85] + [0.5] * n_middle + [0.05]
        return rank_scores(np.array([row]), relevance_matrix([[0, 1]]))

    at_ten, at_eleven = one_query(6), one_query(7)
    assert at_ten.best_rank[0] == 3 and at_eleven.best_rank[0] == 3
    assert at_ten.ap10[0] == pytest.approx((1 / 3 + 2 / 10) / 2)  # rank 10 still counts
    assert at_eleven.ap10[0] == pytest.approx((1 / 3) / 2)  # rank 11 does not


def test_hand_made_text_to_audio_tie_counts_against_query():
    # caption 0 -> clip 1; clips 0 and 1 tie at the top: pessimistic rank 2, top-1 is clip 0
    r = rank_scores(np.array([[0.7, 0.7, 0.1], [0.1, 0.2, 0.3]]), np.array([[1], [2]]))
    np.testing.assert_array_equal(r.best_rank, [2, 1])
    np.testing.assert_allclose(r.ap10, [0.5, 1.0])
    np.testing.assert_array_equal(r.top1, [0, 2])


def test_relevant_items_tied_with_each_other_take_consecutive_ranks():
    r = rank_scores(np.array([[0.5, 0.5, 0.5, 0.9]]), relevance_matrix([[0, 1, 2]]))
    assert r.best_rank[0] == 2
    assert r.ap10[0] == pytest.approx((1 / 2 + 2 / 3 + 3 / 4) / 3)


def test_query_without_relevant_item_is_an_error():
    with pytest.raises(ValueError, match="no relevant"):
        rank_scores(np.zeros((2, 3)), relevance_matrix([[0], []]))


# ---- random matrices -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_random_tied_scores_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_clips = int(rng.integers(2, 14))
    caption_clip = random_captions(rng, n_clips)
    n_caps = len(caption_clip)
    levels = int(rng.integers(2, 6))  # few distinct values: ties everywhere
    sim = rng.integers(0, levels, size=(n_clips, n_caps)).astype(np.float64)
    a2t_rel = [set(np.flatnonzero(caption_clip == i).tolist()) for i in range(n_clips)]
    check_against_brute(rank_scores(sim, relevance_matrix([sorted(s) for s in a2t_rel])), sim, a2t_rel)
    t2a_rel = [{int(c)} for c in caption_clip]
    check_against_brute(rank_scores(sim.T, caption_clip[:, None]), sim.T, t2a_rel)


@pytest.mark.parametrize("seed", range(4))
def test_random_embeddings_match_laion_recipe_and_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    n_clips = 25
    caption_clip = random_captions(rng, n_clips)
    audio = rng.standard_normal((n_clips, 16))
    text = audio[caption_clip] + 1.5 * rng.standard_normal((len(caption_clip), 16))  # better than chance, not perfect
    ranks = retrieval_ranks(audio, text, caption_clip)
    values, ci = retrieval_metrics(ranks, ALL_KEYS, n_resamples=200, seed=1)

    a, t = exact_operands(audio), exact_operands(text)
    sim = a @ t.T  # exact; continuous data, so no ties
    assert len(np.unique(sim)) == sim.size
    laion = laion_style(sim, caption_clip)
    for key in ALL_KEYS:
        assert values[key] == pytest.approx(laion[key], abs=1e-12), key
        lo, hi = ci[key]
        assert lo <= values[key] <= hi, key
    t2a_ref = brute_force(sim.T, [{int(c)} for c in caption_clip])
    a2t_ref = brute_force(sim, [set(np.flatnonzero(caption_clip == i).tolist()) for i in range(n_clips)])
    for direction, ref in (("t2a", t2a_ref), ("a2t", a2t_ref)):
        for name, value in brute_metrics(ref["best_rank"], ref["ap10"]).items():
            assert values[f"{direction}/{name}"] == pytest.approx(value, abs=1e-12)
    # the model is better than chance, so the directions are not degenerate
    assert values["t2a/R@1"] > 1 / n_clips and values["a2t/mAP@10"] > 0


def test_perfect_embeddings_score_one_in_both_directions():
    rng = np.random.default_rng(3)
    audio = rng.standard_normal((12, 8))
    caption_clip = random_captions(rng, 12)
    ranks = retrieval_ranks(audio, 2.0 * audio[caption_clip], caption_clip)
    values, _ = retrieval_metrics(ranks, ALL_KEYS, n_resamples=0)
    for d in ("t2a", "a2t"):
        assert values[f"{d}/R@1"] == 1 and values[f"{d}/mAP@10"] == pytest.approx(1) and values[f"{d}/mean_rank"] == 1


# ---- chunking ------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 7])
def test_chunked_equals_unchunked_bit_for_bit(chunk_rows):
    rng = np.random.default_rng(7)
    audio = rng.standard_normal((30, 24)).astype(np.float32)
    audio[5] = audio[4]  # duplicated clips: exact ties that must survive any chunking
    caption_clip = random_captions(rng, 30)
    text = (audio[caption_clip] + rng.standard_normal((len(caption_clip), 24))).astype(np.float32)
    text[1] = text[0]
    whole = retrieval_ranks(audio, text, caption_clip, chunk_rows=10**9)
    chunked = retrieval_ranks(audio, text, caption_clip, chunk_rows=chunk_rows)
    by_memory = retrieval_ranks(audio, text, caption_clip, chunk_bytes=1)  # one row per chunk
    for direction in ("t2a", "a2t"):
        for field in QueryRanks.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(chunked[direction], field), getattr(whole[direction], field))
            np.testing.assert_array_equal(getattr(by_memory[direction], field), getattr(whole[direction], field))
    # and the unchunked result is the brute-force one on the full exact similarity matrix
    sim = exact_operands(audio) @ exact_operands(text).T
    check_against_brute(whole["a2t"], sim, [set(np.flatnonzero(caption_clip == i).tolist()) for i in range(30)])
    check_against_brute(whole["t2a"], sim.T, [{int(c)} for c in caption_clip])
    assert whole["t2a"].best_rank[caption_clip == 4].max() >= 2  # clip 4 always ties with its duplicate


def test_rank_queries_handles_an_empty_query_set():
    r = rank_queries(np.zeros((0, 4)), np.ones((3, 4)), np.zeros((0, 1), dtype=np.int64), chunk_rows=2)
    assert len(r.best_rank) == 0


def test_exact_operands_give_cosines():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 512)), rng.standard_normal((6, 512))
    cos = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (y / np.linalg.norm(y, axis=1, keepdims=True)).T
    exact = exact_operands(x) @ exact_operands(y).T / 2.0**50
    assert np.abs(exact - cos).max() < 1e-6
    assert np.all(exact_operands(x) == np.rint(exact_operands(x)))


# ---- bootstrap and chance --------------------------------------------------------------------------


def test_bootstrap_is_seeded_and_resamples_each_direction():
    rng = np.random.default_rng(11)
    caption_clip = random_captions(rng, 40)
    audio = rng.standard_normal((40, 8))
    text = audio[caption_clip] + rng.standard_normal((len(caption_clip), 8))
    ranks = retrieval_ranks(audio, text, caption_clip)
    v1, ci1 = retrieval_metrics(ranks, ALL_KEYS, n_resamples=300, seed=5)
    v2, ci2 = retrieval_metrics(ranks, ALL_KEYS, n_resamples=300, seed=5)
    _, ci3 = retrieval_metrics(ranks, ALL_KEYS, n_resamples=300, seed=6)
    assert v1 == v2 and ci1 == ci2 and ci1 != ci3
    for key in ALL_KEYS:
        assert ci1[key][0] <= v1[key] <= ci1[key][1]
    assert ci1["t2a/R@1"][0] < ci1["t2a/R@1"][1]


def test_chance_levels_match_simulated_random_rankings():
    rng = np.random.default_rng(0)
    n_candidates, n_queries = 23, 20000
    counts = rng.integers(1, 6, size=n_queries)
    relevant = relevance_matrix([rng.choice(n_candidates, size=c, replace=False) for c in counts])
    ranks = rank_scores(rng.random((n_queries, n_candidates)), relevant)
    values, _ = retrieval_metrics({"t2a": ranks, "a2t": ranks}, ["a2t/R@1", "a2t/R@5", "a2t/R@10", "a2t/mAP@10", "a2t/mean_rank"], n_resamples=0)
    for key, value in values.items():
        expected = chance_level(key, n_candidates, counts)
        assert expected == pytest.approx(value, rel=0.03), key
    assert chance_level("t2a/R@1", 50, np.ones(10)) == pytest.approx(1 / 50)
    assert chance_level("t2a/mAP@10", 50, np.ones(10)) == pytest.approx(sum(1 / r for r in range(1, 11)) / 50)
    assert chance_level("a2t/median_rank", 50, np.ones(10)) is None


def test_clip_bootstrap_equals_brute_force_expansion_of_drawn_clips():
    """Clips are the resampled unit: each resample's t2a metric is that of the captions of the drawn clips
    (a clip drawn twice brings its captions twice), computed here by expanding the draw into a plain list."""
    rng = np.random.default_rng(3)
    caption_clip = random_captions(rng, 25)
    audio = rng.standard_normal((25, 6))
    text = audio[caption_clip] + 1.5 * rng.standard_normal((len(caption_clip), 6))
    ranks = retrieval_ranks(audio, text, caption_clip)
    b, seed = 200, 9
    values, intervals = retrieval_metrics(ranks, ALL_KEYS, n_resamples=b, seed=seed, caption_clip=caption_clip)
    draws = np.random.default_rng(seed).integers(0, 25, size=(b, 25))  # the draw retrieval_metrics makes
    captions_of = [np.flatnonzero(caption_clip == c) for c in range(25)]
    for key in ALL_KEYS:
        direction, metric = key.split("/")
        r = ranks[direction]
        per_resample = []
        for row in draws:
            queries = np.concatenate([captions_of[c] for c in row]) if direction == "t2a" else row
            best, ap = r.best_rank[queries], r.ap10[queries]
            per_resample.append(brute_metrics(best, ap)[metric])
        lo, hi = np.percentile(per_resample, [2.5, 97.5])
        scale = max(1.0, abs(hi))
        assert intervals[key] == pytest.approx([lo, hi], abs=1e-12 * scale), key
        assert values[key] == pytest.approx(brute_metrics(r.best_rank, r.ap10)[metric], abs=1e-12 * scale), key
