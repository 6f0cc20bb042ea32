"""Zero-shot throughput: clapbench's ESC-50 path against a plain loop over transformers' pipeline.

The same model folder and the same clips go through
  (a) clapbench: load_model + run_task (prompts embedded once per task, audio in batches,
      decoding and mel features in worker processes), exactly what `clapbench run` does;
  (b) transformers: pipeline("zero-shot-audio-classification"), one clip per call with the task's
      classes as candidate labels, each file decoded by hand with soundfile + soxr to 48 kHz.
It prints clips/s of each and their ratio, checks both saw the same clips, where clapbench's time
goes, and (with --check-agreement) whether top-1 predictions agree under the pipeline's single template.

Runs offline: by default it builds a full-size ClapConfig with random weights (the cost profile of
laion/clap-htsat-unfused) and synthesizes an ESC-50-layout dataset of 5 s clips at 44.1 kHz.

    python benchmarks/zero_shot_throughput.py                      # full-size model, 100 clips, 50 classes
    python benchmarks/zero_shot_throughput.py --model tiny --clips 50
    python benchmarks/zero_shot_throughput.py --data /path/to/ESC-50-master --model /path/to/clap-htsat-unfused
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# Run from a checkout without installing: the checkout's clapbench wins.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import soundfile as sf  # noqa: E402
import soxr  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402

from common import work_folder  # noqa: E402

# ESC-50's classes in `target` order (the dataset's meta/esc50.csv).
ESC50_CLASSES = (
    "dog rooster pig cow frog cat hen insects sheep crow rain sea_waves crackling_fire crickets chirping_birds "
    "water_drops wind pouring_water toilet_flush thunderstorm crying_baby sneezing clapping breathing coughing "
    "footsteps laughing brushing_teeth snoring drinking_sipping door_wood_knock mouse_click keyboard_typing "
    "door_wood_creaks can_opening washing_machine vacuum_cleaner clock_alarm clock_tick glass_breaking helicopter "
    "chainsaw siren car_horn engine train church_bells airplane fireworks hand_saw"
).split()
PIPELINE_TEMPLATE = "This is a sound of {}."  # the pipeline's default hypothesis_template


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="full-size", help="'full-size' (default ClapConfig, random weights), 'tiny', or a HF ClapModel folder")
    p.add_argument("--clips", type=int, default=100, help="clips through each path (default 100)")
    p.add_argument("--classes", type=int, default=50, help="classes of the synthesized dataset (default 50)")
    p.add_argument("--batch-size", type=int, default=32, help="clapbench's audio batch size (default 32, as `clapbench run`)")
    p.add_argument("--workers", type=int, default=None, help="clapbench's decoding processes (default: clapbench's default_workers())")
    p.add_argument("--seconds", type=float, default=5.0, help="length of synthesized clips (default 5, as ESC-50)")
    p.add_argument("--data", help="an existing ESC-50 layout (meta/esc50.csv, audio/); default: synthesize one")
    p.add_argument("--work-dir", help="keep the built model and data here and reuse them on the next run (default: a temp folder)")
    p.add_argument("--check-agreement", action="store_true", help="also run clapbench with the pipeline's single template and compare top-1 predictions")
    p.add_argument("--skip-pipeline", action="store_true", help="time clapbench only (for tuning --batch-size / --workers)")
    return p.parse_args(argv)


def class_names(n: int) -> list[str]:
    return ESC50_CLASSES[:n] if n <= len(ESC50_CLASSES) else ESC50_CLASSES + [f"class_{i}" for i in range(len(ESC50_CLASSES), n)]


def prepare_model(args, work: Path, corpus: list[str]) -> Path:
    from clapbench.models.tiny_clap import build_tiny_clap

    if args.model not in ("full-size", "tiny"):
        return Path(args.model)
    folder = work / f"clap-{args.model}-random"
    if not (folder / "config.json").is_file():
        # The tokenizer is trained on the prompts so that they tokenize to realistic lengths.
        build_tiny_clap(folder, seed=0, corpus=corpus, full_size=args.model == "full-size")
    return folder


def prepare_data(args, work: Path) -> Path:
    from clapbench.audio.synth import make_esc50_layout

    if args.data:
        return Path(args.data)
    per_class = math.ceil(args.clips / args.classes)
    root = work / f"esc50-{args.classes}x{per_class}-{args.seconds:g}s"
    if not (root / "meta" / "esc50.csv").is_file():
        make_esc50_layout(root, classes=class_names(args.classes), clips_per_class=per_class, seconds=args.seconds, sample_rate=44100, seed=0)
    return root


class Timed:
    """Wrap a function and add up the wall time spent in it (in this, the main, process)."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *a, **k):
        t = time.perf_counter()
        try:
            return self.fn(*a, **k)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1


class TimedIter(Timed):
    """Wrap a generator function and add up the time its consumer waits for each item."""

    def __call__(self, *a, **k):
        it = iter(self.fn(*a, **k))
        while True:
            t = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                self.seconds += time.perf_counter() - t
            self.calls += 1
            yield item


def run_clapbench(spec, loaded, options, console):
    """One timed run_task; the model's audio forward, text embedding, the dataset read and the metrics are timed inside it."""
    from clapbench import runner
    from clapbench import embedding
    from clapbench.evaluations import zero_shot

    model = loaded.model
    fwd_name = "embed_audio_features" if getattr(model, "audio_preprocessor", None) is not None else "embed_audio"
    timed = {
        "audio forward": (model, fwd_name),
        "text embedding": (model, "embed_text"),
        "waiting for clips": (embedding, "iter_prepared"),
        "reading the dataset": (runner, "load_task_data"),
        "metrics + bootstrap": (zero_shot, "evaluate_metrics"),
    }
    saved = {key: owner.__dict__.get(name) for key, (owner, name) in timed.items()}
    clocks = {}
    for key, (owner, name) in timed.items():
        clocks[key] = (TimedIter if name == "iter_prepared" else Timed)(getattr(owner, name))
        setattr(owner, name, clocks[key])
    try:
        t = time.perf_counter()
        result = runner.run_task(spec, loaded, options, console)
        seconds = time.perf_counter() - t
    finally:
        for key, (owner, name) in timed.items():  # put the originals back
            if saved[key] is None:
                delattr(owner, name)
            else:
                setattr(owner, name, saved[key])
    return result, seconds, clocks


def run_pipeline(pipe, paths: list[str], labels: list[str], template: str = PIPELINE_TEMPLATE) -> tuple[list[str], float]:
    """What a user of the pipeline writes: decode each file, one call per clip, the task's classes as labels."""
    rate = pipe.feature_extractor.sampling_rate
    preds = []
    t = time.perf_counter()
    for path in paths:
        wave, sr = sf.read(path, dtype="float32", always_2d=True)
        wave = wave.mean(axis=1)
        if sr != rate:
            wave = soxr.resample(wave, sr, rate)
        out = pipe(wave, candidate_labels=labels, hypothesis_template=template)
        preds.append(out[0]["label"])
    return preds, time.perf_counter() - t


def clip_costs(loaded, paths: list[str]) -> tuple[float, float]:
    """Seconds per clip of decode+resample and of mel features, sequentially in this process (the workers' job)."""
    from clapbench.audio.decode import load_audio

    prepare = getattr(loaded.model, "audio_preprocessor", None)
    t = time.perf_counter()
    waves = [load_audio(p, loaded.sample_rate) for p in paths]
    decode = (time.perf_counter() - t) / len(paths)
    if prepare is None:
        return decode, 0.0
    t = time.perf_counter()
    for w in waves:
        prepare(w)
    return decode, (time.perf_counter() - t) / len(paths)


def main(argv=None) -> int:
    args = parse_args(argv)
    console = Console(width=120)
    from clapbench.audio.loader import default_workers
    from clapbench.models import load_model
    from clapbench.registry import registry
    from clapbench.runner import RunOptions, load_task_data

    workers = default_workers() if args.workers is None else args.workers
    load1 = os.getloadavg()[0]
    console.print(
        f"machine: {platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__} with {torch.get_num_threads()} threads, "
        f"python {platform.python_version()}, load average {load1:.2f}"
    )
    console.print(
        f"settings: model={args.model} clips={args.clips} classes={args.classes if not args.data else '(from data)'} "
        f"batch_size={args.batch_size} workers={workers}{' (default)' if args.workers is None else ''} "
        f"seconds={args.seconds if not args.data else '(from data)'} data={args.data or 'synthesized'}"
    )

    spec = registry()["esc50"]
    with work_folder(Path(args.work_dir) if args.work_dir else None, prefix="clapbench-bench-") as work:
        t = time.perf_counter()
        data = prepare_data(args, work)
        corpus = [tpl.format(spec.display_name(c)) for c in class_names(args.classes) for tpl in spec.templates + [PIPELINE_TEMPLATE]]
        model_dir = prepare_model(args, work, corpus)
        console.print(f"model {model_dir}, data {data} (ready in {time.perf_counter() - t:.1f} s)")

        options = RunOptions(
            output=work / "results", data={"esc50": str(data)}, limit=args.clips, batch_size=args.batch_size,
            workers=workers, save_predictions=True, overwrite=True,
            no_cache=True,  # measure the computation, not the embedding cache (benchmarks/cache_cold_warm.py does that)
        )
        dataset = load_task_data(spec, options)  # the seeded sample run_task evaluates; the pipeline gets the same clips
        paths = [dataset.absolute(i) for i in dataset.items]
        labels = [spec.display_name(c) for c in dataset.classes]

        # (a) clapbench
        t = time.perf_counter()
        loaded = load_model(str(model_dir), device="cpu", seed=0)
        cb_load = time.perf_counter() - t
        result, cb_seconds, clocks = run_clapbench(spec, loaded, options, console)
        cb_rate = result.n_items / cb_seconds
        decode, features = clip_costs(loaded, paths[: min(16, len(paths))])

        # (b) transformers pipeline
        pl_rate = pl_preds = None
        if not args.skip_pipeline:
            from transformers import pipeline

            t = time.perf_counter()
            pipe = pipeline("zero-shot-audio-classification", model=str(model_dir), device="cpu")
            pl_load = time.perf_counter() - t
            pl_preds, pl_seconds = run_pipeline(pipe, paths, labels)
            pl_rate = len(pl_preds) / pl_seconds
            del pipe

        n = result.n_items
        console.rule("throughput")
        console.print(f"clapbench  : {n} clips in {cb_seconds:7.2f} s = {cb_rate:7.2f} clips/s  ({len(spec.templates)} templates; model load {cb_load:.1f} s, not counted)")
        if pl_rate is not None:
            console.print(f"pipeline   : {len(pl_preds)} clips in {pl_seconds:7.2f} s = {pl_rate:7.2f} clips/s  (1 template; model load {pl_load:.1f} s, not counted)")
            console.print(f"[bold]ratio clapbench / pipeline: {cb_rate / pl_rate:.2f}x[/]")
            same = n == len(pl_preds) == len(paths)
            console.print(f"same clips: {'yes' if same else 'NO'} (clapbench {n}, pipeline {len(pl_preds)}, sample {len(paths)})")
        console.rule("where clapbench's time goes (main process wall time)")
        fwd, text = clocks["audio forward"], clocks["text embedding"]
        notes = {
            "audio forward": f"{fwd.calls} batches, {1000 * fwd.seconds / n:.1f} ms/clip",
            "text embedding": f"{text.calls} call(s), {len(spec.templates) * len(labels)} prompts",
            "waiting for clips": "the workers' start-up and first batch (workers=0: all decoding and features)",
        }
        for key, clock in clocks.items():
            console.print(f"{key:<22}: {clock.seconds:7.2f} s  {notes.get(key, '')}")
        other = cb_seconds - sum(c.seconds for c in clocks.values())
        console.print(f"{'the rest':<22}: {other:7.2f} s  ranking, predictions table, writing results")
        console.print(f"{'worker cost per clip':<22}: decode+resample {1000 * decode:.1f} ms, mel features {1000 * features:.1f} ms (in-process, sequential)")
        console.print(f"{'load average':<22}: {load1:.2f} at start, {os.getloadavg()[0]:.2f} at end")

        status = 0 if pl_rate is None or n == len(pl_preds) else 1
        if args.check_agreement and pl_preds is not None:
            import pandas as pd

            from clapbench.results.store import predictions_path

            single, single_seconds, _ = run_clapbench(spec.with_templates([PIPELINE_TEMPLATE]), loaded, options, console)
            table = pd.read_csv(predictions_path(options.output, loaded.model_id, spec.name))
            ours = [spec.display_name(c) for c in table["prediction"]]
            agree = sum(a == b for a, b in zip(ours, pl_preds))
            console.print(
                f"top-1 agreement with one template '{PIPELINE_TEMPLATE}': {agree}/{len(pl_preds)} "
                f"(clapbench with 1 template: {single.n_items / single_seconds:.2f} clips/s)"
            )
            if agree != len(pl_preds):
                status = 1
        return status


if __name__ == "__main__":
    sys.exit(main())
