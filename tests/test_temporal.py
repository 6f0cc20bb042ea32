"""Temporal probes (ZSTE 1-5, order-pairs): the items, the pair lists, the scores and the chance levels.

Sources are ESC-50-layout folders whose classes are pure tones of different pitches (plugins_temporal.TONES),
so what each item holds, and where, can be read back with an FFT.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import run_cli
from plugins_temporal import TONES

from clapbench.audio import load_audio
from clapbench.models import load_model
from clapbench.registry import registry
from clapbench.runner import RunOptions, load_task_data
from clapbench.temporal.items import ItemRules, build_variant, overlay, pair_waves, rms
from clapbench.temporal.order import order_scores
from clapbench.temporal.pairs import read_pairs, sample_pairs
from clapbench.temporal.probe import margin

RATE = 16000
C = len(TONES)
PROBES = ["zste-1", "zste-2", "zste-3", "zste-4", "zste-5", "order-pairs"]
HEARING = "plugins_temporal:order_hearing_model"
DEAF = "plugins_temporal:order_deaf_model"


def write_tone_source(root: Path, clips_per_class: int = 6, seed: int = 0, seconds: tuple[float, float] = (4.0, 6.0)) -> Path:
    """ESC-50 layout; clip j lasts seconds[j % 2] (by default 4 s and 6 s, so fitting to 5 s pads and cuts), levels vary 0.1-0.9."""
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    rng = np.random.default_rng(seed)
    rows = []
    for target, (name, pitch) in enumerate(TONES.items()):
        for j in range(clips_per_class):
            t = np.arange(int(seconds[j % 2] * RATE)) / RATE
            wave = rng.uniform(0.1, 0.9) * np.sin(2 * np.pi * pitch * rng.uniform(0.97, 1.03) * t + rng.uniform(0, 2 * np.pi))
            fold, clip_id = j % 5 + 1, 100000 + 1000 * target + j
            filename = f"{fold}-{clip_id}-A-{target}.wav"
            sf.write(root / "audio" / filename, wave.astype(np.float32), RATE)
            rows.append([filename, fold, target, name, "False", clip_id, "A"])
    with open(root / "meta" / "esc50.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def tones(tmp_path_factory) -> Path:
    return write_tone_source(tmp_path_factory.mktemp("tones") / "ESC-50-master")


@pytest.fixture(scope="module")
def dataset(tones):
    spec = registry()["zste-3"]
    return load_task_data(spec, RunOptions(output=Path("unused"), data={"esc50": str(tones)}))


def peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(len(x), 1 / RATE)[spectrum.argmax()])


def band_energy(x: np.ndarray, pitch: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(spectrum[(freqs > pitch * 0.9) & (freqs < pitch * 1.1)].sum())


def pitch_of(dataset, label: int) -> float:
    return TONES[dataset.classes[label]]


def run_probes(model, tones, out, *extra):
    res = run_cli("run", "--model", model, "--tasks", "zste,order-pairs", "--data", f"esc50={tones}", "--output", out, "--workers", "0", "--save-predictions", *extra)
    assert res.exit_code == 0, res.output
    return res


def results(folder: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}


# ---- the items --------------------------------------------------------------------------------


def test_items_hold_the_pitches_they_claim_where_they_claim(dataset):
    rules = ItemRules.from_task(registry()["zste-3"].dataset, "zste-3.yaml")
    n = int(rules.clip_seconds * RATE)
    pairs = sample_pairs(dataset, 12, seed=3)
    level_ratios = []
    for pair in pairs:
        a, b = pair_waves(dataset, pair, RATE, rules)
        pa, pb = pitch_of(dataset, pair.label_a), pitch_of(dataset, pair.label_b)
        ab, ba, both = (build_variant(v, a, b) for v in ("A then B", "B then A", "A while B"))
        assert len(ab) == len(ba) == 2 * n and len(both) == n
        # A's pitch in the first 5 s, B's in the last 5 s; reversed for "B then A" (within the 3% jitter)
        assert abs(peak_hz(ab[:n]) / pa - 1) < 0.04 and abs(peak_hz(ab[n:]) / pb - 1) < 0.04
        assert abs(peak_hz(ba[:n]) / pb - 1) < 0.04 and abs(peak_hz(ba[n:]) / pa - 1) < 0.04
        # a 4 s source clip is zero-padded at its end, a 6 s one cut to its first 5 s
        source_a = load_audio(dataset.absolute(pair.a), RATE)
        k = min(len(source_a), n)
        np.testing.assert_array_equal(ab[:k], source_a[:k])
        assert not ab[k:n].any()
        # the overlay holds both tones at the same level, whatever the sources' levels, and never clips
        ea, eb = band_energy(both, pa), band_energy(both, pb)
        assert 0.9 < ea / eb < 1.1
        assert (ea + eb) / np.sum(np.abs(np.fft.rfft(both)) ** 2) > 0.9  # and little else
        assert np.abs(both).max() <= 1.0
        level_ratios.append(rms(a) / rms(b))
    # the sources' levels did differ, so the matching was put to the test
    assert max(level_ratios) / min(level_ratios) > 2


def test_overlay_of_loud_clips_is_scaled_under_full_scale():
    t = np.arange(RATE) / RATE
    a = np.sign(np.sin(2 * np.pi * 220 * t)).astype(np.float32)  # a full-scale square wave
    b = (0.25 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    mix = overlay(a, b)
    assert np.abs(mix).max() == pytest.approx(1.0, abs=1e-6)
    # after peak scaling the two parts still have equal RMS: mix = g * (a * s_a + b * s_b)
    scale_a = np.dot(mix, a) / np.dot(a, a)
    scale_b = np.dot(mix, b) / np.dot(b, b)
    assert rms(a * scale_a) == pytest.approx(rms(b * scale_b), rel=1e-3)


# ---- the pair lists ---------------------------------------------------------------------------


def test_pair_lists_are_seeded_distinct_and_of_two_classes(dataset):
    first, again, other = sample_pairs(dataset, 40, 0), sample_pairs(dataset, 40, 0), sample_pairs(dataset, 40, 1)
    assert first == again and first != other
    assert all(p.label_a != p.label_b for p in first)
    assert len({frozenset((p.a.path, p.b.path)) for p in first}) == 40
    # a shorter list is the start of a longer one (--limit keeps the first pairs)
    assert sample_pairs(dataset, 10, 0) == first[:10]
    # asking for more than exist gives every cross-class pair once (brute-force count)
    items = dataset.items
    possible = sum(1 for i in range(len(items)) for j in range(i + 1, len(items)) if items[i].labels != items[j].labels)
    everything = sample_pairs(dataset, 10_000, 0)
    assert len(everything) == possible == len({frozenset((p.a.path, p.b.path)) for p in everything})


# ---- chance levels and decisions --------------------------------------------------------------


def test_margin_is_strict_top_k_by_brute_force():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(500, 5)).astype(float)  # many ties
    targets = np.stack([rng.choice(5, size=2, replace=False) for _ in range(500)])
    for row, tgt in zip(range(500), targets):
        others = [scores[row, j] for j in range(5) if j not in tgt]
        expected = min(scores[row, tgt]) > max(others)
        assert (margin(scores[row : row + 1], tgt[None, :])[0] > 0) == expected
        assert (margin(scores[row : row + 1], tgt[:1])[0] > 0) == (scores[row, tgt[0]] > max(np.delete(scores[row], tgt[0])))


def test_stated_chance_levels_match_random_scores():
    """Monte Carlo with i.i.d. scores through the probes' own decision rules (4 standard errors)."""
    rng = np.random.default_rng(1)
    n, c = 200_000, 6

    def close(hits, p):
        assert abs(hits.mean() - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-9, (hits.mean(), p)

    targets = np.stack([np.zeros(n, int), np.ones(n, int)], axis=1)
    close(margin(rng.standard_normal((n, c)), targets[:, 0]) > 0, 1 / c)  # ZSTE-1
    close(margin(rng.standard_normal((n, c)), targets) > 0, 2 / (c * (c - 1)))  # ZSTE-2: top two
    close(margin(rng.standard_normal((n, 3)), targets[:, 0]) > 0, 1 / 3)  # ZSTE-3
    both = np.minimum(margin(rng.standard_normal((n, c)), targets[:, 0]), margin(rng.standard_normal((n, c)), targets[:, 1]))
    close(both > 0, 1 / c**2)  # ZSTE-5: first and second
    s = rng.standard_normal((4, n))
    got = order_scores(*s)
    close(got["text_score"], 1 / 4)
    close(got["audio_score"], 1 / 4)
    close(got["group_score"], 1 / 6)


# ---- models through the CLI -------------------------------------------------------------------


@pytest.fixture(scope="module")
def hearing_run(tones, tmp_path_factory):
    out = tmp_path_factory.mktemp("hearing")
    run_probes(HEARING, tones, out, "--limit", "30")
    return out / "plugins_temporal.order_hearing_model"


def test_model_that_hears_order_is_perfect_and_chance_is_exact(hearing_run, dataset):
    got = results(hearing_run)
    assert sorted(got) == sorted(PROBES)
    for name, r in got.items():
        assert r["main_score"] == 1.0 and r["n_items"] == 30 and r["limited"], name
        assert r["domain"] == "temporal" and r["temporal"]["pairs"]["source_task"] == "esc50"
        assert r["temporal"]["items"]["sample_rate"] == RATE and r["temporal"]["items"]["clip_seconds"] == 5.0
    chance = {name: r["chance"] for name, r in got.items()}
    # C = 4 tone classes; ZSTE-4 draws from all 4*3*2 = 24 captions, as 24 < 50
    expected = {"zste-1": 1 / C, "zste-2": 2 / (C * (C - 1)), "zste-3": 1 / 3, "zste-4": 1 / 24, "zste-5": 1 / C**2, "order-pairs": 1 / 6}
    assert chance == pytest.approx(expected)
    assert got["zste-3"]["chance_by_metric"]["pair_accuracy"] == pytest.approx(1 / 9)
    assert got["order-pairs"]["chance_by_metric"] == pytest.approx({"group_score": 1 / 6, "text_score": 1 / 4, "audio_score": 1 / 4})
    # every task saved the same pair list: the --seed 0 sample of the source
    lists = {name: (hearing_run / f"{name}.pairs.csv").read_text() for name in PROBES}
    assert len(set(lists.values())) == 1
    saved = read_pairs(hearing_run / "zste-3.pairs.csv", dataset)
    assert saved == sample_pairs(dataset, 30, 0)


def test_scores_agree_with_the_per_item_predictions(hearing_run):
    for name in PROBES[:5]:
        r = json.loads((hearing_run / f"{name}.json").read_text())
        pred = pd.read_csv(hearing_run / f"{name}.predictions.csv")
        assert pred["pair"].nunique() == 30
        assert (pred["correct"] == (pred["margin"] > 0)).all()
        assert r["metrics"]["accuracy"] == pytest.approx(pred["correct"].mean())
        if "pair_accuracy" in r["metrics"]:
            assert r["metrics"]["pair_accuracy"] == pytest.approx(pred.groupby("pair")["correct"].all().mean())
    pred = pd.read_csv(hearing_run / "order-pairs.predictions.csv")
    assert ((pred.s_ab_ab > pred.s_ab_ba) & (pred.s_ba_ba > pred.s_ba_ab)).all()
    three = pd.read_csv(hearing_run / "zste-3.predictions.csv")
    row = three.iloc[0]
    assert row["item"] == "A then B" and row["target"] == f"This is a sound of {row['class_a']} before {row['class_b']}"


def test_model_deaf_to_order_fails_the_order_probes(tones, tmp_path):
    run_probes(DEAF, tones, tmp_path, "--limit", "12")
    got = results(tmp_path / "plugins_temporal.order_deaf_model")
    # it hears which sounds are there ...
    assert got["zste-1"]["main_score"] == 1.0 and got["zste-2"]["main_score"] == 1.0
    # ... but not their order: it prefers "A while B", and its ties between orders count as wrong
    for name in ("zste-3", "zste-4", "zste-5"):
        assert got[name]["main_score"] == 0.0, name
    assert got["order-pairs"]["metrics"] == {"group_score": 0.0, "text_score": 0.0, "audio_score": 0.0}


def test_saved_pairs_reproduce_the_items(hearing_run, tones, tmp_path):
    saved = hearing_run / "zste-3.pairs.csv"
    res = run_cli("run", "--model", HEARING, "--tasks", "zste-3", "--data", f"esc50={tones}", "--output", tmp_path / "a", "--workers", "0", "--pairs", saved, "--seed", "7")
    assert res.exit_code == 0, res.output
    again = tmp_path / "a" / "plugins_temporal.order_hearing_model"
    assert (again / "zste-3.pairs.csv").read_text() == saved.read_text()
    r = json.loads((again / "zste-3.json").read_text())
    assert r["temporal"]["pairs"]["from_file"] == str(saved) and r["n_items"] == 30
    # the same seed without --pairs samples anew: another list
    res = run_cli("run", "--model", HEARING, "--tasks", "zste-3", "--data", f"esc50={tones}", "--output", tmp_path / "b", "--workers", "0", "--seed", "7", "--limit", "30")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "b" / "plugins_temporal.order_hearing_model" / "zste-3.pairs.csv").read_text() != saved.read_text()


def test_source_option_builds_items_from_another_task(tones, tmp_path):
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    esc50 = Path(registry()["esc50"].source_file).read_text()
    (tasks_dir / "tones.yaml").write_text(esc50.replace("name: esc50", "name: tones"))
    res = run_cli(
        "run", "--model", HEARING, "--tasks", "zste-5", "--source", "tones", "--tasks-dir", tasks_dir, "--data", f"tones={tones}",
        "--output", tmp_path / "out", "--workers", "0", "--limit", "5", "--prompt", "second=and the second sound is {}", "--save-predictions",
    )
    assert res.exit_code == 0, res.output
    folder = tmp_path / "out" / "plugins_temporal.order_hearing_model"
    r = json.loads((folder / "zste-5@tones.json").read_text())
    assert r["task"] == "zste-5@tones" and r["temporal"]["pairs"]["source_task"] == "tones" and r["main_score"] == 1.0
    # the overridden wording is the one used and recorded; the other keeps the task file's
    assert r["temporal"]["prompts"] == {"first": "In this concatenated sound, the first sound is {}", "second": "and the second sound is {}"}
    assert (folder / "zste-5@tones.pairs.csv").is_file() and (folder / "zste-5@tones.predictions.csv").is_file()


def test_random_tiny_clap_scores_near_chance(tiny_model, tones, tmp_path):
    out = tmp_path / "out"
    run_probes(tiny_model, tones, out, "--limit", "8")
    got = results(out / "tiny-clap")
    for name, r in got.items():
        lo, hi = r["ci95"][r["main_metric"]]
        assert lo <= r["main_score"] <= hi
        # a random model cannot hear order: no probe far from chance (loose, for 8 pairs)
        assert abs(r["main_score"] - r["chance"]) <= 0.35, (name, r["main_score"], r["chance"])
    # independent computation of the order test: items built here with numpy, embedded through the model
    loaded = load_model(str(tiny_model), device="cpu")
    pred = pd.read_csv(out / "tiny-clap" / "order-pairs.predictions.csv")
    n = 5 * loaded.sample_rate

    def fit(path):
        wave = load_audio(tones / path, loaded.sample_rate)[:n]
        return np.pad(wave, (0, n - len(wave)))

    ab, ba = [], []
    for row in pred.itertuples():
        a, b = fit(row.path_a), fit(row.path_b)
        ab.append(np.concatenate([a, b]))
        ba.append(np.concatenate([b, a]))
    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    e_ab, e_ba = unit(loaded.model.embed_audio(ab)), unit(loaded.model.embed_audio(ba))
    t_ab, t_ba = unit(loaded.model.embed_text(list(pred.caption_ab))), unit(loaded.model.embed_text(list(pred.caption_ba)))
    s = {"ab_ab": (e_ab * t_ab).sum(1), "ab_ba": (e_ab * t_ba).sum(1), "ba_ab": (e_ba * t_ab).sum(1), "ba_ba": (e_ba * t_ba).sum(1)}
    for key, values in s.items():
        np.testing.assert_allclose(pred[f"s_{key}"], values, atol=1e-4)
    group = ((s["ab_ab"] > s["ab_ba"]) & (s["ba_ba"] > s["ba_ab"]) & (s["ab_ab"] > s["ba_ab"]) & (s["ba_ba"] > s["ab_ba"])).mean()
    assert got["order-pairs"]["metrics"]["group_score"] == pytest.approx(group)


# ---- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tasks", "zste-3", "--source", "nosuch"], "'nosuch' is not a known task"),
        (["--tasks", "esc50", "--pairs", "x.csv"], "applies only to tasks built from a source task"),
        (["--tasks", "zste-3", "--prompt", "first=the first is {}"], "no chosen task has a prompt 'first'"),
        (["--tasks", "zste-3", "--prompt", "before"], "expected KEY=TEXT"),
    ],
)
def test_bad_options_are_refused_before_any_work(args, message, tones, tmp_path):
    res = run_cli("run", "--model", HEARING, "--data", f"esc50={tones}", "--output", tmp_path, *args)
    assert res.exit_code == 2 and message in res.output, res.output
    assert not list(tmp_path.rglob("*.json"))


def test_bad_prompt_and_bad_pair_list_give_one_clear_error(hearing_run, tones, tmp_path):
    res = run_cli("run", "--model", HEARING, "--tasks", "zste-3", "--data", f"esc50={tones}", "--output", tmp_path / "o", "--prompt", "before=the sound of {a} then something")
    assert res.exit_code == 2 and "must hold {a} and {b}" in res.output, res.output
    table = pd.read_csv(hearing_run / "zste-3.pairs.csv")
    table.loc[3, "class_b"] = "a class it is not"
    bad = tmp_path / "bad.csv"
    table.to_csv(bad, index=False)
    res = run_cli("run", "--model", HEARING, "--tasks", "order-pairs", "--data", f"esc50={tones}", "--output", tmp_path / "o", "--pairs", bad)
    assert res.exit_code == 2 and str(bad) in res.output and "row 5" in res.output and "Traceback" not in res.output, res.output
    table.drop(columns="path_a").to_csv(bad, index=False)
    res = run_cli("run", "--model", HEARING, "--tasks", "order-pairs", "--data", f"esc50={tones}", "--output", tmp_path / "o", "--pairs", bad)
    assert res.exit_code == 2 and "missing column(s) path_a" in res.output, res.output
    assert not list((tmp_path / "o").rglob("*.json"))
    res = run_cli("run", "--model", HEARING, "--tasks", "zste", "--output", tmp_path / "o")
    assert res.exit_code == 2 and "--data esc50=PATH" in res.output, res.output


def test_a_source_task_must_be_single_label_classification(tmp_path):
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    esc50 = Path(registry()["esc50"].source_file).read_text()
    (tasks_dir / "tagged.yaml").write_text(esc50.replace("name: esc50", "name: tagged").replace("multilabel: false", "multilabel: true"))
    res = run_cli("run", "--model", HEARING, "--tasks", "zste-1", "--source", "tagged", "--tasks-dir", tasks_dir, "--output", tmp_path / "o")
    assert res.exit_code == 2 and "single-label" in res.output, res.output
    orphan = Path(registry()["zste-1"].source_file).read_text().replace("source_task: esc50", "source_task: nowhere")
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "zste-1.yaml").write_text(orphan)
    res = run_cli("tasks", "--tasks-dir", tmp_path / "more")
    assert res.exit_code == 2 and "source_task 'nowhere' is not a known task" in res.output, res.output
