"""Embedding cache: the same task run twice, cold then warm, through `clapbench run`'s own code path.

    python benchmarks/cache_cold_warm.py [--clips-per-class 20] [--seconds 5] [--full-size]

Builds a model offline (the tiny test model, or with --full-size the default ClapConfig with random
weights, the cost profile of laion/clap-htsat-unfused) and an ESC-50-layout dataset of synthesized
clips, then runs the esc50 task twice against a fresh cache folder and prints both wall times, the
cache counts of each run, and whether the two results agree exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rich.console import Console  # noqa: E402

from clapbench.audio.synth import make_esc50_layout  # noqa: E402
from clapbench.models.tiny_clap import build_tiny_clap  # noqa: E402
from clapbench.models import load_model  # noqa: E402
from clapbench.registry import registry  # noqa: E402
from clapbench.runner import RunOptions, run_task  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips-per-class", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--full-size", action="store_true")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = make_esc50_layout(tmp / "esc50", clips_per_class=args.clips_per_class, seconds=args.seconds)
        model = build_tiny_clap(tmp / ("clap-full-random" if args.full_size else "clap-tiny"), full_size=args.full_size)
        loaded = load_model(str(model), device="cpu")
        spec = registry()["esc50"]
        results, times = [], []
        for run in ("cold", "warm"):
            options = RunOptions(output=tmp / f"results-{run}", data={"esc50": str(data)}, cache_dir=str(tmp / "cache"), workers=args.workers)
            start = time.perf_counter()
            results.append(run_task(spec, loaded, options, console))
            times.append(time.perf_counter() - start)
        same = all(getattr(results[0], k) == getattr(results[1], k) for k in ("metrics", "ci95", "n_items"))
        n = results[0]["n_items"]
        print(json.dumps({"model": model.name, "clips": n, "clip_seconds": args.seconds}))
        for run, seconds, result in zip(("cold", "warm"), times, results):
            c = result.embedding_cache
            print(f"{run}: {seconds:7.2f} s  ({n / seconds:8.1f} clips/s)  audio from cache {c['audio_from_cache']}, computed {c['audio_computed']}")
        print(f"speed-up {times[0] / times[1]:.1f}x; identical results: {same}")


if __name__ == "__main__":
    main()
