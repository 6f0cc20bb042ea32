"""Cold run against warm rerun: the same `clapbench run` command twice, each a fresh process, as a user types it.

    python benchmarks/cache_cold_warm.py                          # full-size random ClapModel, 200 clips
    python benchmarks/cache_cold_warm.py --model tiny --clips 100

The first run starts from an empty cache folder (and an empty weights-hash memo): it imports torch and
transformers, hashes the weights, builds the model, decodes and embeds every clip. The second finds every
embedding cached: it should neither import transformers nor build the model. Prints both wall times, their
ratio (goal: warm <= 5% of cold), and whether the two result files hold the same numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clapbench.audio.synth import make_esc50_layout  # noqa: E402
from clapbench.models.tiny_clap import build_tiny_clap  # noqa: E402



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("full-size", "tiny"), default="full-size")
    parser.add_argument("--clips", type=int, default=200, help="clips (50 classes x clips/50; default 200)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--work-dir", type=Path, default=None, help="keep model and data here (reused when present)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        classes = [f"class_{i}" for i in range(50)]
        data = work / f"esc50-{args.clips}"
        if not (data / "meta" / "esc50.csv").is_file():
            make_esc50_layout(data, classes=classes, clips_per_class=max(1, args.clips // 50), seconds=args.seconds)
        model = work / f"clap-{args.model}"
        if not (model / "config.json").is_file():
            build_tiny_clap(model, seed=0, full_size=args.model == "full-size")
        cache = Path(tempfile.mkdtemp(dir=work, prefix="cache-"))
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(cache / "xdg")}  # no weights-hash memo from earlier
        times, results = [], []
        for run in ("cold", "warm"):
            out = work / f"results-{run}-{cache.name}"
            cmd = [sys.executable, "-m", "clapbench", "run", "--model", str(model), "--tasks", "esc50", "--data", f"esc50={data}",
                   "--output", str(out), "--cache-dir", str(cache / "embeddings"), "--template", "This is a sound of {}."]
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            times.append(time.perf_counter() - start)
            if proc.returncode != 0:
                sys.exit(f"{run} run failed:\n{proc.stdout}\n{proc.stderr}")
            results.append(json.loads((out / model.name / "esc50.json").read_text()))
        same = all(results[0][k] == results[1][k] for k in ("metrics", "ci95", "n_items"))
        print(json.dumps({"model": args.model, "clips": results[0]["n_items"], "clip_seconds": args.seconds, "cores": os.cpu_count(),
                          "load": os.getloadavg()[0]}))
        for run, seconds, result in zip(("cold", "warm"), times, results):
            c = result["embedding_cache"]
            print(f"{run}: {seconds:7.2f} s  audio from cache {c['audio_from_cache']}, computed {c['audio_computed']}")
        print(f"warm / cold = {times[1] / times[0]:.3f} (goal <= 0.05); identical results: {same}")


if __name__ == "__main__":
    main()
