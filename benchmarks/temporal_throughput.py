"""Temporal probes' throughput: items/s of `--tasks zste,order-pairs` beside clips/s of zero-shot esc50.

One model, loaded once, and one synthesized ESC-50-layout source (80 clips of 5 s at 44.1 kHz by default), then
  (a) zero-shot esc50 on those clips: clips/s, the classification path (`clapbench run --tasks esc50`);
  (b) zste-1..5 and order-pairs built from them (`clapbench run --tasks zste,order-pairs --source esc50`),
each timed as the runner executes it, embedding cache off (a cold run). Prints, for (b), the item embeddings
the six probes consume (pairs x variants per probe) and the distinct items among them, each per second of the
run; then the audio embedding step alone (clips/s and items/s through the model) and the text tower's time.

    python benchmarks/temporal_throughput.py                       # full-size random ClapModel, 80 clips, 100 pairs
    python benchmarks/temporal_throughput.py --model tiny --pairs 500
    PYTHONPATH=/other/checkout python benchmarks/temporal_throughput.py --no-local   # another checkout's code

Runs offline; results are written under a temp folder (or --work-dir).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
if "--no-local" not in sys.argv:  # run from a checkout without installing: the checkout's clapbench wins
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from rich.console import Console  # noqa: E402


# Variants each probe embeds per pair (clapbench.temporal.zste / order).
VARIANTS_PER_PAIR = {"zste-1": 2, "zste-2": 1, "zste-3": 2, "zste-4": 2, "zste-5": 2, "order-pairs": 2}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="full-size", help="'full-size' (default ClapConfig, random weights), 'tiny', or a HF ClapModel folder")
    p.add_argument("--clips", type=int, default=80, help="clips of the synthesized source (default 80)")
    p.add_argument("--classes", type=int, default=40, help="its classes (default 40, so 2 clips each)")
    p.add_argument("--pairs", type=int, default=100, help="pairs per probe (--limit; default 100; the task files' own is 500)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=None, help="decoding processes (default: clapbench's default_workers())")
    p.add_argument("--work-dir", help="keep the built model and data here and reuse them (default: a temp folder)")
    p.add_argument("--no-local", action="store_true", help="import clapbench from PYTHONPATH / the installed package, not this checkout")
    return p.parse_args(argv)


class Timed:
    """Wrap a function: add up the wall time spent in it, and the rows of its first argument's batches."""

    def __init__(self, fn, count_rows: bool = False):
        self.fn, self.seconds, self.rows, self.count_rows = fn, 0.0, 0, count_rows

    def __call__(self, *a, **k):
        t = time.perf_counter()
        try:
            return self.fn(*a, **k)
        finally:
            self.seconds += time.perf_counter() - t
            self.rows += len(a[0]) if self.count_rows else 0


def run_plan(names: str, loaded, options, console, source: str | None = None):
    """(records, seconds, clocks) of one run of the named tasks, as `clapbench run` executes it after loading the model.

    Clocks: 'embedding' is the wall time in the audio embedding step (embed_clips: the clips, and since issue 17
    item 6 the temporal items too; before it, temporal.items.embed_variants); 'forward' counts the rows through the
    model's audio forward; 'text' the time in the text tower (prompts, the probes' captions).
    """
    from clapbench import embedding
    from clapbench.api import resolve_specs
    from clapbench.models import ModelIdentity
    from clapbench.runner import execute_plan, plan_run
    from clapbench.temporal import probe

    model = loaded.model
    forward = "embed_audio_features" if getattr(model, "audio_preprocessor", None) is not None else "embed_audio"
    patches = [(embedding, "embed_clips", "embedding", False), (model, forward, "forward", True), (model, "embed_text", "text", False)]
    if hasattr(probe, "embed_variants"):  # the code before issue 17 item 6 embedded items here, in-process
        patches.append((probe, "embed_variants", "embedding", False))
    clocks: dict[str, list[Timed]] = {}
    saved = []
    for owner, name, clock, rows in patches:
        saved.append((owner, name, owner.__dict__.get(name)))
        timed = Timed(getattr(owner, name), rows)
        clocks.setdefault(clock, []).append(timed)
        setattr(owner, name, timed)
    try:
        _, specs = resolve_specs(names, source=source)
        t = time.perf_counter()
        plan = plan_run(specs, ModelIdentity(loaded.model_id, loaded.sha256, loaded.path), options)
        summary = execute_plan(plan, options, console, load=lambda: loaded)
        seconds = time.perf_counter() - t
    finally:
        for owner, name, original in reversed(saved):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
    totals = {k: (sum(c.seconds for c in v), sum(c.rows for c in v)) for k, v in clocks.items()}
    return summary.computed(), seconds, totals


def main(argv=None) -> int:
    args = parse_args(argv)
    console = Console(width=120, quiet=False)
    import clapbench
    from clapbench.audio.loader import default_workers
    from clapbench.models import load_model
    from common import random_clap, synthesized_esc50, work_folder
    from clapbench.runner import RunOptions

    workers = default_workers() if args.workers is None else args.workers
    load1 = os.getloadavg()[0]
    console.print(f"clapbench from {Path(clapbench.__file__).parent}")
    console.print(f"machine: {platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__} with {torch.get_num_threads()} threads, "
                  f"python {platform.python_version()}, load average {load1:.2f}; {time.strftime('%Y-%m-%d %H:%M')}")
    console.print(f"settings: model={args.model} clips={args.clips} classes={args.classes} pairs={args.pairs} batch_size={args.batch_size} workers={workers}")
    with work_folder(Path(args.work_dir) if args.work_dir else None, prefix="clapbench-temporal-") as work:
        data = synthesized_esc50(work, args.clips, args.classes)
        model_dir = random_clap(work, args.model) if args.model in ("full-size", "tiny") else Path(args.model)
        loaded = load_model(str(model_dir), device="cpu", seed=0)

        def options(name: str, limit: int | None) -> RunOptions:
            return RunOptions(output=work / f"results-{name}-{time.time_ns()}", data={"esc50": str(data)}, limit=limit,
                              batch_size=args.batch_size, workers=workers, overwrite=True, no_cache=True)  # cold: the computation, not the cache

        quiet = Console(quiet=True)
        records, clf_s, clf = run_plan("esc50", loaded, options("esc50", None), quiet)
        clips = records[0].n_items
        load_mid = os.getloadavg()[0]
        records, tmp_s, tem = run_plan("zste,order-pairs", loaded, options("temporal", args.pairs), quiet, source="esc50")
        pairs = {r.task: r.n_items for r in records}
        consumed = sum(VARIANTS_PER_PAIR[t] * n for t, n in pairs.items())
        # The distinct items the run embedded, where the code records them (not before issue 17 item 6).
        distinct = next((r.extra("temporal", {}).get("item_embeddings", {}).get("distinct_in_run") for r in records), None)
        console.rule("throughput (cold, embedding cache off)")
        console.print(f"zero-shot esc50     : {clips} clips in {clf_s:7.2f} s = {clips / clf_s:6.2f} clips/s")
        console.print(f"zste,order-pairs    : {len(pairs)} probes x {max(pairs.values())} pairs = {consumed} item embeddings used, in {tmp_s:7.2f} s "
                      f"= {consumed / tmp_s:6.2f} items/s")
        if distinct:
            console.print(f"                      {distinct} distinct items embedded = {distinct / tmp_s:6.2f} distinct items/s")
        console.rule("the audio embedding step alone (decoding or building, features, forward)")
        (clf_emb, _), (tmp_emb, _) = clf["embedding"], tem["embedding"]
        console.print(f"zero-shot esc50     : {clf['forward'][1]} clips through the model in {clf_emb:7.2f} s = {clf['forward'][1] / clf_emb:6.2f} clips/s")
        console.print(f"zste,order-pairs    : {tem['forward'][1]} items through the model in {tmp_emb:7.2f} s = {tem['forward'][1] / tmp_emb:6.2f} items/s")
        console.print(f"text tower          : {clf['text'][0]:7.2f} s in esc50, {tem['text'][0]:7.2f} s in the temporal probes (prompts and captions)")
        console.print(f"load average        : {load1:.2f} at start, {load_mid:.2f} between, {os.getloadavg()[0]:.2f} at end")
        for r in records:
            console.print(f"  {r.task:<12} {r.main_metric}={r.metrics[r.main_metric]:.6f}  ({r.n_items} pairs)")
        return 0


if __name__ == "__main__":
    sys.exit(main())
