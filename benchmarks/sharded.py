"""torchrun with N processes against one process: the same `clapbench run`, cache off, wall time and equality.

    python benchmarks/sharded.py                        # full-size random ClapModel, 200 clips, 2 processes
    python benchmarks/sharded.py --model tiny --nproc 2 --clips 100

On a CPU machine each rank gets cores/N torch threads (the single process gets all of them), so the ratio shows
what sharding costs or gains on the machine at hand; on GPUs each rank takes its own device. Prints both wall
times, their ratio, and whether scores, per-item files and predictions are byte-identical.
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
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    with work_folder(args.work_dir) as work:
        data = synthesized_esc50(work, args.clips, seconds=args.seconds)
        model = random_clap(work, args.model)
        cores = os.cpu_count() or 1
        times, outs = {}, {}
        for procs in (1, args.nproc):
            out = Path(tempfile.mkdtemp(dir=work, prefix=f"results-{procs}-"))
            head = [sys.executable, "-m", "clapbench"] if procs == 1 else \
                [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs), "-m", "clapbench"]
            cmd = [*head, "run", "--model", str(model), "--tasks", "esc50", "--data", f"esc50={data}", "--output", str(out), "--no-cache",
                   "--batch-size", str(args.batch_size), "--save-predictions"]
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(max(1, cores // procs))}
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            times[procs] = time.perf_counter() - start
            if proc.returncode != 0:
                sys.exit(f"{procs} process(es) failed:\n{proc.stdout}\n{proc.stderr}")
            outs[procs] = out / model.name
        one, many = outs[1], outs[args.nproc]
        same = all((one / f).read_bytes() == (many / f).read_bytes() for f in ("esc50.items.npz", "esc50.predictions.csv"))
        a, b = (json.loads((o / "esc50.json").read_text()) for o in (one, many))
        same = same and all(a[k] == b[k] for k in ("metrics", "ci95", "n_items", "fingerprint"))
        print(json.dumps({"model": args.model, "clips": a["n_items"], "cores": cores, "load": round(os.getloadavg()[0], 2)}))
        print(f"1 process: {times[1]:7.2f} s; torchrun {args.nproc}: {times[args.nproc]:7.2f} s; "
              f"speed-up {times[1] / times[args.nproc]:.2f}x; byte-identical results: {same}")


if __name__ == "__main__":
    main()
