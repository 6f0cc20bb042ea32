"""A rerun whose embeddings are all cached neither imports transformers nor builds the network, and writes the
same results; anything left to compute builds it on demand; a changed checkpoint file is loaded anew."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clapbench.models import hf_clap, no_gpu_driver
from conftest import run_cli

SCORE_FIELDS = ("main_score", "metrics", "ci95", "n_items", "protocol", "versions", "fingerprint", "model", "model_sha")


def _run(model, data, out, cache, *extra):
    return run_cli("run", "--model", model, "--tasks", "esc50", "--data", f"esc50={data}", "--output", out, "--cache-dir", cache,
                   "--workers", 0, "--bootstrap", 50, *extra)


def _result(out: Path, model_id: str = "tiny-clap") -> dict:
    return json.loads((out / model_id / "esc50.json").read_text())


@pytest.fixture
def counted_builds(monkeypatch):
    """How many times the HF network is built."""
    builds = []
    real = hf_clap.HFClapModel.__init__

    def init(self, *args, **kwargs):
        builds.append(args[0] if args else kwargs.get("folder"))
        real(self, *args, **kwargs)

    monkeypatch.setattr(hf_clap.HFClapModel, "__init__", init)
    return builds


def test_a_fully_cached_rerun_builds_nothing_and_writes_the_same_result(tiny_model, esc50_dir, tmp_path, counted_builds):
    cache = tmp_path / "cache"
    assert _run(tiny_model, esc50_dir, tmp_path / "cold", cache).exit_code == 0
    assert len(counted_builds) == 1
    warm = _run(tiny_model, esc50_dir, tmp_path / "warm", cache)
    assert warm.exit_code == 0, warm.output
    assert len(counted_builds) == 1  # the manifest answered; the network was never built
    cold, again = _result(tmp_path / "cold"), _result(tmp_path / "warm")
    assert again["embedding_cache"]["audio_computed"] == 0 and again["embedding_cache"]["text_computed"] == 0
    assert {k: cold[k] for k in SCORE_FIELDS} == {k: again[k] for k in SCORE_FIELDS}
    assert (tmp_path / "cold/tiny-clap/esc50.items.npz").read_bytes() == (tmp_path / "warm/tiny-clap/esc50.items.npz").read_bytes()

    # Something new to compute (other templates: prompts not cached) builds the network once, on demand.
    more = _run(tiny_model, esc50_dir, tmp_path / "more", cache, "--template", "a recording of {}")
    assert more.exit_code == 0, more.output
    assert len(counted_builds) == 2 and _result(tmp_path / "more")["embedding_cache"]["text_computed"] > 0


def test_a_changed_checkpoint_file_is_loaded_anew(tiny_model, esc50_dir, tmp_path, counted_builds):
    import shutil

    model = Path(shutil.copytree(tiny_model, tmp_path / "tiny-clap"))
    cache = tmp_path / "cache"
    assert _run(model, esc50_dir, tmp_path / "a", cache).exit_code == 0
    config = model / "config.json"
    os.utime(config, ns=(config.stat().st_atime_ns, config.stat().st_mtime_ns + 10**9))
    assert _run(model, esc50_dir, tmp_path / "b", cache).exit_code == 0
    assert len(counted_builds) == 2  # the manifest's key holds every file's size and mtime


def test_a_warm_rerun_never_imports_transformers_or_torch(tiny_model, esc50_dir, tmp_path):
    cache = tmp_path / "cache"
    assert _run(tiny_model, esc50_dir, tmp_path / "cold", cache).exit_code == 0
    wrapper = (
        "import sys\n"
        "from clapbench.cli import main\n"
        "try:\n    main()\n"
        "finally:\n    print('imported:', sorted(m for m in ('transformers', 'scipy.stats', 'sklearn', 'torch') if m in sys.modules), file=sys.stderr)\n"
    )
    cmd = [sys.executable, "-c", wrapper, "run", "--model", str(tiny_model), "--tasks", "esc50", "--data", f"esc50={esc50_dir}",
           "--output", str(tmp_path / "warm"), "--cache-dir", str(cache), "--workers", "0", "--bootstrap", "50"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # torch only where a GPU driver is there to ask whether --device auto means CUDA
    expected = [] if no_gpu_driver() else ["torch"]
    assert f"imported: {expected}" in proc.stderr, proc.stderr[-2000:]
    assert _result(tmp_path / "warm")["main_score"] == _result(tmp_path / "cold")["main_score"]


def test_auto_device_without_a_gpu_driver_is_the_cpu_and_asks_torch_otherwise(tmp_path, monkeypatch):
    import clapbench.models as models

    monkeypatch.setattr(models, "GPU_DEVICE_NODES", (str(tmp_path / "nvidiactl"),))
    if sys.platform.startswith("linux"):
        assert models.no_gpu_driver() and models.resolve_device("auto") == "cpu"
    (tmp_path / "nvidiactl").touch()  # a driver node: torch decides
    import torch

    assert not models.no_gpu_driver()
    assert models.resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert models.resolve_device("cpu") == "cpu"


def test_before_build_runs_only_when_the_network_is_built_now(tiny_model, tmp_path):
    """evaluate() starts the decoding workers early through before_build: never for a checkpoint that comes back
    unbuilt from the manifest memo (a warm rerun must not start processes or import torch for nothing)."""
    from clapbench.models import load_model

    calls = []
    first = load_model(str(tiny_model), device="cpu", memo_dir=tmp_path, before_build=lambda: calls.append("cold"))
    assert calls == ["cold"] and first.model is not None
    again = load_model(str(tiny_model), device="cpu", memo_dir=tmp_path, before_build=lambda: calls.append("warm"))
    assert calls == ["cold"] and again.sha256 == first.sha256
    load_model(str(tiny_model), device="cpu", before_build=lambda: calls.append("no memo"))
    assert calls == ["cold", "no memo"]
