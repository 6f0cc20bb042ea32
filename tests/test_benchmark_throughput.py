"""The throughput benchmark runs both paths on the same clips and their top-1 predictions agree."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "zero_shot_throughput.py"


def _load_script(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # as `python benchmarks/zero_shot_throughput.py` has it: common.py beside it
    spec = importlib.util.spec_from_file_location("zero_shot_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_tiny_model_same_clips_and_agreement(tmp_path, capsys, monkeypatch):
    bench = _load_script(monkeypatch)
    status = bench.main(["--model", "tiny", "--clips", "6", "--classes", "3", "--seconds", "1", "--workers", "0", "--check-agreement", "--work-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "same clips: yes (clapbench 6, pipeline 6, sample 6)" in out
    assert "top-1 agreement with one template 'This is a sound of {}.': 6/6" in out
    rates = [float(r) for r in re.findall(r"= +([0-9.]+) clips/s", out)]
    ratio = float(re.search(r"ratio clapbench / pipeline: ([0-9.]+)x", out).group(1))
    assert len(rates) == 2 and all(r > 0 for r in rates)
    assert abs(ratio - rates[0] / rates[1]) <= 0.01 * ratio + 0.01  # the printed ratio is the two printed rates'
