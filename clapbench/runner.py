"""Run tasks for one model: plan every result before the model loads, then read, embed, evaluate, write.

The plan (``plan_run``) resolves each requested task's data, computes each result's fingerprint and
compares it with a result already on disk, so every problem a user can fix is reported at once, before
minutes of model loading. ``execute_plan`` loads the model only when something is left to compute, runs
the evaluations (which return outcomes and write nothing) and writes each result record, its per-item
file, its predictions and its artifacts.

A task can be evaluated several ways in one run (its own zero-shot evaluation, a linear probe); they
share one dataset read and one set of audio embeddings, and each writes its own result file.
"""

from __future__ import annotations

import difflib
import platform
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
from rich.console import Console
from rich.markup import escape

import clapbench
from clapbench.cache import open_cache
from clapbench.data import locate_dataset, read_location
from clapbench.data.dataset import Dataset
from clapbench.data.trained_on import read_trained_on
from clapbench.errors import ClapbenchError, DataError, TaskError
from clapbench.evaluations import Outcome, RunTasks, TaskContext, get_evaluation
from clapbench.models import ModelIdentity
from clapbench.models.contract import LoadedModel, has_frames
from clapbench.registry import TaskSpec, template_sha
from clapbench.temporal.run_items import item_variants
from clapbench.results.fingerprint import dataset_sha, differences, fingerprint_fields, make_fingerprint
from clapbench.results.marks import contamination_mark, subset_mark
from clapbench.results.record import Fingerprint, ResultRecord, SCHEMA_VERSION, parse_record, read_record, write_record
from clapbench.results.store import _model_file, items_path, predictions_path, result_path
from clapbench.files import remove_stale_temps, write_csv, write_npz
from clapbench.run_options import EVALUATION_CHOICES, PROBE_VARIANT, RunOptions

__all__ = ["EVALUATION_CHOICES", "PROBE_VARIANT", "RunOptions", "RunPlan", "RunSummary", "execute_plan", "load_task_data",
           "plan_run", "run_task", "run_task_evaluations"]


@dataclass
class PlannedResult:
    """One result file a run produces, or keeps when the file holds a result of the same fingerprint."""

    eval_type: str
    variant: str | None  # "linear-probe"; None: the task's own evaluation
    name: str  # the file stem: esc50, esc50.linear-probe
    out_file: Path | None  # None: a run that writes nothing (the Python API with output=None)
    fingerprint: Fingerprint
    kept: ResultRecord | None = None


@dataclass
class TaskPlan:
    spec: TaskSpec
    results: list[PlannedResult]
    dataset: Dataset | None = None  # read while planning when anything is left to compute

    @property
    def todo(self) -> list[PlannedResult]:
        return [r for r in self.results if r.kept is None]


@dataclass
class Failure:
    task: str
    reason: str


@dataclass
class RunPlan:
    model: ModelIdentity
    tasks: list[TaskPlan]
    problems: list[Failure] = field(default_factory=list)  # tasks that cannot run (--keep-going runs the others)
    fatal: list[str] = field(default_factory=list)  # problems of the whole run (the output folder, --data keys)
    notes: list[str] = field(default_factory=list)  # said before the run starts

    @property
    def needs_model(self) -> bool:
        return any(t.todo for t in self.tasks)

    def message(self) -> str:
        lines = self.fatal + [f"task {p.task}: {p.reason}" if not p.reason.startswith(("task ", p.task)) else p.reason for p in self.problems]
        head = f"{len(lines)} problem(s) found before loading the model" if len(lines) > 1 else ""
        return "\n".join(([head] if head else []) + [f"  - {line}" if head else line for line in lines])


@dataclass
class RunSummary:
    records: list[ResultRecord] = field(default_factory=list)  # computed and kept, in task order
    kept: set[str] = field(default_factory=set)  # names of the records kept from disk
    failures: list[Failure] = field(default_factory=list)
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # by result name, for the results computed

    def computed(self) -> list[ResultRecord]:
        return [r for r in self.records if r.name not in self.kept]


def load_task_data(spec: TaskSpec, options: RunOptions) -> Dataset:
    # A task built from a source task (the temporal probes) reads that task's dataset, found under its name.
    data_spec = spec.source or spec
    location = locate_dataset(data_spec.name, options.data, options.data_root, data_spec.dataset)
    dataset = read_location(location, data_spec.dataset, data_spec.classes.get("names"))
    if options.folds:
        unknown = [f for f in options.folds if f not in dataset.folds]
        if unknown:
            raise DataError(f"task {spec.name}: --folds {','.join(options.folds)} names fold '{unknown[0]}'; the task's folds are {', '.join(dataset.folds) or 'none'}")
        dataset = dataset.select_folds(options.folds)
    if options.limit is not None and spec.source is None:
        # A smoke run: a seeded sample of clips, marked as such in the result (tasks built from a
        # source task limit their items, not the source's clips).
        rng = np.random.default_rng(options.seed)
        keep = np.sort(rng.permutation(len(dataset.items))[: options.limit])
        dataset = Dataset(dataset.root, dataset.classes, [dataset.items[i] for i in keep], dataset.folds, dataset.info)
    return dataset


def task_evaluations(spec: TaskSpec, options: RunOptions) -> list[tuple[str, str | None]]:
    """(registered evaluation, result-file variant) for each requested evaluation that applies to the task."""
    out = []
    for name in options.evaluations:
        if name == "zero-shot":
            out.append((spec.eval_type, None))
        elif name == PROBE_VARIANT:
            if spec.eval_type == "zero-shot-classification":
                out.append(("linear-probe", PROBE_VARIANT))
        else:
            raise TaskError(f"--eval {name}: expected one of {', '.join(EVALUATION_CHOICES)}")
    return out


def check_output(output: Path) -> None:
    """Create the results folder and write a file there, so an unwritable --output is named before any work."""
    from clapbench.paths import check_writable_dir

    check_writable_dir(output, "--output")


def check_paths(options: RunOptions, model: ModelIdentity | None = None) -> list[str]:
    """Every other path the run will write or read, checked before the model loads: the embedding cache folder
    (created and test-written), the tokenizer folder."""
    from clapbench.cache import default_cache_dir
    from clapbench.paths import check_writable_dir

    problems = []
    if not options.no_cache and (model is None or model.sha256):  # a model without a weights hash is never cached
        what = "--cache-dir" if options.cache_dir else "the embedding cache folder"
        try:
            check_writable_dir(options.cache_dir or default_cache_dir(), what, hint="pass --no-cache or another --cache-dir")
        except ClapbenchError as exc:
            problems.append(str(exc))
    tokenizer = (options.model_request or {}).get("tokenizer")
    if tokenizer and not Path(tokenizer).is_dir():
        problems.append(f"--tokenizer {tokenizer}: folder not found; expected the text tower's tokenizer files (tokenizer.json, vocab/merges)")
    return problems


def unknown_data_keys(specs: list[TaskSpec], data: dict[str, str], registered: set[str] | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes) for the --data NAMEs no requested task reads: a name that is no task at all (a typo
    that would be silently ignored) is a problem with a did-you-mean; a registered task's name that this run
    does not read (one --data map or --config file serving several runs) is a note."""
    reads: set[str] = set()
    for spec in specs:
        reads.add(spec.name)
        if spec.source is not None:
            reads.add(spec.source.name)
        if spec.dataset.get("shares_data_with"):
            reads.add(str(spec.dataset["shares_data_with"]))
    problems, notes = [], []
    for key in data:
        if key in reads:
            continue
        if registered and key in registered:
            notes.append(f"--data {key}: not read by the tasks of this run")
            continue
        close = difflib.get_close_matches(key, sorted(reads), n=1, cutoff=0.5) or difflib.get_close_matches(key, sorted(registered or ()), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"the requested tasks read {', '.join(sorted(reads))}"
        problems.append(f"--data {key}={data[key]}: no task reads data named '{key}'; {hint}")
    return problems, notes


def _model_request(options: RunOptions, model: ModelIdentity | LoadedModel) -> dict[str, Any]:
    if options.model_request:
        return options.model_request
    # a run given a loaded model (the trainer, the demo, the Python API): what it runs as
    loaded = model if isinstance(model, LoadedModel) else None
    return {"dtype": loaded.dtype, "device": str(loaded.device).split(":")[0]} if loaded else {}


def plan_task(spec: TaskSpec, model: ModelIdentity, options: RunOptions, request: dict[str, Any],
              item_company: list[str] | None = None) -> tuple[TaskPlan, list[str]]:
    """The results of one task, each kept or to compute, and the problems that stop it (a conflicting
    result on disk, unreadable data); its data is read here when anything is left to compute."""
    planned = task_evaluations(spec, options)
    if options.folds and any(variant == PROBE_VARIANT for _, variant in planned):
        raise TaskError(f"task {spec.name}: --folds cannot be combined with --eval linear-probe; the probe always tests every official fold in turn, training on the others")
    fp_options = replace(options, model_request=request)
    # the data is read first: which items a result covers is part of its fingerprint
    dataset = load_task_data(spec, options) if planned else None
    data_sha = dataset_sha(dataset) if dataset is not None else None
    results, problems = [], []
    for eval_type, variant in planned:
        name = spec.name if variant is None else f"{spec.name}.{variant}"  # esc50.json, esc50.linear-probe.json
        out_file = result_path(options.output, model.model_id, name) if options.output is not None else None
        fingerprint = make_fingerprint(fingerprint_fields(spec, eval_type, variant, fp_options, model.sha256, model.path, data_sha,
                                                         item_company if item_variants(spec) else None))
        kept = None
        if out_file is not None and out_file.exists() and not options.overwrite:
            try:
                old = read_record(out_file)
            except ClapbenchError as exc:
                problems.append(f"{exc}; pass --overwrite to replace it")
                old = None
            else:
                if old is not None and old.fingerprint is not None and old.fingerprint.sha256 == fingerprint.sha256:
                    kept = old
                else:
                    diff = differences(old.fingerprint if old is not None else None, fingerprint)
                    problems.append(f"{out_file} holds a result of another configuration ({'; '.join(diff)}); "
                                    "pass --overwrite to recompute it, or --output another folder")
        results.append(PlannedResult(eval_type, variant, name, out_file, fingerprint, kept))
    return TaskPlan(spec, results, dataset), problems


def plan_run(specs: list[TaskSpec], model: ModelIdentity, options: RunOptions, registered: set[str] | None = None) -> RunPlan:
    """Everything a run will do, checked before the model loads: every problem found, not just the first.
    ``registered``: every task name the registry knows, for the check of the --data names (None: no check, for
    callers that hand one data map to many runs, as the trainer's evaluations do)."""
    plan = RunPlan(model, [])
    try:
        if options.output is not None:
            check_output(options.output)
            remove_stale_temps(options.output)  # a killed run's temp files (clapbench's own pattern only)
    except ClapbenchError as exc:
        plan.fatal.append(str(exc))
    plan.fatal += check_paths(options, model)
    if registered is not None:
        problems, notes = unknown_data_keys(specs, options.data, registered)
        plan.notes += notes
        plan.fatal += problems
    request = _model_request(options, model)
    # the temporal probes of one run embed their items together (temporal.run_items): each records with which
    company = sorted(s.name for s in specs if item_variants(s))
    for spec in specs:
        try:
            task_plan, problems = plan_task(spec, model, options, request, company)
        except ClapbenchError as exc:
            plan.problems.append(Failure(spec.name, str(exc)))
            continue
        if problems:
            plan.problems += [Failure(spec.name, p) for p in problems]
        elif task_plan.results:
            plan.tasks.append(task_plan)
        else:
            plan.notes.append(f"{spec.name}: the linear probe applies to classification tasks; skipped")
    return plan


def frames_skip_message(spec: TaskSpec, loaded: LoadedModel) -> str | None:
    """Why a frame-level task is skipped for this model (it has clip embeddings only); None when it runs."""
    from clapbench.temporal.frames import FRAME_EVALUATIONS, frames_needed_message

    if spec.eval_type in FRAME_EVALUATIONS and not has_frames(loaded.model):
        return frames_needed_message(spec.name, loaded.model_id)
    return None


def missing_capability(eval_type: str, model) -> str | None:
    """Why ``model`` cannot run an evaluation of this type (None: it can): captioning needs ``caption``,
    the evaluations that embed prompts or captions need ``embed_text`` (a captioner may have no text tower)."""
    if eval_type == "captioning":
        return None if callable(getattr(model, "caption", None)) else "the model has no captioner (the optional caption(waves) of the model contract)"
    if eval_type != "linear-probe" and not callable(getattr(model, "embed_text", None)):
        return "the model has no text encoder (embed_text); it runs captioning tasks and the linear probe"
    return None


def execute_plan(plan: RunPlan, options: RunOptions, console: Console, load: Callable[[], LoadedModel]) -> RunSummary:
    """Run a plan: refuse it when it has problems (unless --keep-going), load the model only when
    something is left to compute, evaluate, write each result; kept results are returned too."""
    from clapbench.models.presets import apply_prompt

    if plan.fatal or (plan.problems and not options.keep_going):
        raise ClapbenchError(plan.message())
    summary = RunSummary(failures=list(plan.problems))
    for note in plan.notes:
        console.print(f"[dim]{escape(note)}[/]")
    for task in plan.tasks:
        for result in task.results:
            if result.kept is not None:
                console.print(f"[yellow]{task.spec.name}[/]: {escape(str(result.out_file))} holds this configuration's result; kept (--overwrite recomputes)")
    loaded = load() if plan.needs_model else None
    trained_on = read_trained_on(loaded.path) if loaded is not None and loaded.kind != "plugin" else None
    if loaded is not None:
        skips = {t.spec.name: frames_skip_message(t.spec, loaded) for t in plan.tasks if t.todo}
        if skips and all(skips.values()):
            raise TaskError("; ".join(skips.values()) + "; no task left to run")
    run = RunTasks([(t.spec, _dataset_reader(t, options)) for t in plan.tasks])
    for task, (_, read) in zip(plan.tasks, run.tasks):
        computed: dict[str, ResultRecord] = {}
        if task.todo:
            spec = apply_prompt([task.spec], loaded, user_templates=options.templates_given)[0]
            try:
                computed = _evaluate_task(spec, task, loaded, options, console, trained_on, summary.outcomes, run, read)
            except ClapbenchError as exc:
                if not options.keep_going:
                    raise
                summary.failures.append(Failure(task.spec.name, str(exc)))
        for result in task.results:
            if result.kept is not None:
                summary.records.append(result.kept)
                summary.kept.add(result.name)
            elif result.name in computed:
                summary.records.append(computed[result.name])
    return summary


def _dataset_reader(task: TaskPlan, options: RunOptions) -> Callable[[], Dataset]:
    """The task's dataset, read once, when first asked for (by the task, or by another task of the run)."""
    read: list[Dataset] = [task.dataset] if task.dataset is not None else []

    def dataset() -> Dataset:
        if not read:
            read.append(load_task_data(task.spec, options))
        return read[0]

    return dataset


def run_task(spec: TaskSpec, loaded: LoadedModel, options: RunOptions, console: Console) -> ResultRecord | None:
    """Evaluate one task and write its result file(s); the first result computed, None when all are kept."""
    results = run_task_evaluations(spec, loaded, options, console)
    return results[0] if results else None


def run_task_evaluations(spec: TaskSpec, loaded: LoadedModel, options: RunOptions, console: Console) -> list[ResultRecord]:
    """Plan and run one task for a loaded model (the trainer, the demo, notebooks); the results computed."""
    plan = plan_run([spec], ModelIdentity(loaded.model_id, loaded.sha256, loaded.path), _with_request(options, loaded))
    return execute_plan(plan, options, console, load=lambda: loaded).computed()


def _with_request(options: RunOptions, loaded: LoadedModel) -> RunOptions:
    return options if options.model_request else replace(options, model_request=_model_request(options, loaded))


def _evaluate_task(spec: TaskSpec, plan: TaskPlan, loaded: LoadedModel, options: RunOptions, console: Console, trained_on,
                   outcomes: dict[str, Outcome], run: RunTasks, read: Callable[[], Dataset]) -> dict[str, ResultRecord]:
    """Run the task's evaluations left to compute, sharing the data and embeddings; one result file each."""
    skip = frames_skip_message(spec, loaded)
    if skip:
        console.print(f"[yellow]{escape(skip)}[/]")
        return {}
    todo = []
    for result in plan.todo:
        why = missing_capability(result.eval_type, loaded.model)
        if why:
            console.print(f"[yellow]{spec.name}[/]: skipped, {why}")
        else:
            todo.append(result)
    if not todo:
        return {}
    started = time.perf_counter()
    dataset = read()
    if dataset.info.get("n_missing"):
        info = dataset.info
        console.print(f"[yellow]{spec.name}[/]: {info['n_missing']} of {info['n_listed']} listed clips have no audio file here; evaluating the {info['n_found']} found (see dataset_info in the result)")
    cache, no_cache_reason = open_cache(loaded, options.cache_dir, options.no_cache)
    ctx = TaskContext(spec, dataset, loaded, options, console, cache=cache, run=run)
    out: dict[str, ResultRecord] = {}
    for planned in todo:
        outcome = get_evaluation(planned.eval_type)(ctx)
        seconds = time.perf_counter() - started
        cache_record = cache.summary() if cache is not None else {"enabled": False, "reason": no_cache_reason}
        record = _record(spec, loaded, options, dataset, planned, outcome, seconds, cache_record, trained_on)
        if options.output is not None and options.write:
            write_result_files(options.output, loaded.model_id, planned.name, outcome, record, options.save_predictions)
        out[planned.name] = record
        outcomes[planned.name] = outcome
        started = time.perf_counter()  # a later evaluation's time excludes the shared reading and embedding
    if cache is not None:
        c = cache.counts
        items = f"temporal items {c['items_from_cache']} from the cache, {c['items_computed']} computed; " if "items_computed" in c else ""
        console.print(f"{spec.name}: audio embeddings {c['audio_from_cache']} from the cache, {c['audio_computed']} computed; {items}"
                      f"prompts {c['text_from_cache']} from the cache, {c['text_computed']} computed")
        if cache.store_error:
            console.print(f"[yellow]warning[/]: {c['store_errors']} batch(es) of embeddings could not be cached in {cache.root} ({cache.store_error})")
    return out


def write_result_files(output: Path, model_id: str, name: str, outcome: Outcome, record: ResultRecord, save_predictions: bool) -> Path:
    """Write a result as `clapbench run` does: its companions first (predictions, per-item arrays, artifacts),
    the record last, so a record on disk always has its per-item file. Returns the record's path."""
    if save_predictions and outcome.predictions is not None:
        write_csv(predictions_path(output, model_id, name), outcome.predictions)
    if outcome.paired is not None:
        p = outcome.paired
        write_npz(items_path(output, model_id, name), {"ids": np.array(p.ids), "kind": np.array(p.kind), "metric": np.array(p.metric), **p.arrays})
    for suffix, frame in outcome.artifacts.items():
        write_csv(_model_file(output, model_id, f"{record.task}.{suffix}"), frame)
    path = result_path(output, model_id, name)
    write_record(path, record)
    return path


def _item_groups(spec: TaskSpec, dataset: Dataset, outcome: Outcome) -> list[list[Path]]:
    """The audio files behind each scored item: a clip, or a temporal probe's pair of clips."""
    if spec.source is not None and outcome.paired is not None:
        return [[dataset.root / part for part in pair_id.split("|")] for pair_id in outcome.paired.ids]
    return [[dataset.root / item.path] for item in dataset.items]


def _record(spec, loaded, options, dataset, planned: PlannedResult, outcome: Outcome, seconds, cache_record, trained_on) -> ResultRecord:
    # An evaluation may report another main metric than the task file's (captioning without SPICE: CIDEr-D).
    main = outcome.extra.get("main_metric", spec.main_metric)
    n_items = int(outcome.extra.get("n_items", len(dataset.items)))
    source_mark = subset_mark(spec.source, dataset, replace(options, limit=None), len(dataset.items)) if spec.source is not None else None
    data = {
        "schema_version": SCHEMA_VERSION,
        "task": spec.name,
        "task_version": spec.version,
        "domain": spec.domain,
        "evaluation": planned.eval_type,
        "variant": planned.variant,
        "model": {"id": loaded.model_id, "id_given": loaded.model_id_given, "path": loaded.path, "kind": loaded.kind, "family": loaded.family, "variant": loaded.variant},
        "model_sha": loaded.sha256,
        "main_metric": main,
        "main_score": outcome.metrics[main],
        "metrics": outcome.metrics,
        "ci95": outcome.ci95,
        "bootstrap": {"resamples": options.n_resamples, "seed": options.seed, "method": "percentile, items resampled with replacement"},
        "n_items": n_items,
        "n_classes": len(dataset.classes),
        # Tasks without classes (retrieval) state their chance level in outcome.extra.
        "chance": spec.chance if spec.chance is not None else default_chance(spec, dataset),
        "classes": dataset.classes,
        "folds": sorted({i.fold for i in dataset.items if i.fold is not None}, key=_fold_key),
        "limit": options.limit,
        "subset": subset_mark(spec, dataset, options, n_items, source_mark).model_dump(),
        "contamination": None,
        "fingerprint": planned.fingerprint.model_dump(),
        "data_root": str(dataset.root),
        **({"dataset_info": dataset.info} if dataset.info else {}),
        "protocol": {
            **loaded.preprocessing,
            "templates": spec.templates,
            "template_sha": template_sha(spec.templates),
            "class_prompt_names": [spec.display_name(c) for c in dataset.classes],
            "ensemble": "mean of L2-normalised template embeddings, re-normalised",
            "similarity": "cosine",
        },
        "versions": _versions(),
        "device": loaded.device,
        "dtype": loaded.dtype,
        "batch_size": options.batch_size,
        **({"world_size": options.world_size} if options.world_size > 1 else {}),
        "seed": options.seed,
        "embedding_cache": cache_record,
        **({"invocation": options.invocation} if options.invocation else {}),
        **outcome.extra,  # an evaluation may replace protocol/bootstrap with its own
        "seconds": round(seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    mark = contamination_mark(trained_on, _item_groups(spec, dataset, outcome))
    data["contamination"] = mark.model_dump() if mark is not None else None
    data["variant"] = planned.variant
    data["items_file"] = f"{planned.name}.items.npz" if outcome.paired is not None else None
    data.pop("limited", None)
    record = parse_record(data, str(planned.out_file or f"{loaded.model_id}/{planned.name}.json (not written)"))
    assert record is not None  # it has every key that makes a result
    record.file = str(planned.out_file) if planned.out_file is not None else None
    return record


def default_chance(spec: TaskSpec, dataset: Dataset) -> float | None:
    """Chance level when the task file states none: 1/classes, or for multi-label tasks the mean
    prevalence of the classes with a positive (the expected AP of random scores, so chance mAP)."""
    if not dataset.classes:
        return None
    if not spec.multilabel:
        return 1.0 / len(dataset.classes)
    counts = np.zeros(len(dataset.classes))
    for item in dataset.items:
        counts[list(item.labels)] += 1
    present = counts[counts > 0]
    return float(present.mean() / len(dataset.items)) if len(present) else None


def _fold_key(fold: str):
    return (0, int(fold)) if fold.isdigit() else (1, fold)


def _versions() -> dict[str, str]:
    from importlib import metadata

    # Read from the installed distributions: importing transformers to ask costs a warm rerun half a second.
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "absent"

    return {
        "clapbench": clapbench.__version__,
        "torch": version("torch"),
        "transformers": version("transformers"),
        "numpy": np.__version__,
        "scikit-learn": version("scikit-learn"),
        "python": platform.python_version(),
    }
