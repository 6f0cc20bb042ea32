"""The clapbench command line: run, tasks, leaderboard, train, demo."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Everything loads from local files; never let a library reach for the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from clapbench.errors import ClapbenchError

console = Console(stderr=False)
err_console = Console(stderr=True)


class Group(click.Group):
    """Turn user errors into one message and exit code 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ClapbenchError as exc:
            # escape: messages quote file names, and Freesound titles (Clotho) contain [brackets]
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/]: results of finished tasks are kept")
            sys.exit(130)


def _parse_data(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"'{value}': expected NAME=PATH, e.g. esc50=/data/ESC-50-master", param_hint="--data")
        out[name.strip()] = path.strip()
    return out


def _override_prompts(specs: list, values: tuple[str, ...]) -> list:
    """Apply --prompt KEY=TEXT to every chosen task whose task file names prompt KEY."""
    prompts = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip() or not text:
            raise click.BadParameter(f"'{value}': expected KEY=TEXT, e.g. before='{{a}} then {{b}}'", param_hint="--prompt")
        prompts[key.strip()] = text
    for key in prompts:
        if not any(key in s.prompts for s in specs):
            known = sorted({k for s in specs for k in s.prompts})
            raise click.BadParameter(
                f"no chosen task has a prompt '{key}'; their prompts: {', '.join(known) or 'none (use --template for class templates)'}",
                param_hint="--prompt",
            )
    return [s.with_prompts({k: v for k, v in prompts.items() if k in s.prompts}) for s in specs]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="clapbench")
def cli():
    """Benchmarks for CLAP (contrastive language-audio) models."""


@cli.command()
@click.option("--model", "model_spec", required=True, help="HF ClapModel folder, or a plugin package.module:factory.")
@click.option("--tasks", "task_names", required=True, help="Comma-separated task or group names (see `clapbench tasks`).")
@click.option("--data", "data", multiple=True, metavar="NAME=PATH", help="Dataset folder of a task (repeatable).")
@click.option("--data-root", type=click.Path(file_okay=False), help="Folder holding one DIR/<task-name>/ per task.")
@click.option("--output", type=click.Path(file_okay=False), default="results", show_default=True, help="Results folder.")
@click.option("--model-id", help="Name of the model in results and leaderboards (default: folder or plugin name).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--dtype", default="float32", show_default=True, type=click.Choice(["float32", "bfloat16", "float16"]))
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--workers", type=click.IntRange(min=0), help="Decoding processes (0: decode in this process).")
@click.option("--folds", help="Comma-separated official folds to evaluate (default: all).")
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate a seeded sample of N clips, or the first N pairs of a temporal probe (a smoke run, marked so).")
@click.option("--template", "templates", multiple=True, help="Override the task's prompt templates (repeatable; '{}' marks the class).")
@click.option("--prompt", "prompts", multiple=True, metavar="KEY=TEXT", help="Override a task's named prompt, e.g. before='{a} then {b}' (repeatable).")
@click.option("--source", "source_name", help="Source task whose clips build the temporal probes' items (default: the task file's source_task).")
@click.option("--pairs", "pairs_file", type=click.Path(dir_okay=False), help="Pair list (a saved <task>.pairs.csv) to build the temporal probes' items from.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for crops, --limit sampling, pair sampling and the bootstrap.")
@click.option("--bootstrap", "n_resamples", default=1000, show_default=True, type=click.IntRange(min=0), help="Bootstrap resamples for the 95% intervals.")
@click.option("--save-predictions", is_flag=True, help="Write <task>.predictions.csv with a row per clip.")
@click.option("--overwrite", is_flag=True, help="Recompute tasks whose result file exists.")
@click.option("--tasks-dir", "tasks_dirs", multiple=True, type=click.Path(file_okay=False, exists=True), help="Extra folder of task YAML files.")
def run(model_spec, task_names, data, data_root, output, model_id, device, dtype, batch_size, workers, folds, limit, templates, prompts, source_name, pairs_file, seed, n_resamples, save_predictions, overwrite, tasks_dirs):
    """Evaluate a model on tasks and write one result file per task."""
    from clapbench.models import load_model
    from clapbench.registry import registry, resolve_tasks
    from clapbench.runner import RunOptions, run_task

    if templates and not all("{}" in t for t in templates):
        raise click.BadParameter("each template must contain '{}' where the class name goes", param_hint="--template")
    reg = registry(list(tasks_dirs))
    specs = resolve_tasks(task_names, reg)
    if templates:
        specs = [s.with_templates(list(templates)) for s in specs]
    if prompts:
        specs = _override_prompts(specs, prompts)
    derived = [s for s in specs if s.source is not None]
    if (source_name or pairs_file) and not derived:
        option = "--source" if source_name else "--pairs"
        raise click.BadParameter("applies only to tasks built from a source task (zste, order-pairs); none was chosen", param_hint=option)
    if source_name:
        if source_name not in reg:
            raise click.BadParameter(f"'{source_name}' is not a known task; see `clapbench tasks`", param_hint="--source")
        specs = [s.with_source(reg[source_name]) if s.source is not None else s for s in specs]
    if pairs_file and not Path(pairs_file).is_file():
        raise click.BadParameter(f"{pairs_file}: file not found; expected a pair list (<task>.pairs.csv)", param_hint="--pairs")
    options = RunOptions(
        output=Path(output),
        data=_parse_data(data),
        data_root=data_root,
        folds=[f.strip() for f in folds.split(",")] if folds else None,
        limit=limit,
        batch_size=batch_size,
        workers=workers,
        seed=seed,
        n_resamples=n_resamples,
        save_predictions=save_predictions,
        overwrite=overwrite,
        pairs=Path(pairs_file) if pairs_file else None,
    )
    loaded = load_model(model_spec, device=device, dtype=dtype, seed=seed, model_id=model_id)
    console.print(f"model [bold]{loaded.model_id}[/] ({loaded.kind}, sha256 {str(loaded.sha256)[:12]}, {loaded.device}, {loaded.dtype})")
    done = []
    for spec in specs:
        result = run_task(spec, loaded, options, console)
        if result is not None:
            done.append(result)
    if done:
        console.print(_score_table(done))
    console.print(f"results in {Path(output) / loaded.model_id}")


def _score_table(results: list[dict]) -> Table:
    table = Table(title="scores")
    for col in ("task", "metric", "score", "95% CI", "items", "chance", "seconds"):
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    for r in results:
        m = r["main_metric"]
        lo, hi = r["ci95"][m]
        name = r["task"] + (" [yellow](limited)[/]" if r.get("limited") else "")
        table.add_row(name, m, f"{r['main_score']:.4f}", f"[{lo:.4f}, {hi:.4f}]", str(r["n_items"]), f"{r['chance']:.4f}", f"{r['seconds']:.1f}")
    return table


@cli.command()
@click.option("--data-root", type=click.Path(file_okay=False), help="Show whether each task's data is found here.")
@click.option("--tasks-dir", "tasks_dirs", multiple=True, type=click.Path(file_okay=False, exists=True))
def tasks(data_root, tasks_dirs):
    """List the registered tasks."""
    from clapbench.registry import registry

    reg = registry(list(tasks_dirs))
    table = Table(title=f"{len(reg)} tasks")
    for col in ("task", "domain", "classes", "metric", "chance", "version", "evaluation"):
        table.add_column(col)
    if data_root:
        table.add_column("data")
    for name, spec in sorted(reg.items(), key=lambda kv: (kv[1].domain, kv[0])):
        count = spec.classes.get("count")
        chance = spec.chance if spec.chance is not None else (1.0 / count if count else None)
        row = [name, spec.domain, str(count or "?"), spec.main_metric, f"{chance:.3f}" if chance else "?", spec.version, spec.eval_type]
        if data_root:
            row.append("[green]found[/]" if (Path(data_root) / name).is_dir() else "[red]missing[/]")
        table.add_row(*row)
    console.print(table)


@cli.command()
@click.argument("results_dir", type=click.Path())
@click.option("-o", "--output", "csv_out", type=click.Path(dir_okay=False), help="Write the leaderboard as CSV.")
@click.option("--markdown", "md_out", type=click.Path(dir_okay=False), help="Write the leaderboard as Markdown.")
@click.option("--tasks", "task_names", help="Columns to show (default: every task found).")
def leaderboard(results_dir, csv_out, md_out, task_names):
    """Build a leaderboard from a results folder."""
    from clapbench.errors import ClapbenchError
    from clapbench.results.leaderboard import build_leaderboard, to_csv_frame, to_markdown
    from clapbench.results.store import atomic_write_text, load_results

    results = load_results(Path(results_dir))
    if not results:
        raise ClapbenchError(f"{results_dir}: no result files (<model-id>/<task>.json) found")
    wanted = [t.strip() for t in task_names.split(",")] if task_names else None
    table, domains = build_leaderboard(results, wanted)
    if csv_out:
        atomic_write_text(Path(csv_out), to_csv_frame(table).to_csv(index=False))
    markdown = to_markdown(table, domains)
    if md_out:
        atomic_write_text(Path(md_out), markdown)
    rich_table = Table(title="leaderboard (main metric, %)")
    for col in table.columns:
        if col != "complete":
            rich_table.add_column(col)
    for _, row in table.iterrows():
        cells = []
        for col in table.columns:
            if col == "complete":
                continue
            v = row[col]
            if col == "model":
                cells.append(str(v))
            elif v is None or v != v:
                cells.append("[red]missing[/]")
            else:
                cells.append(f"{100 * float(v):.2f}" + ("" if col != "mean" or row["complete"] else " [yellow](incomplete)[/]"))
        rich_table.add_row(*cells)
    console.print(rich_table)


@cli.command()
@click.option("--output", type=click.Path(file_okay=False), default="demo-results", show_default=True)
@click.option("--clips-per-class", default=24, show_default=True, type=click.IntRange(min=4), help="Training clips per class (held-out: a third of it).")
@click.option("--steps", default=240, show_default=True, type=click.IntRange(min=1), help="Training steps of the tiny CLAP.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--synth-only", is_flag=True, help="Use numpy-synthesized sounds only (no espeak-ng, fluidsynth, sox or recorded sounds).")
def demo(output, clips_per_class, steps, seed, synth_only):
    """Build a suite of real sounds, train a tiny CLAP on CPU, benchmark it against the untrained one."""
    from clapbench.demo.run_demo import DemoSize, run_demo

    size = DemoSize(train_per_class=clips_per_class, eval_per_class=max(2, clips_per_class // 3), steps=steps)
    run_demo(Path(output), console, seed=seed, size=size, synth_only=synth_only)


from clapbench.training.command import train as _train  # noqa: E402

cli.add_command(_train)


def main() -> None:
    cli(prog_name="clapbench")


if __name__ == "__main__":
    main()
