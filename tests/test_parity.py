"""Parity with the reference implementation (transformers' ClapModel + ClapProcessor) on the same weights.

clapbench must give the embeddings that ``get_audio_features`` / ``get_text_features`` give on
``ClapProcessor`` inputs, in-process and through the worker-process loader, and, with a single
template, the predictions of transformers' zero-shot-audio-classification pipeline.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from clapbench.audio import load_audio
from clapbench.embedding import embed_clips
from clapbench.evaluations.zero_shot import zero_shot_classifier
from clapbench.models import load_model
from conftest import run_cli

RATE = 48000
ATOL = 1e-5
PROMPTS = ["This is a sound of dog.", "a recording of rain falling", "the sound of a bell ringing in a church tower far away."]


class Reference:
    """transformers' own path: ClapProcessor inputs into ClapModel.get_*_features."""

    def __init__(self, folder: Path):
        from transformers import ClapModel, ClapProcessor

        self.model = ClapModel.from_pretrained(folder, local_files_only=True).eval()
        self.processor = ClapProcessor.from_pretrained(folder, local_files_only=True)

    @torch.no_grad()
    def audio(self, wave: np.ndarray, is_longer: bool | None = None) -> np.ndarray:
        inputs = self.processor(audio=[wave], sampling_rate=RATE, return_tensors="pt")
        if is_longer is not None:
            inputs["is_longer"] = torch.tensor([[is_longer]])
        return self.model.get_audio_features(**inputs).pooler_output[0].numpy()

    @torch.no_grad()
    def text(self, texts: list[str]) -> np.ndarray:
        inputs = self.processor(text=texts, padding=True, return_tensors="pt")
        return self.model.get_text_features(**inputs).pooler_output.numpy()


def make_clips(seconds: tuple[float, ...], seed: int = 0) -> list[np.ndarray]:
    """Clips at 48 kHz with some structure (a tone plus noise), distinct per clip."""
    rng = np.random.default_rng(seed)
    out = []
    for i, s in enumerate(seconds):
        n = int(round(s * RATE))
        t = np.arange(n) / RATE
        wave = 0.3 * np.sin(2 * np.pi * (300 + 400 * i) * t) + 0.05 * rng.standard_normal(n)
        out.append(wave.astype(np.float32))
    return out


def write_clips(folder: Path, waves: list[np.ndarray]) -> list[str]:
    """Float WAV at 48 kHz: decoding gives back exactly these samples, so both sides see the same audio."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, wave in enumerate(waves):
        path = folder / f"clip{i}.wav"
        sf.write(path, wave, RATE, subtype="FLOAT")
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def tiny_ref(tiny_model):
    return Reference(tiny_model)


@pytest.fixture(scope="module")
def tiny_loaded(tiny_model):
    return load_model(str(tiny_model), device="cpu", seed=0)


def seeded_reference_audio(ref: Reference, wave: np.ndarray, seed: int = 0) -> np.ndarray:
    """The reference on a clip longer than 10 s: rand_trunc draws its crop from numpy's global RNG,
    which clapbench seeds per clip with crc32(samples, seed); seeding the reference the same way
    gives the same crop."""
    np.random.seed(zlib.crc32(np.ascontiguousarray(wave, dtype=np.float32).tobytes(), seed))
    return ref.audio(wave)


def test_audio_embeddings_equal_reference(tiny_loaded, tiny_ref, tmp_path):
    # repeatpad below 10 s, untouched at exactly 10 s, a random crop above
    waves = make_clips((0.7, 3.0, 10.0, 13.5))
    expected = np.stack([tiny_ref.audio(w) for w in waves[:3]] + [seeded_reference_audio(tiny_ref, waves[3])])
    in_process = tiny_loaded.model.embed_audio(waves)
    np.testing.assert_allclose(in_process, expected, atol=ATOL)
    # the production path: decode + features in a worker process, model in this one
    paths = write_clips(tmp_path, waves)
    assert [len(load_audio(p, RATE)) for p in paths] == [len(w) for w in waves]
    through_workers = embed_clips(tiny_loaded, paths, batch_size=3, workers=1)
    np.testing.assert_allclose(through_workers, expected, atol=ATOL)
    # not trivially equal: the clips' embeddings differ from each other
    assert np.abs(expected[0] - expected[1]).max() > 1e-2


def test_text_embeddings_equal_reference(tiny_loaded, tiny_ref):
    expected = tiny_ref.text(PROMPTS)
    np.testing.assert_allclose(tiny_loaded.model.embed_text(PROMPTS), expected, atol=ATOL)
    # one at a time (no padding) gives the same, so batching prompts never changes a class embedding
    alone = np.concatenate([tiny_loaded.model.embed_text([p]) for p in PROMPTS])
    np.testing.assert_allclose(alone, expected, atol=ATOL)


def test_single_template_classifier_is_the_reference_text_embedding(tiny_loaded, tiny_ref):
    prompts = [[p] for p in PROMPTS]
    np.testing.assert_allclose(zero_shot_classifier(tiny_loaded, prompts), tiny_ref.text(PROMPTS), atol=ATOL)


def test_long_clips_are_deterministic_across_runs_and_batches(tiny_model, tiny_loaded, tmp_path):
    waves = make_clips((12.0, 3.0, 15.5), seed=2)
    paths = write_clips(tmp_path, waves)
    a = embed_clips(tiny_loaded, paths, batch_size=3, workers=0)
    b = embed_clips(tiny_loaded, paths, batch_size=3, workers=0)
    c = embed_clips(tiny_loaded, paths[::-1], batch_size=2, workers=0)[::-1]  # position in the batch does not matter
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, c, atol=1e-6)
    # the seed is what fixes the crop: another seed moves the long clips' crops, never the short ones'
    other = embed_clips(load_model(str(tiny_model), device="cpu", seed=1), paths, batch_size=3, workers=0)
    long = np.array([len(w) > 10 * RATE for w in waves])
    assert np.abs(other[long] - a[long]).max() > 1e-4
    np.testing.assert_allclose(other[~long], a[~long], atol=1e-6)


def test_result_scores_identical_across_runs_batch_sizes_and_workers(tiny_model, tmp_path):
    from clapbench.audio.synth import make_esc50_layout

    data = make_esc50_layout(tmp_path / "long", clips_per_class=1, seconds=12.0, sample_rate=32000, seed=3)
    results = []
    for run, (batch, workers) in enumerate(((4, 0), (3, 1))):
        out = tmp_path / f"out{run}"
        res = run_cli("run", "--model", tiny_model, "--tasks", "esc50", "--data", f"esc50={data}", "--output", out,
                      "--batch-size", batch, "--workers", workers, "--save-predictions", "--bootstrap", 200)
        assert res.exit_code == 0, res.output
        result = json.loads((out / "tiny-clap" / "esc50.json").read_text())
        preds = pd.read_csv(out / "tiny-clap" / "esc50.predictions.csv")
        results.append((result["metrics"], result["ci95"], preds))
    for metrics, ci95, preds in results[1:]:
        assert metrics == results[0][0] and ci95 == results[0][1]
        pd.testing.assert_frame_equal(preds, results[0][2])


def test_fused_model_short_clips_equal_reference(tiny_fused_model, tmp_path):
    """For a batch without a long clip the reference feature extractor marks a random clip as long
    (a training-time trick); clapbench gives each clip its own flag. The reference is fed that
    flag, so both compute the same thing."""
    loaded = load_model(str(tiny_fused_model), device="cpu")
    ref = Reference(tiny_fused_model)
    waves = make_clips((1.5, 4.0, 10.0), seed=4)
    expected = np.stack([ref.audio(w, is_longer=False) for w in waves])
    np.testing.assert_allclose(loaded.model.embed_audio(waves), expected, atol=ATOL)
    np.testing.assert_allclose(embed_clips(loaded, write_clips(tmp_path, waves), batch_size=2, workers=0), expected, atol=ATOL)
    np.testing.assert_allclose(loaded.model.embed_text(PROMPTS), ref.text(PROMPTS), atol=ATOL)


def test_predictions_equal_transformers_pipeline(tiny_model, tiny_ref, esc50_dir, tmp_path):
    from transformers import pipeline

    out = tmp_path / "out"
    res = run_cli("run", "--model", tiny_model, "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--output", out,
                  "--template", "This is a sound of {}.", "--folds", "1", "--save-predictions", "--workers", "0", "--bootstrap", 0)
    assert res.exit_code == 0, res.output
    result = json.loads((out / "tiny-clap" / "esc50.json").read_text())
    preds = pd.read_csv(out / "tiny-clap" / "esc50.predictions.csv")
    assert result["protocol"]["templates"] == ["This is a sound of {}."] and len(preds) == 6

    classifier = pipeline("zero-shot-audio-classification", model=tiny_ref.model, feature_extractor=tiny_ref.processor.feature_extractor,
                          tokenizer=tiny_ref.processor.tokenizer, device="cpu")
    labels = [c.replace("_", " ") for c in result["classes"]]
    for row in preds.itertuples():
        ranked = classifier(load_audio(esc50_dir / row.path, RATE), candidate_labels=labels)  # default template
        assert ranked[0]["label"] == row.prediction.replace("_", " "), row.path
        assert [r["label"] for r in ranked[:5]] == [c.replace("_", " ") for c in row.top5.split("|")], row.path
    # the per-clip predictions agree with the score reported
    assert result["metrics"]["accuracy"] == pytest.approx((preds.prediction == preds.label).mean())


# ---- the full-size default ClapConfig (about 150 M parameters) ------------------------------------


@pytest.fixture(scope="session")
def full_size_model(tmp_path_factory) -> Path:
    from clapbench.models.tiny_clap import build_tiny_clap

    return build_tiny_clap(tmp_path_factory.mktemp("models") / "full-size-clap", seed=0, full_size=True)


def test_full_size_model_equals_reference(full_size_model, tmp_path):
    from transformers import ClapConfig

    loaded = load_model(str(full_size_model), device="cpu")
    ref = Reference(full_size_model)
    default = ClapConfig()
    assert ref.model.config.audio_config.hidden_size == default.audio_config.hidden_size
    assert ref.model.config.text_config.hidden_size == default.text_config.hidden_size
    assert sum(p.numel() for p in ref.model.parameters()) > 100e6

    waves = make_clips((2.5, 10.0), seed=6)
    expected = np.stack([ref.audio(w) for w in waves])
    np.testing.assert_allclose(loaded.model.embed_audio(waves), expected, atol=ATOL)
    np.testing.assert_allclose(embed_clips(loaded, write_clips(tmp_path, waves), batch_size=1, workers=1), expected, atol=ATOL)
    np.testing.assert_allclose(loaded.model.embed_text(PROMPTS), ref.text(PROMPTS), atol=ATOL)
