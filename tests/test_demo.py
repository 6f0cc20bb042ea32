"""The demo's pieces at a reduced size: the suite builder (numpy fallback and the tools), training, evaluation, leaderboard."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from rich.console import Console

from clapbench.data import read_dataset
from clapbench.demo.run_demo import DemoSize, run_demo
from clapbench.demo.sources import CLASSES, NUMPY_CLASSES, choose_classes, freedesktop_files, write_midi
from clapbench.demo.suite import build_suite
from clapbench.registry import registry


def test_numpy_fallback_when_no_tool_is_there():
    classes, fallback = choose_classes({"espeak-ng": False, "fluidsynth": False, "sox": False, "freedesktop": False})
    assert fallback and classes == NUMPY_CLASSES
    some, fallback = choose_classes({"espeak-ng": True, "fluidsynth": False, "sox": True, "freedesktop": False})
    assert not fallback and {c.tool for c in some} == {"espeak-ng", "sox"} and len(some) == 5


def test_suite_layout_is_read_by_the_real_readers(tmp_path):
    suite = build_suite(tmp_path / "suite", train_per_class=4, eval_per_class=2, retrieval_per_class=1, synth_only=True)
    reg = registry()
    esc = read_dataset(suite.esc50, reg["esc50"].dataset)
    assert esc.classes == [c.name for c in NUMPY_CLASSES]
    train = {i.path for i in esc.items if i.fold in ("1", "2", "3", "4")}
    held_out = {i.path for i in esc.items if i.fold == "5"}
    assert len(train) == 24 and len(held_out) == 12 and not train & held_out
    clotho = read_dataset(suite.clotho, reg["clotho"].dataset)
    assert len(clotho.items) == 6 and all(len(i.captions) == 5 for i in clotho.items)
    # training pairs name only training clips, and never in the evaluation prompts' wording
    with open(suite.pairs, newline="") as fh:
        pairs = list(csv.DictReader(fh))
    assert {Path(p["audio"]).name for p in pairs} == {Path(p).name for p in train}
    eval_wordings = [t.split("{}")[0].strip().lower() for t in reg["esc50"].templates]
    assert not any(p["caption"].lower().startswith(w) for p in pairs for w in eval_wordings if w)
    # the retrieval clips are held-out clips (same audio as fold-5 files)
    fold5 = {sf.read(suite.esc50 / p)[0].tobytes() for p in held_out}
    assert all(sf.read(clotho.root / i.path)[0].tobytes() in fold5 for i in clotho.items)


def test_midi_writer_round_trips_note_timing(tmp_path):
    path = tmp_path / "x.mid"
    write_midi(path, [(0.0, 0.5, 0, 60, 100), (1.0, 1.25, 9, 38, 90)], program=40)
    data = path.read_bytes()
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk"
    track = data[22:]
    assert track[:3] == b"\x00\xc0\x28"  # program change to 40 (violin) at time 0
    assert bytes([0x90, 60, 100]) in track and bytes([0x99, 38, 90]) in track and track.endswith(b"\xff\x2f\x00")


def test_freedesktop_split_keeps_recordings_apart():
    files = freedesktop_files()
    assert not set(files["train"]) & set(files["eval"])


@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None, reason="espeak-ng or sox not installed (scripts/setup-demo.sh)")
def test_tool_sources_make_distinct_reproducible_clips(tmp_path):
    from clapbench.demo.sources import make_clips

    for cls in [c for c in CLASSES if c.tool in ("espeak-ng", "sox")]:
        clips = make_clips(cls, 2, "train", 1.0, seed=0)
        assert len(clips) == 2 and all(len(c.wave) == 48000 and np.abs(c.wave).max() > 0.1 for c in clips)
        assert not np.array_equal(clips[0].wave, clips[1].wave)
        again = make_clips(cls, 2, "train", 1.0, seed=0)  # seeded: the same suite on every run
        assert all(np.array_equal(a.wave, b.wave) for a, b in zip(clips, again))


def test_demo_end_to_end_at_a_reduced_size(tmp_path):
    size = DemoSize(train_per_class=4, eval_per_class=2, retrieval_per_class=1, steps=4, batch_size=8)
    import io

    screen = Console(file=io.StringIO(), width=200)
    out = run_demo(tmp_path / "demo", screen, size=size, synth_only=True)
    printed = " ".join(screen.file.getvalue().split())
    results = out["results"]
    assert set(results) == {"tiny-clap-untrained", "tiny-clap-trained"}
    for model_id, tasks in results.items():
        # the demo's suites have task names of their own: nothing it writes is called esc50 or clotho
        assert sorted(p.name for p in (tmp_path / "demo" / "results" / model_id).glob("*.json")) == ["demo-captions.json", "demo-sounds.json"]
        esc = json.loads((tmp_path / "demo" / "results" / model_id / "demo-sounds.json").read_text())
        assert esc["n_items"] == 12 and esc["folds"] == ["5"] and esc["chance"] == pytest.approx(1 / 6)
        # held-out fold 5 of the suite's 5 folds: a subset of the demo's own 36 clips, never of ESC-50's 2000
        assert esc["subset"]["is_subset"] and esc["subset"]["official_items"] == 36 and esc["subset"]["official_classes"] == 6
        # the accuracy is that of the predictions file
        with open(tmp_path / "demo" / "results" / model_id / "demo-sounds.predictions.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert esc["main_score"] == pytest.approx(np.mean([r["label"] == r["prediction"] for r in rows]))
        assert tasks["demo-captions"].n_items == 6 and not tasks["demo-captions"].subset.is_subset
        # the trained model knows what it was trained on (folds 1-4), and none of it is in the held-out fold
        contamination = esc["contamination"]
        assert (contamination is None) == (model_id == "tiny-clap-untrained")
        assert model_id == "tiny-clap-untrained" or (contamination["n_overlap"] == 0 and contamination["n_items"] == 12)
    trained = json.loads((tmp_path / "demo" / "model" / "training.json").read_text())
    assert trained["steps"] == 4 and (tmp_path / "demo" / "model" / "loss.png").is_file()
    board = (tmp_path / "demo" / "leaderboard.md").read_text()
    assert "tiny-clap-trained" in board and "tiny-clap-untrained" in board
    assert "demo-sounds" in board and "esc50" not in board and "clotho" not in board.split("\n\n")[0]
    assert trained["trained_on"]["n_items"] == 24 and trained["trained_on"]["sources"]
    # it ends with a paired verdict of trained against untrained and a report
    assert sorted(r.task for r in out["compare"]) == ["demo-captions", "demo-sounds"] and all(r.paired for r in out["compare"])
    assert out["report"].is_file() and "tiny-clap-trained" in out["report"].read_text()
    assert "paired comparison: trained vs untrained" in printed and str(out["report"]) in printed and "next, try:" in printed
    assert any(f"{r.verdict}" in printed for r in out["compare"])
