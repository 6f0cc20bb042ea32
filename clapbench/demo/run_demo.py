"""`clapbench demo`: build a small suite of real sounds, train a tiny CLAP on it, and benchmark the trained
model against the untrained one on held-out clips, all on this machine (CPU, offline).

Writes under OUTPUT: ``data/`` (the suite, see clapbench.demo.suite), ``model/`` (the training run:
``model/init`` is the untrained model, ``model/`` the trained one, with metrics.jsonl and loss.png),
``results/<model-id>/<task>.json`` (as `clapbench run` writes them), ``leaderboard.csv`` and ``leaderboard.md``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from clapbench.demo.tasks import CAPTIONS_TASK, SOUNDS_TASK
from clapbench.tables import print_table

SETUP_HINT = "bash scripts/setup-demo.sh"


@dataclass
class DemoSize:
    train_per_class: int = 24
    eval_per_class: int = 8
    retrieval_per_class: int = 2
    steps: int = 240
    batch_size: int = 32
    lr: float = 2e-3


def run_demo(output: Path, console: Console, seed: int = 0, size: DemoSize | None = None, synth_only: bool = False) -> dict:
    """Run the demo; returns {model-id: {task: result dict}} and the figures it printed."""
    import torch

    from clapbench.demo.suite import EVAL_FOLD, build_suite
    from clapbench.demo.tasks import demo_tasks
    from clapbench.models import load_model
    from clapbench.registry import registry
    from clapbench.results.leaderboard import build_leaderboard, to_csv_frame, to_markdown
    from clapbench.results.record import load_results
    from clapbench.files import atomic_write_text
    from clapbench.run_options import RunOptions
    from clapbench.runner import run_task
    from clapbench.training.examples import read_pair_file
    from clapbench.training.trainer import TrainConfig, train

    size = size or DemoSize()
    started = time.perf_counter()
    output = Path(output)
    for sub in ("data", "model", "results"):
        shutil.rmtree(output / sub, ignore_errors=True)  # a demo run starts clean

    suite = build_suite(output / "data", seed=seed, train_per_class=size.train_per_class, eval_per_class=size.eval_per_class,
                        retrieval_per_class=size.retrieval_per_class, synth_only=synth_only)
    used = sorted({c.tool for c in suite.classes})
    missing = [t for t, ok in suite.tools.items() if not ok]
    console.print(f"[bold]suite[/]: {suite.counts['classes']} classes from {', '.join(used)}; {suite.counts['train_clips']} training clips "
                  f"(folds 1-4), {suite.counts['eval_clips']} held-out clips (fold {EVAL_FOLD}), {suite.counts['retrieval_clips']} "
                  f"retrieval clips x 5 captions, in {suite.root} ({time.perf_counter() - started:.1f} s)")
    if synth_only:
        console.print("[yellow]--synth-only[/]: every sound is numpy synthesis (clapbench.audio.synth)")
    elif missing:
        note = "numpy synthesis (clapbench.audio.synth) stands in" if suite.numpy_fallback else "their classes are left out"
        console.print(f"[yellow]missing sound sources[/]: {', '.join(missing)}; {note}. Install them with `{SETUP_HINT}`.")

    torch.manual_seed(seed)
    model_dir = output / "model"
    cfg = TrainConfig(output=model_dir, config="tiny", steps=size.steps, batch_size=size.batch_size, lr=size.lr,
                      warmup_steps=max(1, size.steps // 20), checkpoint_every=size.steps, keep_checkpoints=1, workers=0,
                      device="cpu", seed=seed)
    train(cfg, read_pair_file(suite.pairs), console)

    tasks = demo_tasks(registry(), suite)
    results_dir = output / "results"
    outcome: dict[str, dict] = {}
    for model_id, folder in (("tiny-clap-untrained", model_dir / "init"), ("tiny-clap-trained", model_dir)):
        loaded = load_model(str(folder), device="cpu", seed=seed, model_id=model_id)
        for task, folds, data in ((SOUNDS_TASK, [EVAL_FOLD], suite.esc50), (CAPTIONS_TASK, None, suite.clotho)):
            options = RunOptions(output=results_dir, data={task: str(data)}, folds=folds, seed=seed, save_predictions=True,
                                 overwrite=True, workers=0)
            outcome.setdefault(model_id, {})[task] = run_task(tasks[task], loaded, options, console)

    table, domains = build_leaderboard(load_results(results_dir))
    atomic_write_text(output / "leaderboard.csv", to_csv_frame(table).to_csv(index=False))
    atomic_write_text(output / "leaderboard.md", to_markdown(table, domains))
    from clapbench.api import compare_results
    from clapbench.results.report import write_report

    # the paired verdict a CI gate would give: trained (new) against untrained (baseline), item by item
    verdicts = compare_results(results_dir / "tiny-clap-untrained", results_dir / "tiny-clap-trained", bootstrap=1000, seed=seed)
    report = output / "report.html"
    write_report(results_dir, report)
    seconds = time.perf_counter() - started
    print_table(console, _summary(outcome))
    print_table(console, _verdicts(verdicts))
    trained = outcome["tiny-clap-trained"][SOUNDS_TASK]
    ratio = trained.main_score / trained.chance
    verdict = "[green]clearly above[/]" if trained.interval[0] > trained.chance else "[red]not clearly above[/]"
    console.print(f"trained accuracy on held-out clips: {trained.main_score:.3f} = {ratio:.1f} x chance ({trained.chance:.3f}); "
                  f"its 95% interval is {verdict} chance")
    console.print(f"results: {results_dir}; leaderboard: {output / 'leaderboard.md'}; report: {report}; "
                  f"loss curve: {model_dir / 'loss.png'}; wall time {seconds:.0f} s")
    console.print("next, try:", highlight=False)
    for line in (f"clapbench leaderboard {results_dir}",
                 f"clapbench compare {results_dir / 'tiny-clap-untrained'} {results_dir / 'tiny-clap-trained'}",
                 f"clapbench run --model {model_dir} --tasks esc50 --data esc50=/path/to/ESC-50-master --output results",
                 "clapbench tasks --group msclap-2023"):
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    return {"results": outcome, "seconds": seconds, "suite": suite, "compare": verdicts, "report": report}


def _verdicts(rows) -> Table:
    table = Table(title="paired comparison: trained vs untrained (clapbench compare)")
    for col in ("task", "metric", "untrained", "trained", "diff [95% CI]", "p", "verdict"):
        table.add_column(col, justify="left" if col in ("task", "metric", "verdict") else "right", no_wrap=True)
    for r in rows:
        table.add_row(r.task, r.metric, f"{r.baseline:.3f}", f"{r.new:.3f}", f"{r.diff:+.3f} [{r.ci95[0]:+.2f}, {r.ci95[1]:+.2f}]",
                      f"{r.p_value:.3g}", r.verdict)
    return table


def _summary(outcome: dict[str, dict]) -> Table:
    table = Table(title=f"held-out clips: {SOUNDS_TASK} (fold 5) zero-shot accuracy, {CAPTIONS_TASK} text-to-audio R@1")
    for col in ("model", "accuracy [95% CI]", "chance", "t2a R@1 [95% CI]", "chance "):
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for model_id, tasks in outcome.items():
        e, c = tasks[SOUNDS_TASK], tasks[CAPTIONS_TASK]
        table.add_row(
            model_id.removeprefix("tiny-clap-"),
            "{:.3f} [{:.2f}, {:.2f}]".format(e.main_score, *e.interval), f"{e.chance:.3f}",
            "{:.3f} [{:.2f}, {:.2f}]".format(c.main_score, *c.interval), f"{_chance(c):.3f}",
        )
    return table


def _chance(result) -> float:
    if isinstance(result.chance, (int, float)):
        return float(result.chance)
    levels = result.extra("chance_levels") or {}
    return float(levels.get(result.main_metric, float("nan")))
