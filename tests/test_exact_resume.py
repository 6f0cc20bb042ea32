"""Resume is exact: a run SIGKILLed at deterministic points (mid-embedding, between a cache entry's write and its
rename, between a result file's write and its rename) and run again ends with the scores, per-item arrays and
predictions of an uninterrupted run, bit for bit, and leaves no temp file behind. The points are reached through
CLAPBENCH_TEST_KILL_AT (clapbench/killpoints.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from clapbench.audio.synth import make_esc50_layout
from clapbench.files import TEMP_MARKER

ROOT = Path(__file__).resolve().parents[1]

# One process pays for the imports once, then forks one child per run (a fresh copy each, as a new process
# would be, and every run under the same conditions); a child killed at its point dies by SIGKILL.
DRIVER = textwrap.dedent(
    """
    import json, os, sys
    import sklearn.linear_model, torch, transformers  # noqa: F401 - imported before forking, once
    import clapbench.evaluations.linear_probe, clapbench.evaluations.zero_shot, clapbench.models.hf_clap, clapbench.runner  # noqa: F401
    from transformers import ClapModel, ClapProcessor  # noqa: F401
    from clapbench.cli import main

    codes = []
    for kill_at, args in json.loads(sys.argv[1]):
        pid = os.fork()
        if pid == 0:
            if kill_at:
                os.environ["CLAPBENCH_TEST_KILL_AT"] = kill_at
            sys.argv = ["clapbench", *args]
            try:
                main()
            except SystemExit as exc:
                os._exit(exc.code if isinstance(exc.code, int) else 1)
            os._exit(0)
        codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    print("CODES", json.dumps(codes))
    """
)

# What differs between two correct runs: timings, dates, where things went, how much came from the cache.
VOLATILE = {"seconds", "created", "embedding_cache", "invocation"}

KILLS = [  # each run resumes from what the runs killed before it left
    "embedded-batch:2",  # clips 4-7 computed; the cache writer may have stored any part of clips 0-3
    # the fourth cache entry (clip 7) written, never renamed: clips 4-6 stored, their batch half stored.
    # Resumed clip by clip, clip 11 would be embedded alone, and a batch of one takes other kernels (last bits).
    "rename.npy:4",
    "rename/esc50.items.npz:1",  # everything embedded; the zero-shot per-item file written, never renamed
    "rename/esc50.json:1",  # the zero-shot result written, never renamed
    "rename/esc50.linear-probe.json:1",  # the zero-shot result in place; the probe's written, never renamed
]


@pytest.fixture(scope="module")
def small_esc50(tmp_path_factory) -> Path:
    return make_esc50_layout(tmp_path_factory.mktemp("resume-data") / "ESC-50-master", clips_per_class=2, seconds=1.0, sample_rate=22050, seed=2)


def run_args(model: Path, data: Path, out: Path, cache: Path) -> list[str]:
    return ["run", "--model", str(model), "--tasks", "esc50", "--data", f"esc50={data}", "--output", str(out), "--cache-dir", str(cache),
            "--eval", "zero-shot,linear-probe", "--save-predictions", "--batch-size", "4", "--workers", "0", "--bootstrap", "50"]


def result_files(folder: Path) -> dict[str, object]:
    """Each file's comparable content: a result without its volatile fields, arrays' bytes, other files' bytes."""
    out: dict[str, object] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".json":
            out[path.name] = {k: v for k, v in json.loads(path.read_text()).items() if k not in VOLATILE}
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                out[path.name] = {k: (data[k].dtype.str, data[k].shape, data[k].tobytes()) for k in data.files}
        else:
            out[path.name] = path.read_bytes()
    return out


def test_killed_runs_resume_to_the_uninterrupted_result_bit_for_bit(tiny_model, small_esc50, tmp_path):
    whole = run_args(tiny_model, small_esc50, tmp_path / "whole", tmp_path / "whole-cache")
    resumed = run_args(tiny_model, small_esc50, tmp_path / "resumed", tmp_path / "resumed-cache")
    steps = [[None, whole]] + [[kill, resumed] for kill in KILLS] + [[None, resumed]]
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(steps)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    codes = json.loads(proc.stdout.split("CODES", 1)[1])
    # every kill point was reached (the run died there), and the uninterrupted and the last run succeeded
    assert codes == [0] + [-signal.SIGKILL] * len(KILLS) + [0], proc.stdout[-3000:]

    model_id = tiny_model.name
    expected, got = result_files(tmp_path / "whole" / model_id), result_files(tmp_path / "resumed" / model_id)
    assert sorted(got) == sorted(expected) == ["esc50.items.npz", "esc50.json", "esc50.linear-probe.items.npz",
                                               "esc50.linear-probe.json", "esc50.linear-probe.predictions.csv", "esc50.predictions.csv"]
    for name in expected:
        assert got[name] == expected[name], f"{name} differs from the uninterrupted run's"
    last = json.loads((tmp_path / "resumed" / model_id / "esc50.json").read_text())["embedding_cache"]
    assert last["audio_from_cache"] == 12 and last["audio_computed"] == 0  # the killed runs had embedded every batch
    assert not list(tmp_path.rglob(f"{TEMP_MARKER}*")), "a killed write's temp file was left behind"
