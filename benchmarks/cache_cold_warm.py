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

from common import add_suite_arguments, random_clap, synthesized_esc50, work_folder  # noqa: E402



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_suite_arguments(parser)
    args = parser.parse_args()
    with work_folder(args.work_dir) as work:
        data = synthesized_esc50(work, args.clips, seconds=args.seconds)
        model = random_clap(work, args.model)
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
