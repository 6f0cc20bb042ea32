"""Frame-level probes (frame-order, frame-overlay) on tone sources whose answers are known by construction.

Clips are pure tones (test_temporal's source) of 5 s or 4 s (a 4 s clip is zero-padded to 5 s: its last 10 frames are silent, a tie
between the classes, counted wrong), so each item's expected scores follow from the clip lengths alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from plugins_frames import FRAME_RATE
from plugins_temporal import TONES
from test_temporal import write_tone_source

from clapbench.temporal.frames import frame_parts

C = len(TONES)
HEARING = "plugins_frames:frame_hearing_model"
REVERSED = "plugins_frames:frame_reversed_model"
SECONDS = (5.0, 4.0)


def sounding_frames(path: str) -> int:
    """Frames (of 100 ms) in which the clip's tone sounds once fitted to 5 s: 50 for a 5 s clip, 40 for 4 s."""
    clip_id = int(path.split("-")[1])
    return int(round(SECONDS[clip_id % 1000 % 2] * FRAME_RATE))


@pytest.fixture(scope="module")
def tones(tmp_path_factory) -> Path:
    return write_tone_source(tmp_path_factory.mktemp("frame-tones") / "ESC-50-master", clips_per_class=4, seconds=SECONDS)


def run(model, tones, out, *extra):
    res = run_cli("run", "--model", model, "--tasks", "frames", "--data", f"esc50={tones}", "--output", out, "--workers", "0", "--save-predictions", "--limit", "20", *extra)
    assert res.exit_code == 0, res.output
    return {p.stem: json.loads(p.read_text()) for p in (Path(out) / model.replace(":", ".")).glob("*.json")}


@pytest.fixture(scope="module")
def hearing(tones, tmp_path_factory):
    out = tmp_path_factory.mktemp("frames-hearing")
    return run(HEARING, tones, out), out / HEARING.replace(":", ".")


def test_frame_parts_split_at_the_boundary():
    first, second = frame_parts(100, 10.0, 5.0, 10.0)
    assert first.sum() == 50 and second.sum() == 50 and not (first & second).any()
    # frame 12 spans 4.8-5.2 s: it straddles; frame 25 starts at the item's end (10 s): neither is scored
    first, second = frame_parts(26, 2.5, 5.0, 10.0)
    assert first.sum() == 12 and second.sum() == 12 and not (first[12] or second[12] or second[25])


def test_hearing_model_scores_what_its_frames_hold(hearing):
    got, folder = hearing
    order, over = got["frame-order"], got["frame-overlay"]
    pred = pd.read_csv(folder / "frame-order.predictions.csv")
    assert len(pred) == 40 and pred["pair"].nunique() == 20 and (pred["frames"] == 100).all()
    # a clip's tone frames are right, its padded silent frames ties: localisation is the share sounding
    first = np.where(pred["item"] == "A then B", pred["path_a"], pred["path_b"])
    second = np.where(pred["item"] == "A then B", pred["path_b"], pred["path_a"])
    expected = np.array([sounding_frames(a) + sounding_frames(b) for a, b in zip(first, second)]) / 100
    assert pred["localisation"].to_numpy() == pytest.approx(expected, abs=1e-6)
    assert pred["onset_correct"].all() and order["metrics"]["onset_order"] == 1.0 and order["metrics"]["pair_onset_order"] == 1.0
    assert order["metrics"]["localisation"] == pytest.approx(expected.mean(), abs=1e-6)
    assert order["chance_by_metric"] == {"onset_order": 0.5, "pair_onset_order": 0.25, "localisation": 0.5}
    assert order["temporal"]["frames"]["frame_rate"] == FRAME_RATE
    # overlay: both tones sound in min(len A, len B) of its 50 frames; there the two are the top two
    pov = pd.read_csv(folder / "frame-overlay.predictions.csv")
    both = np.array([min(sounding_frames(a), sounding_frames(b)) for a, b in zip(pov["path_a"], pov["path_b"])]) / 50
    assert pov["both_top2"].to_numpy() == pytest.approx(both, abs=1e-6)
    assert over["metrics"]["both_top2"] == pytest.approx(both.mean(), abs=1e-6) and over["metrics"]["majority"] == 1.0
    p = 2 / (C * (C - 1))
    from scipy.stats import binom

    assert over["chance"] == pytest.approx(p)
    assert over["chance_by_metric"]["majority"] == pytest.approx(binom.sf(25, 50, p))


def test_reversed_frames_fail_the_order_probe_but_not_the_overlay(tones, tmp_path):
    got = run(REVERSED, tones, tmp_path)
    assert got["frame-order"]["metrics"]["onset_order"] == 0.0 and got["frame-order"]["metrics"]["localisation"] == 0.0
    assert got["frame-overlay"]["metrics"]["majority"] == 1.0  # an overlay sounds the same backwards


def test_chance_levels_match_random_frame_scores():
    """Monte Carlo with i.i.d. frame scores through the probes' decision rules (4 standard errors)."""
    rng = np.random.default_rng(0)
    n, t = 40_000, 12
    first, second = frame_parts(t, 1.0, 5.0, 12.0)  # 5 frames first, 7 second: unequal parts
    s = rng.standard_normal((n, t, 2))
    d = s[..., 0] - s[..., 1]
    onset = d[:, first].mean(axis=1) > d[:, second].mean(axis=1)
    local = np.concatenate([d[:, first] > 0, d[:, second] < 0], axis=1).mean(axis=1)
    assert abs(onset.mean() - 0.5) < 4 * np.sqrt(0.25 / n)
    assert abs(local.mean() - 0.5) < 4 * np.sqrt(0.25 / (n * t))
    both = onset[: n // 2] & onset[n // 2 :]
    assert abs(both.mean() - 0.25) < 4 * np.sqrt(0.25 * 0.75 / (n // 2))


def test_clip_only_model_skips_frame_tasks_with_a_clear_message(tones, tmp_path):
    res = run_cli("run", "--model", "plugins_temporal:order_hearing_model", "--tasks", "frame-order", "--data", f"esc50={tones}", "--output", tmp_path, "--workers", "0")
    assert res.exit_code == 2
    assert "frame-order: skipped" in res.output and "frame embeddings" in res.output and "Traceback" not in res.output
    assert not list(tmp_path.rglob("*.json"))
    res = run_cli("run", "--model", "plugins_temporal:order_hearing_model", "--tasks", "frame-order,zste-1", "--data", f"esc50={tones}", "--output", tmp_path, "--workers", "0", "--limit", "4")
    assert res.exit_code == 0 and "frame-order: skipped" in res.output
    assert [p.name for p in tmp_path.rglob("*.json")] == ["zste-1.json"]
