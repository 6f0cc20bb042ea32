"""Embedding cache: hits on an identical rerun; misses when the weights, the preprocessing or an audio
file change; an interrupted run leaves no corrupt entry and a rerun embeds only what is missing."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import run_cli
from rich.console import Console
from toy_models import SR, SpectrumModel, loaded_model

from clapbench import cache as cache_module
from clapbench.cache import EmbeddingCache, audio_identity, cache_usage, default_cache_dir, open_cache
from clapbench.audio.synth import make_esc50_layout, synth_sound
from clapbench.models.tiny_clap import build_tiny_clap
from clapbench.embedding import embed_clips, embed_texts
from clapbench.registry import registry
from clapbench.runner import RunOptions, run_task


@pytest.fixture
def clips(tmp_path) -> tuple[Path, list[str]]:
    root = make_esc50_layout(tmp_path / "data", clips_per_class=2, seconds=1.0, sample_rate=SR, seed=1)
    return root, sorted(str(p) for p in (root / "audio").iterdir())


def embed(model: SpectrumModel, paths, cache_dir, batch_size: int = 4):
    cache, _ = open_cache(loaded_model(model), cache_dir, no_cache=False)
    return embed_clips(loaded_model(model), paths, batch_size=batch_size, workers=0, cache=cache), cache


def entry_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.rglob("*.npy"))


# ---- plugin model: counted calls --------------------------------------------------------------


def test_identical_rerun_embeds_nothing(clips, tmp_path):
    _, paths = clips
    first_model, again_model = SpectrumModel(), SpectrumModel()
    first, c1 = embed(first_model, paths, tmp_path / "cache")
    again, c2 = embed(again_model, paths, tmp_path / "cache")
    assert first_model.clips == 12 and again_model.clips == 0
    assert c1.counts["audio_computed"] == 12 and c2.counts["audio_from_cache"] == 12 and c2.counts["audio_computed"] == 0
    np.testing.assert_array_equal(first, again)
    uncached = embed_clips(loaded_model(SpectrumModel()), paths, batch_size=4, workers=0)
    np.testing.assert_array_equal(first, uncached)  # the cache returns exactly what the model computes


def test_other_weights_or_preprocessing_never_reuse_entries(clips, tmp_path):
    _, paths = clips
    embed(SpectrumModel(), paths, tmp_path / "cache")
    other_weights = SpectrumModel(sha256="5ec7" * 15 + "5ec8")  # one hex digit of the weights hash
    embed(other_weights, paths, tmp_path / "cache")
    assert other_weights.clips == 12
    shorter = SpectrumModel(clip_seconds=0.5)  # same weights, another clip length
    out, _ = embed(shorter, paths, tmp_path / "cache")
    assert shorter.clips == 12
    np.testing.assert_array_equal(out, embed_clips(loaded_model(SpectrumModel(clip_seconds=0.5)), paths, batch_size=4, workers=0))
    assert len({p.parent.parent for p in entry_files(tmp_path / "cache")}) == 3  # three namespaces



def test_entries_are_never_reused_across_batch_sizes(clips, tmp_path):
    """A clip's last bits depend on the batch it was embedded in, so the batch size is part of the key."""
    _, paths = clips
    embed(SpectrumModel(), paths, tmp_path / "cache", batch_size=4)
    other = SpectrumModel()
    _, cache = embed(other, paths, tmp_path / "cache", batch_size=3)
    assert other.clips == 12 and cache.counts["audio_from_cache"] == 0
    same = SpectrumModel()
    embed(same, paths, tmp_path / "cache", batch_size=4)
    assert same.clips == 0
    meta = json.loads((cache.namespace("audio", 3).folder / "namespace.json").read_text())
    assert meta["batch_size"] == 3 and "batch size" in cache.summary()["key"]

def test_rewritten_audio_file_is_embedded_again(clips, tmp_path):
    _, paths = clips
    before, _ = embed(SpectrumModel(), paths, tmp_path / "cache")
    target = paths[3]
    old = os.stat(target)
    rng = np.random.default_rng(99)
    while True:  # other content, same name (and same size); retry until the clock has moved on
        sf.write(target, synth_sound("white_noise", 1.0, SR, rng), SR)
        new = os.stat(target)
        if (new.st_mtime_ns, new.st_size) != (old.st_mtime_ns, old.st_size):
            break
        time.sleep(0.01)
    model = SpectrumModel()
    after, cache = embed(model, paths, tmp_path / "cache")
    assert model.clips == 4 and cache.counts["audio_from_cache"] == 8  # clip 3's batch (clips 0-3), computed whole again
    assert not np.allclose(after[3], before[3])
    np.testing.assert_array_equal(np.delete(after, 3, axis=0), np.delete(before, 3, axis=0))


def test_crash_mid_run_resumes_with_only_the_missing_clips(clips, tmp_path):
    _, paths = clips
    crashing = SpectrumModel(fail_after_batches=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        embed(crashing, paths, tmp_path / "cache", batch_size=4)
    assert len(entry_files(tmp_path / "cache")) == 8 and not list((tmp_path / "cache").rglob("*.tmp"))
    resumed = SpectrumModel()
    out, cache = embed(resumed, paths, tmp_path / "cache", batch_size=4)
    assert resumed.clips == 4 and cache.counts["audio_from_cache"] == 8
    np.testing.assert_array_equal(out, embed_clips(loaded_model(SpectrumModel()), paths, batch_size=4, workers=0))


def test_kill_during_a_write_leaves_no_partial_entry(clips, tmp_path, monkeypatch):
    _, paths = clips
    real_replace, entries = os.replace, []

    def replace_then_die(src, dst):
        if str(dst).endswith(".npy"):
            if len(entries) == 5:
                raise KeyboardInterrupt  # the process dies between writing an entry's temp file and renaming it
            entries.append(dst)
        return real_replace(src, dst)

    monkeypatch.setattr(cache_module.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        embed(SpectrumModel(), paths, tmp_path / "cache")
    monkeypatch.setattr(cache_module.os, "replace", real_replace)
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    complete = entry_files(tmp_path / "cache")
    assert len(complete) == 5
    for p in complete:
        assert np.load(p).shape == (52,)
    model = SpectrumModel()
    embed(model, paths, tmp_path / "cache")
    assert model.clips == 8  # the half-stored batch 1 (clips 4-7) is computed whole again, with batch 2


def test_truncated_entry_is_ignored_and_recomputed(clips, tmp_path):
    _, paths = clips
    first, _ = embed(SpectrumModel(), paths, tmp_path / "cache")
    cache, _ = open_cache(loaded_model(SpectrumModel()), tmp_path / "cache", no_cache=False)
    keys = cache.in_company(cache.audio_keys(paths), 4)
    victim, empty = (cache.namespace("audio", 4).entry_path(keys[i]) for i in (5, 6))  # both in batch 1 (clips 4-7)
    victim.write_bytes(victim.read_bytes()[:100])
    empty.write_bytes(b"")
    model = SpectrumModel()
    again, cache = embed(model, paths, tmp_path / "cache")
    assert model.clips == 4 and cache.counts["audio_from_cache"] == 8
    np.testing.assert_array_equal(first, again)
    assert np.load(victim).shape == (52,)  # rewritten whole


def test_text_cache_keys_the_exact_strings(tmp_path):
    model = SpectrumModel()
    cache, _ = open_cache(loaded_model(model), tmp_path / "cache", no_cache=False)
    prompts = ["the sound of rain.", "the sound of rain", "a dog"]
    first = embed_texts(loaded_model(model), prompts, cache=cache, batch_size=1)  # one prompt per batch: keyed alone
    again = embed_texts(loaded_model(model), prompts[::-1] + ["a dog."], cache=cache, batch_size=1)
    assert model.texts == 4  # only "a dog." is new: a changed character is another entry
    np.testing.assert_array_equal(again[:3], first[::-1])
    assert cache.counts["text_from_cache"] == 3 and cache.counts["text_computed"] == 4
    embed_texts(loaded_model(model), prompts, cache=cache)
    embed_texts(loaded_model(model), prompts[::-1], cache=cache)  # the same strings in another batch: computed again
    assert model.texts == 10 and cache.counts["text_computed"] == 10


def test_no_sha_or_no_cache_disables_caching(clips, tmp_path):
    root, _ = clips
    spec = registry()["esc50"]
    for model, no_cache, reason in [(SpectrumModel(sha256=None), False, "sha256"), (SpectrumModel(), True, "--no-cache")]:
        options = RunOptions(output=tmp_path / "out", data={"esc50": str(root)}, workers=0, overwrite=True, cache_dir=str(tmp_path / "cache"), no_cache=no_cache, n_resamples=10)
        result = run_task(spec, loaded_model(model), options, Console(quiet=True))
        assert result.embedding_cache["enabled"] is False and reason in result.embedding_cache["reason"]
    assert not (tmp_path / "cache").exists()


def test_default_location_follows_xdg(clips, tmp_path, monkeypatch):
    root, _ = clips
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "clapbench"
    options = RunOptions(output=tmp_path / "out", data={"esc50": str(root)}, workers=0, n_resamples=10)
    result = run_task(registry()["esc50"], loaded_model(SpectrumModel()), options, Console(quiet=True))
    assert result.embedding_cache["dir"] == str(tmp_path / "xdg" / "clapbench")
    assert len(entry_files(tmp_path / "xdg" / "clapbench")) == 12 + 24  # clips + prompts (6 classes x 4 templates)


def test_clip_inside_a_container_file_is_identified_by_the_file_and_the_reference(tmp_path):
    container = tmp_path / "part-0.parquet"
    container.write_bytes(b"x" * 10)
    a, b = audio_identity(f"{container}#3"), audio_identity(f"{container}#4")
    assert a is not None and b is not None and a != b
    assert audio_identity(f"{tmp_path / 'missing.parquet'}#3") is None


# ---- the HF tiny model through the CLI: counts recorded in the result files -------------------


@pytest.fixture(scope="module")
def small_esc50(tmp_path_factory) -> Path:
    return make_esc50_layout(tmp_path_factory.mktemp("cache-data") / "ESC-50-master", clips_per_class=2, seconds=1.0, sample_rate=22050, seed=2)


def run_tiny(model: Path, data: Path, out: Path, cache_dir: Path, *extra):
    res = run_cli("run", "--model", model, "--tasks", "esc50", "--data", f"esc50={data}", "--output", out, "--workers", "0",
                  "--cache-dir", cache_dir, "--overwrite", "--bootstrap", "50", *extra)
    assert res.exit_code == 0, res.output
    return json.loads((out / model.name / "esc50.json").read_text())


def test_hf_model_rerun_hits_and_changed_checkpoint_misses(tiny_model, small_esc50, tmp_path):
    cache_dir = tmp_path / "cache"
    cold = run_tiny(tiny_model, small_esc50, tmp_path / "r1", cache_dir)
    c = cold["embedding_cache"]
    assert (c["audio_computed"], c["audio_from_cache"], c["text_computed"], c["text_from_cache"]) == (12, 0, 24, 0)
    warm = run_tiny(tiny_model, small_esc50, tmp_path / "r2", cache_dir)
    c = warm["embedding_cache"]
    assert (c["audio_computed"], c["audio_from_cache"], c["text_computed"], c["text_from_cache"]) == (0, 12, 0, 24)
    assert warm["metrics"] == cold["metrics"] and warm["ci95"] == cold["ci95"]
    uncached = run_tiny(tiny_model, small_esc50, tmp_path / "r3", cache_dir, "--no-cache")
    assert uncached["embedding_cache"]["enabled"] is False and uncached["metrics"] == cold["metrics"]

    # One changed byte of the weights (the last byte of the last tensor: still a valid checkpoint).
    changed = shutil.copytree(tiny_model, tmp_path / "tiny-clap-changed")
    weights = changed / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    other = run_tiny(changed, small_esc50, tmp_path / "r4", cache_dir)
    assert other["model_sha"] != cold["model_sha"]
    assert other["embedding_cache"]["audio_computed"] == 12 and other["embedding_cache"]["audio_from_cache"] == 0

    # The same weights with another clip length (5 s instead of 10 s).
    short = build_tiny_clap(tmp_path / "tiny-clap-5s", seed=0, max_length_s=5)
    five = run_tiny(short, small_esc50, tmp_path / "r5", cache_dir)
    assert five["model_sha"] == cold["model_sha"] and five["protocol"]["clip_seconds"] == 5.0
    assert five["embedding_cache"]["audio_computed"] == 12 and five["embedding_cache"]["audio_from_cache"] == 0

    usage = {u.sha: u for u in cache_usage(cache_dir)}
    assert set(usage) == {cold["model_sha"], other["model_sha"]}
    assert usage[cold["model_sha"]].kinds["audio"] == 24  # 10 s and 5 s clips of the same weights

    info = run_cli("cache", "info", "--cache-dir", cache_dir)
    assert info.exit_code == 0 and cold["model_sha"][:12] in info.output and "2 model(s)" in info.output
    cleared = run_cli("cache", "clear", "--cache-dir", cache_dir, "--model-sha", other["model_sha"][:10])
    assert cleared.exit_code == 0 and "cleared 1 model" in " ".join(cleared.output.split())
    assert [u.sha for u in cache_usage(cache_dir)] == [cold["model_sha"]]
    bad = run_cli("cache", "clear", "--cache-dir", cache_dir, "--model-sha", "not-hex")
    assert bad.exit_code == 2 and "--model-sha" in bad.output
    assert run_cli("cache", "clear", "--cache-dir", cache_dir).exit_code == 0
    assert cache_usage(cache_dir) == []


def test_namespace_records_what_the_entries_depend_on(clips, tmp_path):
    _, paths = clips
    _, cache = embed(SpectrumModel(), paths, tmp_path / "cache")
    assert isinstance(cache, EmbeddingCache)
    meta = json.loads((cache.namespace("audio", 4).folder / "namespace.json").read_text())
    assert meta["model_sha256"] == "5ec7" * 16 and meta["preprocessing"]["clip_seconds"] == 1.0 and meta["dtype"] == "float32"
    assert {"torch", "numpy", "soxr"} <= set(meta["software"]) and cache.written_on() == ["cpu"]
    assert (tmp_path / "cache" / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")


def test_unwritable_cache_costs_caching_not_the_run(clips, tmp_path):
    _, paths = clips
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    model = SpectrumModel()
    out, cache = embed(model, paths, blocker)
    assert model.clips == 12 and out.shape == (12, 52)
    assert cache.counts["store_errors"] == 3 and "store_error" in cache.summary()


def test_weights_hash_is_remembered_and_redone_when_the_file_changes(tmp_path, monkeypatch):
    import hashlib
    import os

    from clapbench.models import hashing

    weights = tmp_path / "model.pt"
    weights.write_bytes(b"\x01" * 4096)
    first = hashing.weights_sha256(weights)
    assert first == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert hashing._hashes_path().is_file()  # remembered, under the (test's private) cache folder
    opened = []
    real_open = open

    def counting_open(file, *args, **kwargs):
        opened.append(Path(file))
        return real_open(file, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr("builtins.open", counting_open)
        assert hashing.weights_sha256(weights) == first and weights not in opened  # not read again
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(os.stat(weights).st_atime_ns, os.stat(weights).st_mtime_ns + 1_000_000))
    assert hashing.weights_sha256(weights) == hashlib.sha256(bytes(data)).hexdigest() != first
