"""The clapbench command line: run, check-model, tasks, data check, leaderboard, report, compare, train, demo, cache."""

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

from clapbench.cpu_heap import keep_freed_memory
from clapbench.errors import ClapbenchError
from clapbench.paths import check_writable_file
from clapbench.run_config import config_option, effective_options
from clapbench.run_options import parse_data_options
from clapbench.tables import print_table

console = Console(stderr=False)
err_console = Console(stderr=True)


class Group(click.Group):
    """Turn user errors into one message and exit code 2, never a traceback."""

    def invoke(self, ctx):
        from clapbench.distributed import shard_from_env

        keep_freed_memory()  # this process is clapbench's own: CPU forwards reuse their freed pages (cpu_heap.py)

        shard = shard_from_env()
        if shard is not None and not shard.writer:  # under torchrun only rank 0 prints; every rank exits alike
            console.quiet = err_console.quiet = True
        try:
            return super().invoke(ctx)
        except ClapbenchError as exc:
            # escape: messages quote file names ([brackets] in Freesound titles, "data [v2]") and regexes ([a-z]) that rich would take for markup
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/]: results of finished tasks are kept")
            sys.exit(130)


def _decoding(beam_size, entry_length, temperature, stop_token):
    """A captioner's BeamOptions when any decoding option is given (None: the original's defaults)."""
    if beam_size is None and entry_length is None and temperature is None and stop_token is None:
        return None
    from clapbench.models.beam_search import BeamOptions

    given = dict(beam_size=beam_size, entry_length=entry_length, temperature=temperature, stop_token=stop_token)
    return BeamOptions(**{k: v for k, v in given.items() if v is not None})


def _model_options(fn):
    """--family, --protocol, --tokenizer: how a checkpoint file is read and evaluated; a captioner's beam search."""
    from clapbench.models.presets import FAMILY_ALIASES, FAMILY_CHOICES, PROTOCOL_NAMES

    fn = click.option("--stop-token", help="Captioner: the string whose first token ends a caption (default: msclap's ' <|endoftext|>').")(fn)
    fn = click.option("--temperature", type=float, help="Captioner: softmax temperature of the beam search (default 1, as msclap's generate_caption).")(fn)
    fn = click.option("--entry-length", type=int, help="Captioner: the most tokens a caption gets (default 67, as msclap).")(fn)
    fn = click.option("--beam-size", type=int, help="Captioner (clapcap): beams of the beam search (default 5, as msclap).")(fn)
    fn = click.option("--tokenizer", type=click.Path(), help="Folder with the text tower's tokenizer files (default: the local HuggingFace cache).")(fn)
    fn = click.option("--protocol", default="native", show_default=True, type=click.Choice(PROTOCOL_NAMES), help="Preprocessing and prompt preset; native is the family's own.")(fn)
    return click.option("--family", type=click.Choice(FAMILY_CHOICES + tuple(FAMILY_ALIASES)),
                        help="Checkpoint family, as results name it (default: detected from the weights; hf and laion: older names of hf-clap and laion-clap).")(fn)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="clapbench")
def cli():
    """Benchmarks for CLAP (contrastive language-audio) models."""


@cli.command()
@config_option
@click.option("--model", "model_spec", required=True, help="HF ClapModel folder, MS-CLAP/LAION-CLAP checkpoint (.pt/.pth), or a plugin package.module:factory.")
@click.option("--tasks", "task_names", required=True, help="Comma-separated task or group names (see `clapbench tasks`).")
@click.option("--data", "data", multiple=True, metavar="NAME=PATH", help="Dataset folder of a task (repeatable; hf:PATH for a HuggingFace parquet folder).")
@click.option("--data-root", type=click.Path(file_okay=False), help="Folder holding one DIR/<task-name>/ per task.")
@click.option("--output", type=click.Path(file_okay=False), default="results", show_default=True, help="Results folder.")
@click.option("--model-id", help="Name of the model in results and leaderboards (default: folder or plugin name).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--dtype", default="float32", show_default=True, type=click.Choice(["float32", "bfloat16", "float16"]))
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--workers", type=click.IntRange(min=0), help="Decoding processes (0: decode in this process; default: half the cores, at most 8, and 0 on a CPU device with at most 2 cores).")
@click.option("--folds", help="Comma-separated official folds to evaluate (default: all).")
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate a seeded sample of N clips, or the first N pairs of a temporal probe (a smoke run, marked so).")
@click.option("--template", "templates", multiple=True, help="Override the task's prompt templates (repeatable; '{}' marks the class).")
@click.option("--prompt", "prompts", multiple=True, metavar="KEY=TEXT", help="Override a task's named prompt, e.g. before='{a} then {b}' (repeatable).")
@click.option("--source", "source_name", help="Source task whose clips build the temporal probes' items (default: the task file's source_task).")
@click.option("--pairs", "pairs_file", type=click.Path(dir_okay=False), help="Pair list (a saved <task>.pairs.csv) to build the temporal probes' items from.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for crops, --limit sampling, pair sampling and the bootstrap.")
@click.option("--bootstrap", "n_resamples", default=1000, show_default=True, type=click.IntRange(min=0), help="Bootstrap resamples for the 95% intervals.")
@click.option("--save-predictions", is_flag=True, help="Write <task>.predictions.csv with a row per clip.")
@click.option("--overwrite", is_flag=True, help="Recompute results on disk (by default a result is kept when it was made by this very configuration, and a run that would replace another configuration's result stops).")
@click.option("--keep-going", is_flag=True, help="Run the tasks that can run when others cannot (missing data, a failing clip); list those at the end and exit 2.")
@click.option("--tasks-dir", "tasks_dirs", multiple=True, type=click.Path(file_okay=False, exists=True), help="Extra folder of task YAML files.")
@click.option("--eval", "evals", default="zero-shot", show_default=True, help="zero-shot, linear-probe, or zero-shot,linear-probe (one result file each, shared embeddings).")
@click.option("--probe-seed", default=0, show_default=True, type=int, help="Seed of the linear probe (validation splits carved from training items).")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Embedding cache folder (default: $XDG_CACHE_HOME/clapbench or ~/.cache/clapbench).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write cached embeddings.")
@click.option("--front-end", default="auto", show_default=True, type=click.Choice(["auto", "torch", "transformers"]),
              help="HF ClapModel folders: log-mel features in torch on the model's device, batched, or by transformers' extractor per clip in the workers (auto: torch).")
@click.option("--attention", default="auto", show_default=True, type=click.Choice(["auto", "sdpa", "eager"]),
              help="HF ClapModel folders: HTSAT's window attention through torch's fused kernel, or transformers' own eager code (auto: sdpa; they differ by float rounding).")
@_model_options
def run(model_spec, task_names, data, data_root, output, model_id, device, dtype, batch_size, workers, folds, limit, templates, prompts, source_name, pairs_file, seed, n_resamples, save_predictions, overwrite, tasks_dirs, evals, probe_seed, cache_dir, no_cache, front_end, attention, keep_going, family, protocol, tokenizer, beam_size, entry_length, temperature, stop_token):
    """Evaluate a model on tasks and write one result file per task."""
    from clapbench.api import evaluate
    from clapbench.results.score_table import score_table

    results = evaluate(
        model_spec, task_names, data=parse_data_options(data), data_root=data_root, output=output, model_id=model_id,
        evaluations=evals, folds=folds, limit=limit, templates=list(templates), prompts=_prompt_options(prompts),
        source=source_name, pairs=pairs_file, batch_size=batch_size, workers=workers, seed=seed, bootstrap=n_resamples,
        probe_seed=probe_seed, save_predictions=save_predictions, overwrite=overwrite, keep_going=keep_going,
        tasks_dir=list(tasks_dirs), cache_dir=cache_dir, no_cache=no_cache, device=device, dtype=dtype, family=family,
        protocol=protocol, tokenizer=tokenizer, decoding=_decoding(beam_size, entry_length, temperature, stop_token),
        front_end=front_end, attention=attention, console=console, invocation=effective_options(click.get_current_context()),
    )
    if results.records:
        print_table(console, score_table(results.records, results.kept))
    console.print(f"results in {escape(str(Path(output) / results.model_id))}")
    if results.failures:
        failed = Table(title="not run")
        failed.add_column("task")
        failed.add_column("why", overflow="fold")
        for f in results.failures:
            failed.add_row(f.task, escape(f.reason))
        print_table(err_console, failed)
        err_console.print(f"[bold red]error:[/] {len(results.failures)} task(s) failed; the others' results are written", highlight=False)
        sys.exit(2)


def _prompt_options(values: tuple[str, ...]) -> dict[str, str]:
    prompts = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip() or not text:
            raise click.BadParameter(f"'{value}': expected KEY=TEXT, e.g. before='{{a}} then {{b}}'", param_hint="--prompt")
        prompts[key.strip()] = text
    return prompts


@cli.command()
@click.option("--data-root", type=click.Path(file_okay=False), help="Show whether each task's data is found here.")
@click.option("--data", "data", multiple=True, metavar="NAME=PATH", help="Dataset folder of a task (repeatable; hf:PATH for a HuggingFace parquet folder).")
@click.option("--tasks-dir", "tasks_dirs", multiple=True, type=click.Path(file_okay=False, exists=True))
@click.option("--domain", "domains", multiple=True, help="Only tasks of this domain (repeatable), e.g. music.")
@click.option("--group", "group_names", multiple=True, help="Only tasks of this group (repeatable), e.g. msclap-2023.")
@click.option("--json", "as_json", is_flag=True, help="Print the tasks as JSON (one object per task).")
def tasks(data_root, data, tasks_dirs, domains, group_names, as_json):
    """List the registered tasks and their groups."""
    from clapbench.registry import groups, registry
    from clapbench.task_listing import task_records

    if data_root or data:  # the data readers bring pandas: only when asked where the data is
        from clapbench.data.locate import data_present, find_location

    records = task_records(domains, group_names, list(tasks_dirs))
    if as_json:
        import json

        click.echo(json.dumps(records, indent=2))
        return
    full = registry(list(tasks_dirs))
    named = groups(full)
    reg = {r["name"]: full[r["name"]] for r in records}
    locations = parse_data_options(data)
    table = Table(title=f"{len(reg)} tasks")
    for col in ("task", "domain", "evaluation", "classes", "metric", "chance"):
        table.add_column(col, no_wrap=True)
    if data_root or locations:
        table.add_column("data", no_wrap=True)
    for name, spec in sorted(reg.items(), key=lambda kv: (kv[1].domain, kv[0])):
        count = spec.classes.get("count")
        if spec.chance is not None:
            chance = f"{spec.chance:.3f}"
        elif count and not spec.multilabel:
            chance = f"{1.0 / count:.3f}"
        else:  # mAP chance is the classes' prevalence; retrieval and temporal chance depend on the items
            chance = "from data"
        evaluation = spec.eval_type.replace("-classification", "")
        row = [name, spec.domain, evaluation, str(count or "—"), spec.main_metric, chance]
        if data_root or locations:
            if name in locations or data_root:
                found = data_present(find_location(name, locations, data_root, spec.dataset.get("shares_data_with")), spec.dataset)
                row.append("[green]found[/]" if found else "[red]missing[/]")
            else:
                row.append("[dim]not given[/]")
        table.add_row(*row)
    print_table(console, table)
    console.print("groups: " + ", ".join(f"{g} ({len(named[g])})" for g in sorted(named)), highlight=False)
    if data_root or locations:
        console.print("[dim]data: a quick look for each folder and its layout's metadata; `clapbench data check` reads it all[/]")


@cli.group()
def data():
    """Check datasets before a run."""


@data.command("check")
@click.option("--data-root", type=click.Path(file_okay=False), help="Folder holding one DIR/<task-name>/ per task.")
@click.option("--data", "data_paths", multiple=True, metavar="NAME=PATH", help="Dataset folder of a task (repeatable; hf:PATH for a HuggingFace parquet folder).")
@click.option("--tasks", "task_names", help="Comma-separated tasks or groups (default: all with --data-root, else those given with --data).")
@click.option("--tasks-dir", "tasks_dirs", multiple=True, type=click.Path(file_okay=False, exists=True), help="Extra folder of task YAML files.")
def data_check(data_root, data_paths, task_names, tasks_dirs):
    """Read each task's metadata as a run would: found, missing or malformed, and the first problem.

    Exits 0 only when every asked task is usable, 1 otherwise (2 for bad usage)."""
    from clapbench.data.check import FOUND, MISSING, check_tasks
    from clapbench.registry import registry, resolve_tasks

    locations = parse_data_options(data_paths)
    if not data_root and not locations:
        raise click.UsageError("pass --data-root DIR and/or --data NAME=PATH")
    reg = registry(list(tasks_dirs))
    unknown = sorted(set(locations) - set(reg))
    if unknown:
        raise click.BadParameter(f"'{unknown[0]}' is not a task; see `clapbench tasks`", param_hint="--data")
    specs = resolve_tasks(task_names or ("all" if data_root else ",".join(locations)), reg)
    rows = check_tasks(specs, locations, data_root)
    # tasks with no folder at all under --data-root: one line for all of them, not a row each
    absent = [r for r in rows if r.absent and r.task not in locations] if data_root else []
    table = Table(title="data check")
    for col in ("task", "status", "clips", "classes", "location", "problem"):
        table.add_column(col, overflow="fold")
    colour = {FOUND: "green", MISSING: "yellow"}
    for r in rows:
        if r in absent:
            continue
        status = f"[{colour.get(r.status, 'red')}]{r.status}[/]" + (" (hf)" if r.format == "hf-parquet" else "")
        detail = r.problem or (f"[dim]{r.note}[/]" if r.note else "")
        table.add_row(r.task, status, _count(r.clips), _count(r.classes), r.location or "", detail)
    if len(absent) < len(rows):
        print_table(console, table)
    if absent:
        console.print(f"[yellow]missing[/]: {len(absent)} task(s) have no folder under {escape(str(data_root))}: "
                      f"{', '.join(r.task for r in absent)} (each is read from DIR/<task>/, or pass --data TASK=PATH)", highlight=False, soft_wrap=True)
    usable = sum(r.usable for r in rows)
    console.print(f"{usable} of {len(rows)} task(s) usable", highlight=False)
    sys.exit(0 if usable == len(rows) else 1)


def _count(value: int | None) -> str:
    return "" if value is None else str(value)


@cli.command()
@click.argument("results_dirs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", "csv_out", type=click.Path(dir_okay=False), help="Write the leaderboard as CSV.")
@click.option("--markdown", "md_out", type=click.Path(dir_okay=False), help="Write the leaderboard as Markdown.")
@click.option("--tasks", "task_names", help="Tasks or groups to show (default: every task found).")
@click.option("--tasks-dir", "tasks_dirs", multiple=True, type=click.Path(file_okay=False, exists=True), help="Extra folder of task YAML files.")
@click.option("--eval", "evaluation", type=click.Choice(["zero-shot", "linear-probe"]), default="zero-shot", show_default=True, help="Which results: zero-shot or linear-probe (one board each).")
@click.option("--published", is_flag=True, help="Add the papers' reported numbers (results/published.csv) as rows marked reported.")
def leaderboard(results_dirs, csv_out, md_out, task_names, tasks_dirs, evaluation, published):
    """Build a leaderboard from one or more results folders: task columns grouped by domain, a mean per domain and overall."""
    from clapbench.api import leaderboard as build
    from clapbench.registry import groups, registry
    from clapbench.results.leaderboard import cell_parts, column_kind, is_measured, to_csv_frame, to_markdown
    from clapbench.files import atomic_write_text

    for path, option in ((csv_out, "-o"), (md_out, "--markdown")):
        if path:
            check_writable_file(path, option)
    table = build(list(results_dirs), task_names, evaluation, published, list(tasks_dirs))
    domains = table.attrs["domains"]
    named = groups(registry(list(tasks_dirs))) if task_names else {}
    if csv_out:
        atomic_write_text(Path(csv_out), to_csv_frame(table).to_csv(index=False))
    markdown = to_markdown(table, domains)
    if md_out:
        atomic_write_text(Path(md_out), markdown)
    shown = [c for c in table.columns if column_kind(c)[0] in ("model", "family", "source", "task", "domain-mean", "mean")]
    rich_table = Table(title="leaderboard (main metric, %)")
    for col in shown:
        kind, domain, label = column_kind(col)
        rich_table.add_column(f"{domain}\n{label}" if domain else label, justify="left" if kind == "model" else "right")
    # Marks go below the table as numbered notes, so the columns stay narrow enough for whole names.
    notes: dict[str, int] = {}
    for _, row in table.iterrows():
        cells = []
        for col in shown:
            text, note = cell_parts(table, row, col, "rich")
            if note:
                text += f" [yellow]{_superscript(notes.setdefault(note, len(notes) + 1))}[/]"
            measured = is_measured(row) or column_kind(col)[0] in ("model", "family", "source")
            cells.append(text if measured else f"[italic]{text}[/]")
        rich_table.add_row(*cells)
    print_table(console, rich_table)
    for note, number in notes.items():
        console.print(f"[yellow]{_superscript(number)}[/] {escape(note)}", soft_wrap=True, highlight=False)
    if task_names:
        _group_coverage(table, domains, {n.strip(): named[n.strip()] for n in task_names.split(",") if n.strip() in named})


def _superscript(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _group_coverage(table, domains: dict[str, str], chosen_groups: dict[str, list[str]]) -> None:
    """For each named group, which of its tasks each model's mean covers (e.g. msclap-2023 without a captioner)."""
    from clapbench.results.leaderboard import task_column

    for group, members in chosen_groups.items():
        for _, row in table.iterrows():
            if row.get("source", "measured") != "measured":
                continue
            missing = [t for t in members if (v := row.get(task_column(domains.get(t, "other"), t))) is None or v != v]
            line = f"{row['model']}: the {group} mean covers {len(members) - len(missing)} of its {len(members)} tasks"
            console.print(escape(line + (f" (missing: {', '.join(missing)})" if missing else "")), highlight=False, soft_wrap=True)


@cli.command("check-model")
@click.argument("model_spec")
@_model_options
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--dtype", default="float32", show_default=True, type=click.Choice(["float32", "bfloat16", "float16"]))
@click.option("--seconds", default=3.0, show_default=True, type=click.FloatRange(min=0.1), help="Length of each generated clip.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check_model_command(model_spec, family, protocol, tokenizer, beam_size, entry_length, temperature, stop_token, device, dtype, seconds, as_json):
    """Load a model, embed generated audio and a few prompts (and caption the audio, for a captioner); report what came out."""
    import json

    from clapbench.errors import ModelError
    from clapbench.models import load_model
    from clapbench.models.check import check_model

    loaded = load_model(model_spec, device=device, dtype=dtype, family=family, protocol=protocol, tokenizer=tokenizer,
                        decoding=_decoding(beam_size, entry_length, temperature, stop_token))
    report = check_model(loaded, seconds=seconds)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        table = Table(title=f"check-model {escape(loaded.model_id)}", show_header=False)
        for key in ("family", "variant", "parameters", "embedding_dim", "sample_rate", "protocol", "clip_seconds", "prompt", "text_encoder", "finite", "normalised", "max_norm_error", "captions", "elapsed_seconds"):
            value = report.get(key)
            if key == "captions" and value is None:
                continue
            table.add_row(key, escape(f"{value:,}" if key == "parameters" and value is not None else str(value)))
        for key, value in report["optional"].items():
            table.add_row(f"optional {key}", escape(value))
        print_table(console, table)
        for warning in report["warnings"]:
            err_console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    if report["problems"]:
        raise ModelError(f"{model_spec}: " + "; ".join(report["problems"]))


@cli.command()
@click.argument("results_dirs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", "html_out", type=click.Path(dir_okay=False), help="The HTML file to write (default: report.html in the first results folder).")
@click.option("--task", help="Task of the per-class views and confusion matrix (default: the first single-label classification task, else the first multi-label one).")
@click.option("--published", is_flag=True, help="Add the numbers papers report (results/published.csv), marked as reported.")
def report(results_dirs, html_out, task, published):
    """Write one self-contained HTML report of one or more results folders: leaderboard, score bars with CIs, per-class views, provenance."""
    from clapbench.results.report import write_report

    html_out = html_out or str(Path(results_dirs[0]) / "report.html")
    check_writable_file(html_out, "-o")
    write_report([Path(d) for d in results_dirs], Path(html_out), task=task, published=published)
    console.print(f"report in {html_out}")


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


@cli.command()
@click.argument("baseline", type=click.Path())
@click.argument("new", type=click.Path())
@click.option("--tasks", "task_names", help="Comma-separated tasks to compare (default: every task both hold).")
@click.option("--max-drop", default=0.01, show_default=True, type=float, help="Largest tolerated drop of a main score (absolute).")
@click.option("--alpha", default=0.05, show_default=True, type=click.FloatRange(0, 1), help="Significance level.")
@click.option("--model-id", help="The model to take when a folder or leaderboard holds several.")
@click.option("--bootstrap", "n_resamples", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the comparison as JSON.")
def compare(baseline, new, task_names, max_drop, alpha, model_id, n_resamples, seed, json_out):
    """Compare NEW results with BASELINE: paired bootstrap per task; exit 1 on a significant regression."""
    from clapbench.api import compare_results
    from clapbench.results import compare as cmp
    from clapbench.files import atomic_write_text

    if json_out:
        check_writable_file(json_out, "--json")
    rows = compare_results(baseline, new, task_names, max_drop=max_drop, alpha=alpha, model_id=model_id, bootstrap=n_resamples, seed=seed)
    table = Table(title=f"{new} vs {baseline} (max drop {max_drop}, alpha {alpha})")
    for col in ("task", "metric", "baseline", "new", "diff", "95% CI of diff", "p", "verdict", "marks"):
        table.add_column(col, justify="left" if col in ("task", "metric", "verdict", "marks") else "right")
    style = {"improved": "green", "unchanged": "white", "regressed": "bold red"}
    for r in rows:
        ci = f"[{r.ci95[0]:+.4f}, {r.ci95[1]:+.4f}]" + ("" if r.paired else " (unpaired)")
        table.add_row(r.task, r.metric, f"{r.baseline:.4f}", f"{r.new:.4f}", f"{r.diff:+.4f}", ci, f"{r.p_value:.3g}", f"[{style[r.verdict]}]{r.verdict}[/]", escape(r.marks))
    print_table(console, table)
    counts = {v: sum(r.verdict == v for r in rows) for v in ("improved", "unchanged", "regressed")}
    console.print(", ".join(f"{n} {v}" for v, n in counts.items()))
    if json_out:
        settings = {"baseline": str(baseline), "new": str(new), "max_drop": max_drop, "alpha": alpha, "bootstrap": n_resamples, "seed": seed}
        atomic_write_text(Path(json_out), cmp.to_json(rows, settings))
    if counts["regressed"]:
        sys.exit(1)


@cli.group()
def cache():
    """Inspect or clear the embedding cache."""


_CACHE_DIR_OPTION = click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache folder (default: $XDG_CACHE_HOME/clapbench or ~/.cache/clapbench).")


@cache.command("info")
@_CACHE_DIR_OPTION
def cache_info(cache_dir):
    """Entries, size and models in the embedding cache."""
    from clapbench.cache import cache_usage, default_cache_dir

    root = Path(cache_dir) if cache_dir else default_cache_dir()
    usage = cache_usage(root)
    if not usage:
        console.print(f"embedding cache {root}: empty")
        return
    table = Table(title=f"embedding cache {root}")
    for col in ("model sha256", "model ids", "audio entries", "text entries", "size (MB)"):
        table.add_column(col, justify="left" if col in ("model sha256", "model ids") else "right")
    for u in usage:
        table.add_row(u.sha[:12], ", ".join(sorted(u.model_ids)), str(u.kinds["audio"]), str(u.kinds["text"]), f"{u.bytes / 1e6:.2f}")
    print_table(console, table)
    entries = sum(sum(u.kinds.values()) for u in usage)
    temp = sum(u.temp_files for u in usage)
    console.print(f"{entries} entries, {sum(u.bytes for u in usage) / 1e6:.2f} MB, {len(usage)} model(s)"
                  + (f"; {temp} temp file(s) of interrupted writes" if temp else ""))


@cache.command("clear")
@_CACHE_DIR_OPTION
@click.option("--model-sha", "model_sha", help="Only the models whose weights sha256 starts with this prefix.")
def cache_clear(cache_dir, model_sha):
    """Delete cached embeddings (all, or one model's)."""
    from clapbench.cache import clear_cache, default_cache_dir

    root = Path(cache_dir) if cache_dir else default_cache_dir()
    removed = clear_cache(root, model_sha)
    if not removed:
        console.print(f"embedding cache {root}: nothing to clear" + (f" for model sha {model_sha}" if model_sha else ""))
    else:
        console.print(f"embedding cache {root}: cleared {len(removed)} model(s): {', '.join(r[:12] for r in removed)}")


def main() -> None:
    cli(prog_name="clapbench")


if __name__ == "__main__":
    main()
