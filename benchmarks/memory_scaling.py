"""Peak memory of `clapbench run` against the number of clips (issue 17, item 4).

Builds ESC-50-shaped datasets of N short synthesized clips (default 2000 and 20000), runs `clapbench run`
on each in a subprocess with a fast plugin model (log band energies: the model costs nothing, so the
harness's own memory shows), and prints each run's peak RSS, wall time and the growth per clip. A run
whose memory grew with the audio, not with the per-item results, would show kilobytes per clip; per-item
results (a D-float embedding, predictions, the record) are ~0.1-1 kB per clip.

    python benchmarks/memory_scaling.py                  # 2000 and 20000 clips
    python benchmarks/memory_scaling.py --clips 500 5000 --work-dir /tmp/mem
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOOTSTRAP = 1000
sys.path.insert(0, str(REPO))

PLUGIN = '''
import numpy as np

class Bands:
    sample_rate = 8000
    sha256 = None  # no embedding cache: every clip is decoded and embedded

    def embed_audio(self, waves):
        return np.stack([np.log1p(np.add.reduceat(np.abs(np.fft.rfft(w, n=512)) ** 2, np.arange(0, 256, 16))) for w in waves]).astype(np.float32)

    def embed_text(self, texts):
        return np.stack([np.random.default_rng(len(t)).standard_normal(16) for t in texts]).astype(np.float32)

def make():
    return Bands()
'''


def build(root: Path, clips: int) -> Path:
    from clapbench.audio.synth import DEMO_CLASSES, make_esc50_layout

    per_class = max(1, clips // len(DEMO_CLASSES))
    return make_esc50_layout(root, clips_per_class=per_class, seconds=0.25, sample_rate=8000, seed=0)


def run(data: Path, out: Path, plugin_dir: Path, workers: int) -> tuple[float, float]:
    """(peak RSS of the run in MB, wall seconds), measured on a child process of its own."""
    code = ("import resource, sys; from clapbench.cli import main; sys.argv = sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
            "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)")
    cmd = [sys.executable, "-c", code, "clapbench", "run", "--model", "mem_plugin:make", "--tasks", "esc50", "--data", f"esc50={data}",
           "--output", str(out), "--workers", str(workers), "--no-cache", "--bootstrap", str(BOOTSTRAP), "--save-predictions", "--overwrite"]
    env = {**os.environ, "PYTHONPATH": f"{plugin_dir}{os.pathsep}{REPO}"}
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
    peak_kb = int(proc.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    return peak_kb / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--work-dir", type=Path)
    parser.add_argument("--bootstrap", type=int, default=1000, help="Bootstrap resamples (as clapbench run; 0: none).")
    args = parser.parse_args()
    global BOOTSTRAP
    BOOTSTRAP = args.bootstrap
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="clapbench-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "mem_plugin.py").write_text(PLUGIN)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; workers {args.workers}; bootstrap {args.bootstrap}; clips of 0.25 s at 8 kHz")
    rows = []
    for n in args.clips:
        data = work / f"esc50-{n}"
        if not (data / "meta" / "esc50.csv").is_file():
            build(data, n)
        peak, seconds = run(data, work / f"out-{n}", work, args.workers)
        clips = sum(1 for _ in (data / "audio").iterdir())
        rows.append((clips, peak, seconds))
        print(f"{clips:6d} clips: peak RSS {peak:7.1f} MB, {seconds:6.1f} s, {clips / seconds:7.1f} clips/s")
    if len(rows) > 1:
        (n0, m0, _), (n1, m1, _) = rows[0], rows[-1]
        print(f"growth: {(m1 - m0) * 1024 / max(n1 - n0, 1):.2f} kB per clip between {n0} and {n1} clips")


if __name__ == "__main__":
    main()
