"""Shared fixtures: tiny ClapModels built offline and datasets of synthesized audio in official layouts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from click.testing import CliRunner  # noqa: E402

from clapbench.cli import cli  # noqa: E402
from clapbench.audio.synth import make_esc50_layout  # noqa: E402
from clapbench.models.tiny_clap import build_tiny_clap  # noqa: E402


REPO = Path(__file__).resolve().parents[1]
_IGNORED = {".git", "__pycache__", ".pytest_cache", ".venv"}


REPO_ROOT = Path(__file__).resolve().parent.parent


def _repo_files() -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(REPO):
        dirnames[:] = [d for d in dirnames if d not in _IGNORED and not d.endswith(".egg-info")]
        out.update(os.path.relpath(os.path.join(dirpath, f), REPO) for f in filenames)
    return out


def pytest_sessionstart(session):
    session.config._repo_files_before = _repo_files()


def pytest_sessionfinish(session, exitstatus):
    """Tests write only under tmp_path: a file the run left in the work tree fails the session."""
    left = sorted(_repo_files() - getattr(session.config, "_repo_files_before", set()))
    if left:
        print(f"\nERROR: the tests left {len(left)} file(s) in the work tree (write under tmp_path): {', '.join(left[:10])}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# Cosine scores that two correct computations of the same embeddings (another batch composition, another
# machine's kernels) may differ by: embeddings agree within ~1e-5 (tests/test_parity.py), so a score moves
# by at most ~2e-5; 1e-4 leaves a margin. Decisions are compared only where they do not hinge on this noise.
SCORE_TOL = 1e-4


def assert_decisions_agree(predicted: np.ndarray, scores: np.ndarray, tol: float = SCORE_TOL) -> None:
    """Each predicted class index is a best class of the independently computed ``scores`` (n, C),
    up to ``tol``: where two classes are within ``tol`` of each other either is a correct decision."""
    predicted = np.asarray(predicted)
    chosen = scores[np.arange(len(scores)), predicted]
    wrong = np.flatnonzero(chosen < scores.max(axis=1) - tol)
    assert len(wrong) == 0, (
        f"{len(wrong)} of {len(scores)} decisions are not a best class: item {wrong[0]} chose {predicted[wrong[0]]} "
        f"(score {chosen[wrong[0]]:.6f}), best {scores[wrong[0]].argmax()} ({scores[wrong[0]].max():.6f})")


def topk_accuracy_bounds(scores: np.ndarray, truth: np.ndarray, k: int, tol: float = SCORE_TOL) -> tuple[float, float]:
    """The top-k accuracy ``scores`` imply, as an interval: an item counts as surely a hit when fewer than k
    other classes score above its true class minus ``tol``, as possibly one when fewer than k score above it
    plus ``tol``. Without near-ties the interval is one number."""
    s_true = scores[np.arange(len(scores)), truth][:, None]
    others = np.ones_like(scores, dtype=bool)
    others[np.arange(len(scores)), truth] = False
    sure = ((scores > s_true - tol) & others).sum(axis=1) < k
    possible = ((scores > s_true + tol) & others).sum(axis=1) < k
    return float(sure.mean()), float(possible.mean())


def assert_accuracy_within(value: float, scores: np.ndarray, truth: np.ndarray, k: int = 1, tol: float = SCORE_TOL) -> None:
    lo, hi = topk_accuracy_bounds(scores, truth, k, tol)
    assert lo - 1e-12 <= value <= hi + 1e-12, f"top-{k} accuracy {value} outside [{lo}, {hi}] implied by the independent scores"


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


def copy_task(folder: Path, base: str, name: str, *edits: tuple[str, str]) -> Path:
    """``folder/<name>.yaml``: the shipped task file ``base`` renamed ``name`` (its includes still found), with
    each (old, new) text edit applied; a task folder for --tasks-dir."""
    text = (REPO_ROOT / "tasks" / f"{base}.yaml").read_text().replace(f"name: {base}\n", f"name: {name}\n", 1)
    for old, new in edits:
        assert old in text, f"{base}.yaml has no {old!r}"
        text = text.replace(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def assert_refused(result, nothing_under: Path | None, *needles) -> None:
    """Exit code 2 with one message holding every needle (rich may wrap lines), no traceback, and no file
    under ``nothing_under`` (no result written; None: not checked)."""
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert " ".join(str(needle).split()) in text, f"{needle!r} not in: {result.output}"
    if nothing_under is not None and nothing_under.exists():
        assert [p for p in nothing_under.rglob("*") if p.is_file()] == [], "files written on error"


@pytest.fixture
def cli_runner():
    return run_cli


# A plugin model (package.module:factory) that embeds by spectral shape: audio as its log band
# energies, a prompt as the band energies of a synthesized example of the class it names. Cheap
# (an FFT per clip) and well above chance on the synthesized classes, so its scores mean something.
SPECTRAL_PLUGIN = '''
import numpy as np

from clapbench.audio.synth import DEMO_CLASSES, synth_sound

EDGES = np.geomspace(40, 8000, 25)


class SpectralModel:
    sample_rate = 16000

    def embed_audio(self, waves):
        return np.stack([self.profile(w) for w in waves])

    def embed_text(self, texts):
        out = []
        for text in texts:
            name = next(c for c in DEMO_CLASSES if c.replace("_", " ") in text)
            out.append(self.profile(synth_sound(name, 2.0, self.sample_rate, np.random.default_rng(123))))
        return np.stack(out)

    def profile(self, wave):
        power = np.abs(np.fft.rfft(wave)) ** 2
        freqs = np.fft.rfftfreq(len(wave), 1 / self.sample_rate)
        bands = np.array([power[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in zip(EDGES[:-1], EDGES[1:])])
        logs = np.log(bands / power.sum() + 1e-10)
        return (logs - logs.mean()).astype(np.float32)


def make():
    return SpectralModel()
'''


@pytest.fixture(scope="session")
def spectral_plugin(tmp_path_factory):
    """The spec 'clapbench_test_spectral:make' of a plugin module written to a folder on sys.path."""
    import sys

    folder = tmp_path_factory.mktemp("plugins")
    (folder / "clapbench_test_spectral.py").write_text(SPECTRAL_PLUGIN)
    sys.path.insert(0, str(folder))
    yield "clapbench_test_spectral:make"
    sys.path.remove(str(folder))
    sys.modules.pop("clapbench_test_spectral", None)
