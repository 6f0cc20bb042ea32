"""benchmarks/gpu.sh runs its steps on the CPU (a few clips, the tiny model): the script a GPU machine gets is
kept working between the times one is lent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_on_cpu(tmp_path):
    proc = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu.sh"), "--device", "cpu", "--model", "tiny", "--clips", "10", "--classes", "5",
         "--seconds", "1", "--batch-size", "4", "--work-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["clips"] == 10 and set(report["runs"]) == {"float32", "bfloat16"}
    for run in report["runs"].values():
        assert run["end_to_end_clips_per_s"] > 0 and run["bare_forward_clips_per_s"] > 0
        assert run["front_end"] == "torch" and run["attention"] == "sdpa" and run["gpu_utilisation_percent"] is None  # no nvidia-smi on the CPU
        assert 0 <= run["accuracy"] <= 1
    agreement = report["top1_agreement"]
    assert agreement["clips"] == 10 and 0 <= agreement["same"] <= 10
    assert "fp32 / bf16 top-1 agreement" in proc.stdout


def test_gpu_check_says_when_there_is_no_gpu(tmp_path):
    import pytest
    import torch

    if torch.cuda.is_available():  # pragma: no cover - a GPU machine runs the real thing
        pytest.skip("this machine has a CUDA device: gpu.sh would run for real")
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu.sh"), "--work-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "sees no CUDA device" in proc.stderr and "--device cpu" in proc.stderr
