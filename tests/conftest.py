"""Shared fixtures: tiny ClapModels built offline and datasets of synthesized audio in official layouts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from click.testing import CliRunner  # noqa: E402

from clapbench.cli import cli  # noqa: E402
from clapbench.demo.synth import make_esc50_layout  # noqa: E402
from clapbench.demo.tiny_model import build_tiny_clap  # noqa: E402


@pytest.fixture(autouse=True)
def _private_embedding_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own empty embedding cache (runs cache by default), never the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A randomly initialised tiny HF ClapModel folder (unfused, rand_trunc, 10 s at 48 kHz)."""
    return build_tiny_clap(tmp_path_factory.mktemp("models") / "tiny-clap", seed=0)


@pytest.fixture(scope="session")
def tiny_fused_model(tmp_path_factory) -> Path:
    return build_tiny_clap(tmp_path_factory.mktemp("models") / "tiny-clap-fused", seed=1, fusion=True)


@pytest.fixture(scope="session")
def esc50_dir(tmp_path_factory) -> Path:
    """A small ESC-50-layout dataset: 6 classes x 5 clips, mixed formats, rates and channel counts."""
    return make_esc50_layout(
        tmp_path_factory.mktemp("data") / "ESC-50-master",
        clips_per_class=5,
        seconds=2.0,
        formats=("wav", "flac", "ogg"),
        channels=(1, 2),
        sample_rates=(44100, 22050, 48000),
    )


def run_cli(*args: str):
    """Invoke the clapbench CLI in-process; returns click's Result (exit_code, output)."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def cli_runner():
    return run_cli
