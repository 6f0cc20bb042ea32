"""Nothing left behind: a write killed with SIGKILL leaves clapbench's temp file, and the next run removes it,
in the output folder and in the embedding cache, while other files and a live writer's temp files stay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from toy_models import SR, SpectrumModel, loaded_model

from clapbench import cache as cache_module
from clapbench.audio.synth import make_esc50_layout
from clapbench.registry import registry
from clapbench import files as store
from clapbench.files import STALE_AFTER_S, TEMP_MARKER, remove_stale_temps
from clapbench.runner import RunOptions, run_task

ROOT = Path(__file__).resolve().parents[1]

# Opens an atomic write, writes part of it and dies before the rename, as kill -9 would.
_KILLED_WRITE = """
import os, sys
from pathlib import Path
from clapbench.files import atomic_open
with atomic_open(Path(sys.argv[1]), "wb") as fh:
    fh.write(b"half a result")
    fh.flush()
    os.kill(os.getpid(), 9)
"""


def killed_write(target: Path) -> Path:
    """Run a write that is SIGKILLed mid-way; the temp file it left beside ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    before = set(target.parent.iterdir())
    old = target.read_bytes() if target.exists() else None
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITE, str(target)], env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert (target.read_bytes() if target.exists() else None) == old  # the rename never happened
    (temp,) = set(target.parent.iterdir()) - before
    assert temp.name.startswith(TEMP_MARKER) and temp.name.endswith(".tmp")
    return temp


def unrelated_files(folder: Path) -> list[Path]:
    """Dotfiles clapbench must never remove: not its pattern, or a young file of the old pattern."""
    files = [folder / ".keep", folder / ".notes.tmp", folder / ".esc50.json.abcd1234.tmp", folder / ".clapbench-tmp.other"]
    for f in files:
        f.write_text("not a killed write")
    return files


def test_cleanup_removes_a_killed_writes_temp_and_nothing_else(tmp_path):
    folder = tmp_path / "out" / "model-a"
    temp = killed_write(folder / "esc50.json")
    keep = unrelated_files(folder)
    live = folder / f"{TEMP_MARKER}{store._host_tag()}-{os.getpid()}.esc50.items.npz.zzzz9999.tmp"  # a writer still running
    other_host = folder / f"{TEMP_MARKER}00000000-1.esc50.json.abcdefgh.tmp"  # its pid cannot be checked here
    old_left = folder / ".esc50.predictions.csv.k3j4h5g6.tmp"  # the old pattern, an hour past any write
    for f in (live, other_host, old_left):
        f.write_text("x")
    stale = time.time() - STALE_AFTER_S - 60
    os.utime(old_left, (stale, stale))

    assert remove_stale_temps(tmp_path / "out") == 2
    assert not temp.exists() and not old_left.exists()
    assert all(f.exists() for f in [*keep, live, other_host])
    os.utime(other_host, (stale, stale))  # once no write could still be under way, another host's temp goes too
    assert remove_stale_temps(tmp_path / "out") == 1 and not other_host.exists()
    assert remove_stale_temps(tmp_path / "missing") == 0


def test_next_run_cleans_the_output_folder_and_the_cache(tmp_path):
    root = make_esc50_layout(tmp_path / "data", clips_per_class=1, seconds=0.5, sample_rate=SR, seed=1)
    options = RunOptions(output=tmp_path / "out", data={"esc50": str(root)}, workers=0, overwrite=True, cache_dir=str(tmp_path / "cache"), n_resamples=10)
    run_task(registry()["esc50"], loaded_model(SpectrumModel()), options, Console(quiet=True))
    model_dir = tmp_path / "out" / "spectrum"
    entry = next((tmp_path / "cache").rglob("*.npy"))
    left = [killed_write(model_dir / "esc50.json"), killed_write(entry)]
    keep = unrelated_files(model_dir) + unrelated_files(entry.parent)

    cache_module._swept.clear()  # a new run's process has cleaned nothing yet
    result = run_task(registry()["esc50"], loaded_model(SpectrumModel()), options, Console(quiet=True))
    assert result.embedding_cache["audio_from_cache"] == 6
    assert not any(p.exists() for p in left)
    assert all(f.exists() for f in keep)
    assert not list(tmp_path.rglob(f"{TEMP_MARKER}*.tmp"))


@pytest.mark.parametrize("name", ["a" * 64 + ".npy", "clotho-captioning.linear-probe.predictions.csv"])
def test_every_temp_name_is_recognised_by_the_cleanup(tmp_path, name):
    """Every temp atomic_open makes is one the cleanup recognises (long names are cut, not mangled)."""
    temp = killed_write(tmp_path / name)
    assert store._TEMP_RE.match(temp.name) and remove_stale_temps(tmp_path) == 1
