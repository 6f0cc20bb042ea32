"""Worker-process decoding gives the same embeddings, bit for bit, as decoding in-process."""

from __future__ import annotations

import numpy as np

from clapbench.embedding import embed_clips
from clapbench.models import load_model


def test_workers_match_in_process_and_reuse_the_warm_server(tiny_model, esc50_dir):
    loaded = load_model(str(tiny_model), device="cpu")
    paths = sorted(str(p) for p in (esc50_dir / "audio").iterdir())
    assert len(paths) > 8  # more than one batch, so the process pool (not the in-process path) runs
    local = embed_clips(loaded, paths, batch_size=8, workers=0)
    pooled = embed_clips(loaded, paths, batch_size=8, workers=2)
    # A second pool, as the next task of a run gets, forks from the same (already warm) server.
    again = embed_clips(loaded, paths, batch_size=8, workers=1)
    assert local.shape == (len(paths), 32)
    np.testing.assert_array_equal(pooled, local)
    np.testing.assert_array_equal(again, local)


def test_the_fork_server_started_before_the_model_loads_preloads_what_its_workers_need(tiny_model, tiny_fused_model, tmp_path):
    """evaluate() starts the workers' fork server while the weights load, from modules named before loading: they
    must be exactly those the loaded model's preprocessor needs, or later pools would import them per worker."""
    from clapbench.audio.loader import worker_modules
    from clapbench.models import worker_modules_of

    for folder in (tiny_model, tiny_fused_model):
        loaded = load_model(str(folder), device="cpu")
        assert worker_modules_of(str(folder)) == worker_modules(loaded.model.audio_preprocessor)
        assert worker_modules_of(str(folder), front_end="torch") == worker_modules(loaded.model.audio_preprocessor)
    # the other front end holds transformers' extractor, known only once loaded: no early start
    assert worker_modules_of(str(tiny_model), front_end="transformers") is None
    assert worker_modules_of(str(tmp_path)) is None and worker_modules_of("pkg.mod:factory") is None


def test_default_workers_follow_the_device_and_the_cores(monkeypatch):
    from clapbench.audio import loader

    for cores, cpu, other in ((1, 0, 1), (2, 0, 1), (4, 2, 2), (16, 8, 8), (64, 8, 8)):
        monkeypatch.setattr(loader, "usable_cores", lambda cores=cores: cores)
        assert loader.default_workers("cpu") == cpu, cores
        assert loader.default_workers("cuda:1") == other and loader.default_workers() == other, cores


def test_evaluate_decodes_in_process_on_a_small_cpu_box(tiny_model, esc50_dir, monkeypatch):
    """--workers not given, CPU device, 2 cores: no fork server, no pool; given 1 worker, the pool runs."""
    from rich.console import Console

    import clapbench
    from clapbench.audio import loader

    started = []
    real_start = loader.start_worker_server
    monkeypatch.setattr(loader, "usable_cores", lambda: 2)
    monkeypatch.setattr(loader, "start_worker_server", lambda *a, **k: (started.append(a or k), real_start(*a, **k)))
    args = dict(data={"esc50": str(esc50_dir)}, device="cpu", bootstrap=0, no_cache=True, batch_size=8, console=Console(quiet=True))
    local = clapbench.evaluate(str(tiny_model), "esc50", **args)
    assert started == []
    pooled = clapbench.evaluate(str(tiny_model), "esc50", workers=1, **args)
    assert started  # the early server (while the weights load) and the loader's own call
    assert pooled.records[0].metrics == local.records[0].metrics


def test_embed_clips_without_workers_takes_the_default_of_the_models_device(tiny_model, esc50_dir, monkeypatch):
    """Called from Python with no --workers, embed_clips decides by the loaded model's device, as evaluate does."""
    from clapbench.audio import loader

    loaded = load_model(str(tiny_model), device="cpu")
    paths = sorted(str(p) for p in (esc50_dir / "audio").iterdir())[:12]
    started = []
    real_start = loader.start_worker_server
    monkeypatch.setattr(loader, "start_worker_server", lambda *a, **k: (started.append(1), real_start(*a, **k)))
    monkeypatch.setattr(loader, "usable_cores", lambda: 2)
    small = embed_clips(loaded, paths, batch_size=4)
    assert started == []  # CPU device, 2 cores: decoded in this process
    monkeypatch.setattr(loader, "usable_cores", lambda: 4)
    large = embed_clips(loaded, paths, batch_size=4)
    assert started  # 4 cores: 2 decoding workers
    np.testing.assert_array_equal(small, large)
