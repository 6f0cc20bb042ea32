"""The pe-audio family: tiny seeded PE-A / PE-A-Frame / PE-AV folders built offline, against transformers' own calls."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from family_fixtures import golden_waves
from pe_fixtures import build_tiny_pe_audio
from test_retrieval_tasks import make_clotho_layout

from clapbench.audio import load_audio
from clapbench.embedding import embed_clips
from clapbench.models import load_model

RATE = 48000
TEXTS = ["a dog barking", "rain falling on a roof", "a low tone"]
SECONDS = [0.5, 1.2, 0.77, 1.5]  # mixed lengths; 0.77 s is not a multiple of the 40 ms hop (reflect-padded)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pe")
    # PE-AV reuses PE-A's seed: its audio-text part must embed exactly as the PE-A folder does
    return {v: build_tiny_pe_audio(root / v, v, seed=s) for v, s in (("pe-a", 0), ("pe-a-frame", 1), ("pe-av", 0))}


@pytest.fixture(scope="module")
def waves():
    return golden_waves(RATE, SECONDS, seed=3)


@functools.cache
def transformers_model(folder: Path, frames: bool):
    from transformers import PeAudioFrameLevelModel, PeAudioModel, PeAudioProcessor

    return PeAudioProcessor.from_pretrained(folder), (PeAudioFrameLevelModel if frames else PeAudioModel).from_pretrained(folder).eval()


@functools.cache
def clapbench_model(folder: Path):
    return load_model(str(folder), device="cpu")


def reference(folder: Path, waves, frames: bool = False):
    """transformers' own forward on the processor's inputs, one clip at a time; and on the texts."""
    processor, model = transformers_model(folder, frames)
    text = processor.tokenizer(TEXTS, padding=True, return_tensors="pt")
    audio = []
    with torch.inference_mode():
        for w in waves:
            inputs = processor.feature_extractor(w, sampling_rate=RATE, return_tensors="pt")
            out = model(input_ids=text["input_ids"], attention_mask=text["attention_mask"], **inputs)
            audio.append(out.audio_embeds[0].numpy())
    return np.stack(audio) if not frames else audio, out.text_audio_embeds.numpy()


def close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))


def test_folders_are_detected_from_their_config(folders):
    for variant, folder in folders.items():
        loaded = clapbench_model(folder)
        assert (loaded.kind, loaded.family, loaded.variant) == ("pe-audio", "pe-audio", variant)
        p = loaded.preprocessing
        assert p["sample_rate"] == RATE and p["hop_length"] == 1920 and p["frame_rate"] == 25.0 and p["clip_seconds"] is None
        assert "embedded whole" in p["truncation"] and len(loaded.sha256) == 64
        assert hasattr(loaded.model, "embed_audio_frames") == (variant == "pe-a-frame")


@pytest.mark.parametrize("variant", ["pe-a", "pe-a-frame", "pe-av"])
def test_clip_and_text_embeddings_equal_transformers_on_a_mixed_length_batch(folders, waves, variant):
    ref_folder = folders["pe-a" if variant == "pe-av" else variant]
    want_audio, want_text = reference(ref_folder, waves)
    model = clapbench_model(folders[variant]).model
    close(model.embed_audio(waves), want_audio)  # one batch of four lengths
    close(model.embed_audio(waves[::-1])[::-1], want_audio)
    close(model.embed_text(TEXTS), want_text)


def test_frame_embeddings_equal_transformers_and_cover_the_clip(folders, waves):
    want, _ = reference(folders["pe-a-frame"], waves, frames=True)
    model = clapbench_model(folders["pe-a-frame"]).model
    got = model.embed_audio_frames(waves)
    for g, w, wave in zip(got, want, waves):
        assert g.shape == w.shape == (int(np.ceil(len(wave) / 1920)), 32)
        close(g, w)


def test_worker_processes_embed_as_transformers_does(folders, esc50_dir):
    loaded = clapbench_model(folders["pe-a"])
    paths = sorted(str(p) for p in (esc50_dir / "audio").iterdir())[:3]
    local = embed_clips(loaded, paths, batch_size=2, workers=0)
    pooled = embed_clips(loaded, paths, batch_size=2, workers=1)
    want, _ = reference(folders["pe-a"], [load_audio(p, RATE) for p in paths])
    close(local, want)
    close(pooled, want)


def test_a_full_run_classification_retrieval_and_frame_probe(folders, esc50_dir, tmp_path):
    clotho = make_clotho_layout(tmp_path / "clotho")
    out = tmp_path / "results"
    tasks = tmp_path / "tasks"  # frame-order over 1 s clips (2 s items), to keep the test short
    tasks.mkdir()
    text = (Path(__file__).parents[1] / "tasks" / "frame-order.yaml").read_text()
    (tasks / "frame-order-short.yaml").write_text(text.replace("name: frame-order", "name: frame-order-short").replace("clip_seconds: 5.0", "clip_seconds: 1.0"))
    res = run_cli("run", "--model", folders["pe-a-frame"], "--tasks", "esc50,clotho,frame-order-short", "--tasks-dir", tasks, "--data", f"esc50={esc50_dir}",
                  "--data", f"clotho={clotho}", "--output", out, "--workers", "0", "--bootstrap", "50", "--limit", "6")
    assert res.exit_code == 0, res.output
    got = {p.stem: json.loads(p.read_text()) for p in (out / "pe-a-frame").glob("*.json")}
    assert sorted(got) == ["clotho", "esc50", "frame-order-short"]
    for r in got.values():
        assert r["model"]["family"] == "pe-audio" and r["model"]["variant"] == "pe-a-frame"
        assert 0.0 <= r["main_score"] <= 1.0 and r["protocol"]["hop_length"] == 1920
    assert got["frame-order-short"]["temporal"]["frames"]["frame_rate"] == 25.0
    board = run_cli("leaderboard", out, "-o", tmp_path / "board.csv")
    assert board.exit_code == 0, board.output
    assert "pe-audio pe-a-frame" in (tmp_path / "board.csv").read_text()
    # the second run reads every clip embedding from the cache and writes the same score
    again = run_cli("run", "--model", folders["pe-a-frame"], "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--output", tmp_path / "again",
                    "--workers", "0", "--bootstrap", "50", "--limit", "6")
    assert again.exit_code == 0 and "6 from the cache" in again.output
    assert json.loads((tmp_path / "again" / "pe-a-frame" / "esc50.json").read_text())["metrics"] == got["esc50"]["metrics"]
    assert run_cli("compare", out / "pe-a-frame", tmp_path / "again" / "pe-a-frame").exit_code == 0
    report = run_cli("report", out, "-o", tmp_path / "report.html")
    assert report.exit_code == 0 and "pe-a-frame" in (tmp_path / "report.html").read_text()


def test_check_model_checks_the_optional_methods(folders):
    res = run_cli("check-model", folders["pe-a-frame"], "--json", "--device", "cpu", "--seconds", "1")
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["family"] == "pe-audio" and report["variant"] == "pe-a-frame" and report["optional"]["fast_path"] == "ok"
    assert report["optional"]["frames"] == "ok (25 frames/s, [25, 25, 25] frames)"
    plain = json.loads(run_cli("check-model", "plugins_temporal:order_hearing_model", "--json").output)
    assert plain["optional"] == {"fast_path": "absent", "frames": "absent", "describe": "absent"}


def test_a_folder_missing_its_processor_or_a_weight_is_refused(folders, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(folders["pe-a"] / name, bare / name)
    res = run_cli("check-model", bare)
    assert res.exit_code == 2 and "cannot load the PeAudioProcessor" in res.output and "preprocessor_config.json" in res.output
    assert "Traceback" not in res.output
    from safetensors.torch import load_file, save_file

    partial = tmp_path / "partial"
    shutil.copytree(folders["pe-a"], partial)
    state = load_file(str(partial / "model.safetensors"))
    save_file({k: v for k, v in state.items() if not k.startswith("audio_head.")}, str(partial / "model.safetensors"), metadata={"format": "pt"})
    res = run_cli("check-model", partial)
    assert res.exit_code == 2 and "the weights do not fit" in res.output and "missing (audio_head." in res.output


def test_a_frame_task_on_a_clip_only_pe_model_is_skipped_with_a_message(folders, esc50_dir, tmp_path):
    res = run_cli("run", "--model", folders["pe-a"], "--tasks", "frame-overlay", "--data", f"esc50={esc50_dir}", "--output", tmp_path)
    assert res.exit_code == 2 and "frame-overlay: skipped" in res.output and "clip embeddings only" in res.output
    assert not list(tmp_path.rglob("*.json"))
