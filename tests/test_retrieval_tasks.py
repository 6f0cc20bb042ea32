"""Clotho and AudioCaps in their official layouts, end to end through `clapbench run`."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import run_cli

from clapbench.data import read_dataset
from clapbench.audio.synth import synth_sound
from clapbench.errors import DataError, TaskError
from clapbench.embedding import embed_clips, embed_texts
from clapbench.evaluations.retrieval import check_retrieval_task
from clapbench.models import load_model
from clapbench.registry import registry

SR = 16000

# ---- a plugin model for which retrieval is easy, and lopsided on purpose --------------------------
# Audio: one-hot of the log-spaced band holding the clip's loudest frequency. Text: one-hot of the
# band of the first "<number> Hz/hertz" in the caption; a caption with no number is the uniform
# vector, equally similar to every clip. So precise captions find their clip (and vice versa), but a
# vague caption ties with every clip: text-to-audio loses exactly those queries, audio-to-text loses
# nothing (a clip's vague caption still beats every other clip's precise ones). A swap of the two
# directions, or of caption -> clip bookkeeping, changes the scores.
BANDS = np.geomspace(100, 7000, 32)


def _band(freq: float) -> int:
    return int(np.argmin(np.abs(np.log(BANDS) - np.log(freq))))


class BandModel:
    sample_rate = SR

    def embed_audio(self, waves):
        out = np.zeros((len(waves), len(BANDS)), dtype=np.float32)
        for row, wave in enumerate(waves):
            spectrum = np.abs(np.fft.rfft(wave))
            out[row, _band(np.fft.rfftfreq(len(wave), 1 / SR)[np.argmax(spectrum[1:]) + 1])] = 1
        return out

    def embed_text(self, texts):
        out = np.ones((len(texts), len(BANDS)), dtype=np.float32)
        for row, text in enumerate(texts):
            m = re.search(r"(\d+)\s*(hz|hertz)", text, re.IGNORECASE)
            if m:
                out[row] = 0
                out[row, _band(float(m.group(1)))] = 1
        return out


def band_model():
    return BandModel()


PLUGIN = f"{__name__}:band_model"


def _tone(freq: float, seconds: float = 1.5, sr: int = 44100) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _precise(freq: int) -> list[str]:
    return [f"a pure tone at {freq} Hz", f"someone plays a {freq} hertz beep", f"a steady {freq} Hz whistle",
            f"an electronic {freq} hz sound", f"a test signal of {freq} Hz"]


# ---- official layouts ------------------------------------------------------------------------------

CLOTHO_CLIPS = [  # file name (spaces, a comma, punctuation), tone, captions (fewer than five for the first)
    ("Steady beep, no. 1.wav", 250, ["a steady electronic tone", "a pure tone at 250 Hz", "", "", ""]),
    ("Birds 02 (morning).wav", 500, _precise(500)),
    ("metal_door creak.wav", 1000, _precise(1000)),
    ("rain on a roof - heavy.wav", 2000, _precise(2000)),
    ("Train passing-by.wav", 4000, _precise(4000)),
]


def make_clotho_layout(root: Path, clips=CLOTHO_CLIPS, encoding: str = "utf-8") -> Path:
    """clotho_captions_evaluation.csv + evaluation/<file_name>, as the Zenodo archives extract."""
    (root / "evaluation").mkdir(parents=True, exist_ok=True)
    with open(root / "clotho_captions_evaluation.csv", "w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh)
        writer.writerow(["file_name", "caption_1", "caption_2", "caption_3", "caption_4", "caption_5"])
        for name, freq, captions in clips:
            writer.writerow([name, *captions])
            sf.write(root / "evaluation" / name, _tone(freq), 44100)
    return root


AUDIOCAPS_CLIPS = [  # youtube_id, start_time, tone, file name (None: not downloaded), captions
    ("r1nicOVtvkQ", "130", 250, "r1nicOVtvkQ_130.wav", ["water pours", "a pure tone at 250 Hz"]),
    ("-UDGBjjwyaq", "20", 500, "Y-UDGBjjwyaq.flac", _precise(500)),  # leading dash, AudioSet style, FLAC
    ("pgLXVFvo5GI", "27", 1000, "YpgLXVFvo5GI_27.000_37.000.wav", _precise(1000)[:3]),
    ("aaaaaaaaaaa", "0", 2000, "aaaaaaaaaaa_0.wav", _precise(2000)),
    ("bbbbbbbbbbb", "30", 4000, None, _precise(4000)),  # missing locally
    ("ccccccccccc", "40", 3000, "ccccccccccc_40.wav", _precise(3000)),
]


def make_audiocaps_layout(root: Path, clips=AUDIOCAPS_CLIPS, seed: int = 0) -> Path:
    """test.csv (one row per caption, rows of a clip not adjacent) + test/<local names>."""
    (root / "test").mkdir(parents=True, exist_ok=True)
    rows, next_id = [], 90000
    for youtube_id, start, freq, filename, captions in clips:
        for caption in captions:
            rows.append([str(next_id), youtube_id, start, caption])
            next_id += 1
        if filename:
            fmt = filename.rsplit(".", 1)[1].upper()
            sf.write(root / "test" / filename, _tone(freq), 44100, format=fmt)
    rows = [rows[i] for i in np.random.default_rng(seed).permutation(len(rows))]
    with open(root / "test.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["audiocap_id", "youtube_id", "start_time", "caption"])
        writer.writerows(rows)
    return root


@pytest.fixture
def clotho_dir(tmp_path) -> Path:
    return make_clotho_layout(tmp_path / "clotho")


@pytest.fixture
def audiocaps_dir(tmp_path) -> Path:
    return make_audiocaps_layout(tmp_path / "audiocaps")


def _run(model, task, data, out, *extra):
    return run_cli("run", "--model", model, "--tasks", task, "--data", f"{task}={data}", "--output", out,
                   "--workers", "0", "--bootstrap", "200", "--save-predictions", *extra)


# ---- brute-force recomputation from a model's own embeddings -----------------------------------------


def brute_force_scores(audio: np.ndarray, text: np.ndarray, caption_clip: np.ndarray) -> tuple[dict[str, float], dict[str, list[int]]]:
    """Full rankings in float64 cosine, irrelevant before relevant on ties; LAION formulas."""
    a = audio / np.linalg.norm(audio, axis=1, keepdims=True)
    t = text / np.linalg.norm(text, axis=1, keepdims=True)
    sim = a.astype(np.float64) @ t.astype(np.float64).T
    out, best_ranks = {}, {}
    for direction, scores, relevant in (
        ("t2a", sim.T, [{int(c)} for c in caption_clip]),
        ("a2t", sim, [set(np.flatnonzero(caption_clip == i).tolist()) for i in range(len(a))]),
    ):
        best, aps = [], []
        for q, rel in enumerate(relevant):
            order = sorted(range(scores.shape[1]), key=lambda j: (-scores[q, j], j in rel, j))
            pos = sorted(order.index(j) + 1 for j in rel)
            best.append(pos[0])
            aps.append(sum(i / r for i, r in enumerate(pos, 1) if r <= 10) / len(rel))
        best = np.array(best)
        out.update({f"{direction}/R@{k}": float(np.mean(best <= k)) for k in (1, 5, 10)})
        out[f"{direction}/mAP@10"] = float(np.mean(aps))
        out[f"{direction}/median_rank"] = float(math.floor(np.median(best)))
        out[f"{direction}/mean_rank"] = float(np.mean(best))
        best_ranks[direction] = best.tolist()
    return out, best_ranks


# ---- task files ------------------------------------------------------------------------------------


def test_task_files_are_registered_in_the_msclap_group():
    reg = registry()
    for name in ("clotho", "audiocaps"):
        spec = reg[name]
        assert spec.eval_type == "retrieval" and spec.domain == "retrieval"
        assert "msclap-2023" in spec.groups and spec.citation and spec.version
        keys, per_direction = check_retrieval_task(spec)
        assert per_direction == {"t2a": "t2a/R@1", "a2t": "a2t/R@1"} and spec.main_metric in keys


def test_bad_main_metric_is_a_task_error():
    spec = registry()["clotho"]
    bad = type(spec)(**{**spec.__dict__, "evaluation": {**spec.evaluation, "main_metric": "t2a/mean_rank"}})
    with pytest.raises(TaskError, match="higher is better"):
        check_retrieval_task(bad)
    swapped = type(spec)(**{**spec.__dict__, "evaluation": {**spec.evaluation, "direction_main_metrics": {"t2a": "a2t/R@1", "a2t": "a2t/R@1"}}})
    with pytest.raises(TaskError, match="other direction"):
        check_retrieval_task(swapped)


# ---- readers ---------------------------------------------------------------------------------------


def test_clotho_reader_keeps_exact_names_and_drops_empty_captions(clotho_dir):
    ds = read_dataset(clotho_dir, registry()["clotho"].dataset)
    assert [i.path for i in ds.items] == [f"evaluation/{name}" for name, _, _ in CLOTHO_CLIPS]
    assert ds.items[0].captions == ("a steady electronic tone", "a pure tone at 250 Hz")
    assert all(len(i.captions) == 5 for i in ds.items[1:])
    assert ds.classes == [] and ds.info["empty_captions_dropped"] == 3 and ds.info["encoding"] == "utf-8-sig"


def test_clotho_reader_falls_back_to_latin1(tmp_path):
    clips = [("Caf\u00e9 ambience.wav", 300, ["people talk in a caf\u00e9"] * 5), *CLOTHO_CLIPS[1:3]]
    root = make_clotho_layout(tmp_path / "latin", clips, encoding="ISO-8859-1")
    with pytest.raises(UnicodeDecodeError):
        (root / "clotho_captions_evaluation.csv").read_text(encoding="utf-8")
    ds = read_dataset(root, registry()["clotho"].dataset)
    assert ds.info["encoding"] == "ISO-8859-1"
    assert ds.items[0].path == "evaluation/Caf\u00e9 ambience.wav" and ds.items[0].captions[0] == "people talk in a caf\u00e9"


def test_audiocaps_reader_groups_rows_and_finds_names(audiocaps_dir):
    ds = read_dataset(audiocaps_dir, registry()["audiocaps"].dataset)
    present = [c for c in AUDIOCAPS_CLIPS if c[3]]
    assert [i.path for i in ds.items] == [f"test/{c[3]}" for c in sorted(present, key=lambda c: _first_row(audiocaps_dir, c))]
    by_path = {i.path: i for i in ds.items}
    for youtube_id, start, _, filename, captions in present:
        assert sorted(by_path[f"test/{filename}"].captions) == sorted(captions)
    assert ds.info["n_listed"] == 6 and ds.info["n_missing"] == 1 and ds.info["n_found"] == 5
    assert ds.info["missing_examples"] == ["bbbbbbbbbbb_30"]
    assert ds.info["matched_by_pattern"] == {"{youtube_id}_{start_time}": 3, "Y{youtube_id}": 1, "Y{youtube_id}_{start_3f}_{end_3f}": 1}


def _first_row(root: Path, clip) -> int:
    table = pd.read_csv(root / "test.csv", dtype=str)
    return int(np.flatnonzero((table.youtube_id == clip[0]) & (table.start_time == clip[1]))[0])


def test_audiocaps_reader_rejects_a_file_shared_by_two_clips(tmp_path):
    clips = [("dupdupdupdu", "10", 500, "Ydupdupdupdu.wav", ["a 500 Hz tone"]), ("dupdupdupdu", "50", 900, None, ["a 900 Hz tone"])]
    root = make_audiocaps_layout(tmp_path / "dup", clips)
    with pytest.raises(DataError, match="matches two clips"):
        read_dataset(root, registry()["audiocaps"].dataset)


def test_audiocaps_metadata_under_dataset_folder_and_audio_folder(tmp_path):
    root = make_audiocaps_layout(tmp_path / "ac")
    (root / "dataset").mkdir()
    (root / "test.csv").rename(root / "dataset" / "test.csv")
    (root / "test").rename(root / "audio")
    ds = read_dataset(root, registry()["audiocaps"].dataset)
    assert len(ds.items) == 5 and all(i.path.startswith("audio/") for i in ds.items)


# ---- end to end ------------------------------------------------------------------------------------


def test_clotho_end_to_end_tiny_model_matches_brute_force(tiny_model, clotho_dir, tmp_path):
    out = tmp_path / "results"
    res = _run(tiny_model, "clotho", clotho_dir, out)
    assert res.exit_code == 0, res.output
    result = json.loads((out / "tiny-clap" / "clotho.json").read_text())
    assert result["evaluation"] == "retrieval" and result["main_metric"] == "t2a/R@1"
    assert result["n_items"] == 5 and result["n_clips"] == 5 and result["n_captions"] == 22
    assert result["n_listed"] == 5 and result["n_missing"] == 0
    assert result["chance"] == pytest.approx(1 / 5)

    # Recompute from the model's own embeddings, independently of the retrieval code.
    loaded = load_model(str(tiny_model), device="cpu", seed=0)
    ds = read_dataset(clotho_dir, registry()["clotho"].dataset)
    audio = embed_clips(loaded, [ds.absolute(i) for i in ds.items], batch_size=32, workers=0)
    captions = [c for i in ds.items for c in i.captions]
    caption_clip = np.repeat(np.arange(len(ds.items)), [len(i.captions) for i in ds.items])
    expected, best = brute_force_scores(audio, embed_texts(loaded, captions), caption_clip)
    assert set(result["metrics"]) == set(expected)
    for key, value in expected.items():
        assert result["metrics"][key] == pytest.approx(value, abs=1e-12), key
        lo, hi = result["ci95"][key]
        assert lo <= result["metrics"][key] <= hi

    pred = pd.read_csv(out / "tiny-clap" / "clotho.predictions.csv", keep_default_na=False)
    assert list(pred.columns[:5]) == ["direction", "query", "clip", "rank", "top1"]
    t2a, a2t = pred[pred.direction == "t2a"], pred[pred.direction == "a2t"]
    assert t2a["query"].tolist() == captions and t2a["rank"].tolist() == best["t2a"]
    assert a2t["query"].tolist() == [i.path for i in ds.items] and a2t["rank"].tolist() == best["a2t"]
    assert (t2a["top1_correct"] == (t2a["rank"] == 1)).all() and (a2t["top1_correct"] == (a2t["rank"] == 1)).all()


def test_easy_plugin_retrieval_keeps_directions_apart(clotho_dir, tmp_path):
    out = tmp_path / "results"
    res = _run(PLUGIN, "clotho", clotho_dir, out)
    assert res.exit_code == 0, res.output
    result = json.loads(next((out).glob("*/clotho.json")).read_text())
    m = result["metrics"]
    n_captions = 22  # 1 vague + 21 precise; the vague one ties with all 5 clips -> rank 5
    assert m["t2a/R@1"] == pytest.approx(21 / n_captions) and m["t2a/R@5"] == 1
    assert m["t2a/mAP@10"] == pytest.approx((21 + 1 / 5) / n_captions)
    assert m["t2a/mean_rank"] == pytest.approx((21 + 5) / n_captions) and m["t2a/median_rank"] == 1
    assert m["a2t/R@1"] == 1 and m["a2t/mAP@10"] == pytest.approx(1) and m["a2t/mean_rank"] == 1
    assert result["direction_main_metrics"]["a2t"]["score"] == 1
    pred = pd.read_csv(next(out.glob("*/clotho.predictions.csv")), keep_default_na=False)
    vague = pred[pred["query"] == "a steady electronic tone"].iloc[0]
    assert vague["rank"] == 5 and not vague["top1_correct"]  # the tie counts against the query
    correct = pred[pred["query"] == "someone plays a 2000 hertz beep"].iloc[0]
    assert correct["top1"] == "evaluation/rain on a roof - heavy.wav" and correct["rank"] == 1


def test_audiocaps_end_to_end_reports_missing_clips(audiocaps_dir, tmp_path):
    out = tmp_path / "results"
    res = _run(PLUGIN, "audiocaps", audiocaps_dir, out)
    assert res.exit_code == 0, res.output
    result = json.loads(next(out.glob("*/audiocaps.json")).read_text())
    assert result["n_listed"] == 6 and result["n_missing"] == 1 and result["n_clips"] == 5
    assert "1 of the 6 listed clips have no local audio" in " ".join(res.output.split())
    assert result["dataset_info"]["coverage"] == pytest.approx(5 / 6)
    n_captions = 2 + 5 + 3 + 5 + 5  # the missing clip's captions are not queries
    assert result["n_captions"] == n_captions
    m = result["metrics"]
    assert m["t2a/R@1"] == pytest.approx((n_captions - 1) / n_captions)  # "water pours" ties with all clips
    assert m["a2t/R@1"] == 1 and m["a2t/mAP@10"] == pytest.approx(1)


# ---- malformed copies --------------------------------------------------------------------------------


def _assert_clean_failure(res, out: Path, *needles: str):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    text = " ".join(res.output.split())  # rich may wrap long paths
    for needle in needles:
        assert needle in text, (needle, res.output)
    assert not list(out.glob("*/*.json"))


def test_clotho_missing_column_exits_2(clotho_dir, tmp_path):
    meta = clotho_dir / "clotho_captions_evaluation.csv"
    table = pd.read_csv(meta, dtype=str, keep_default_na=False).drop(columns=["caption_3"])
    table.to_csv(meta, index=False)
    out = tmp_path / "results"
    _assert_clean_failure(_run(PLUGIN, "clotho", clotho_dir, out), out, "clotho_captions_evaluation.csv", "caption_3")


def test_clotho_missing_audio_exits_2(tmp_path):
    # brackets in a Freesound title must reach the message verbatim (not be read as console markup)
    clips = [*CLOTHO_CLIPS[:2], ("Birds [stereo] take 2.wav", 800, _precise(800)), ("Loop [bold] 3.wav", 900, _precise(900))]
    root = make_clotho_layout(tmp_path / "clotho", clips)
    (root / "evaluation" / "Birds [stereo] take 2.wav").unlink()
    out = tmp_path / "results"
    _assert_clean_failure(_run(PLUGIN, "clotho", root, out), out, "evaluation/Birds [stereo] take 2.wav", "not found")
    (root / "evaluation" / "Loop [bold] 3.wav").unlink()
    _assert_clean_failure(_run(PLUGIN, "clotho", root, out), out, "Birds [stereo] take 2.wav", "(and 1 more)")


def test_audiocaps_below_min_coverage_exits_2(audiocaps_dir, tmp_path):
    for name in ("r1nicOVtvkQ_130.wav", "aaaaaaaaaaa_0.wav", "ccccccccccc_40.wav"):
        (audiocaps_dir / "test" / name).unlink()
    out = tmp_path / "results"
    _assert_clean_failure(_run(PLUGIN, "audiocaps", audiocaps_dir, out), out, "test.csv", "only 2 of the 6", "min_coverage")


def test_audiocaps_missing_column_exits_2(audiocaps_dir, tmp_path):
    meta = audiocaps_dir / "test.csv"
    pd.read_csv(meta, dtype=str).drop(columns=["start_time"]).to_csv(meta, index=False)
    out = tmp_path / "results"
    _assert_clean_failure(_run(PLUGIN, "audiocaps", audiocaps_dir, out), out, "test.csv", "start_time")


def test_limited_run_keeps_the_copy_coverage(audiocaps_dir, tmp_path):
    out = tmp_path / "results"
    res = _run(PLUGIN, "audiocaps", audiocaps_dir, out, "--limit", "3")
    assert res.exit_code == 0, res.output
    result = json.loads(next(out.glob("*/audiocaps.json")).read_text())
    assert result["limited"] and result["n_clips"] == 3
    assert result["n_listed"] == 6 and result["n_missing"] == 1  # about the copy, not the sample
