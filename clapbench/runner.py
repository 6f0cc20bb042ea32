"""Run tasks for one model: locate data, read it, embed, evaluate, write result files.

A task can be evaluated several ways in one run (its own zero-shot evaluation, a linear probe);
they share one dataset read and one set of audio embeddings, and each writes its own result file.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape

import clapbench
from clapbench.data import locate_dataset, read_location
from clapbench.data.dataset import Dataset
from clapbench.cache import open_cache
from clapbench.errors import DataError, TaskError
from clapbench.evaluations import TaskContext, get_evaluation
from clapbench.evaluations.embedding import using_cache
from clapbench.models.protocol import LoadedModel, has_frames
from clapbench.registry import TaskSpec, template_sha
from clapbench.results.store import items_path, predictions_path, remove_stale_temps, result_path, write_csv, write_json, write_npz


@dataclass
class RunOptions:
    output: Path
    data: dict[str, str] = field(default_factory=dict)
    data_root: str | None = None
    folds: list[str] | None = None
    limit: int | None = None
    batch_size: int = 32
    workers: int | None = None
    seed: int = 0
    n_resamples: int = 1000
    save_predictions: bool = False
    overwrite: bool = False
    pairs: Path | None = None  # a saved pair list for tasks built from a source task (the temporal probes)
    evaluations: list[str] = field(default_factory=lambda: ["zero-shot"])  # of EVALUATION_CHOICES
    probe_seed: int = 0
    cache_dir: str | None = None  # None: the user's cache folder (XDG)
    no_cache: bool = False
    invocation: dict[str, Any] | None = None  # the command's effective options (--config file and flags), recorded in results


# "zero-shot" is the evaluation the task file declares; "linear-probe" applies to classification tasks.
EVALUATION_CHOICES = ("zero-shot", "linear-probe")
PROBE_VARIANT = "linear-probe"


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


def run_task(spec: TaskSpec, loaded: LoadedModel, options: RunOptions, console: Console) -> dict[str, Any] | None:
    """Evaluate one task and write its result file(s); the first result written, None when all are kept."""
    results = run_task_evaluations(spec, loaded, options, console)
    return results[0] if results else None


def run_task_evaluations(spec: TaskSpec, loaded: LoadedModel, options: RunOptions, console: Console) -> list[dict[str, Any]]:
    """Run each requested evaluation of one task, sharing the data and embeddings; one result file each."""
    skip = frames_skip_message(spec, loaded)
    if skip:
        console.print(f"[yellow]{escape(skip)}[/]")
        return []
    planned = task_evaluations(spec, options)
    if not planned:
        console.print(f"[yellow]{spec.name}[/]: the linear probe applies to classification tasks; skipped")
        return []
    lacking = [(t, v, why) for t, v in planned if (why := missing_capability(t, loaded.model))]
    for _, _, why in lacking:
        console.print(f"[yellow]{spec.name}[/]: skipped, {why}")
    planned = [(t, v) for t, v in planned if not missing_capability(t, loaded.model)]
    if not planned:
        return []
    if options.folds and any(variant == PROBE_VARIANT for _, variant in planned):
        raise TaskError(f"task {spec.name}: --folds cannot be combined with --eval linear-probe; the probe always tests every official fold in turn, training on the others")
    remove_stale_temps(options.output)  # temp files of a killed earlier run's writes (output/<model-id>/)
    todo = []
    for eval_type, variant in planned:
        name = spec.name if variant is None else f"{spec.name}.{variant}"  # esc50.json, esc50.linear-probe.json
        out_file = result_path(options.output, loaded.model_id, name)
        if out_file.exists() and not options.overwrite:
            console.print(f"[yellow]{spec.name}[/]: {escape(str(out_file))} exists; kept (pass --overwrite to recompute)")
            continue
        todo.append((get_evaluation(eval_type), eval_type, name, out_file))
    if not todo:
        return []
    started = time.perf_counter()
    dataset = load_task_data(spec, options)
    if dataset.info.get("n_missing"):
        info = dataset.info
        console.print(f"[yellow]{spec.name}[/]: {info['n_missing']} of {info['n_listed']} listed clips have no audio file here; evaluating the {info['n_found']} found (see dataset_info in the result)")
    cache, no_cache_reason = open_cache(loaded, options.cache_dir, options.no_cache)
    ctx = TaskContext(spec, dataset, loaded, options, console, cache=cache)
    results = []
    for evaluate, eval_type, name, out_file in todo:
        with using_cache(cache):
            outcome = evaluate(ctx)
        seconds = time.perf_counter() - started
        cache_record = cache.summary() if cache is not None else {"enabled": False, "reason": no_cache_reason}
        result = _result(spec, loaded, options, dataset, eval_type, outcome, seconds, cache_record)
        if options.save_predictions and outcome.predictions is not None:
            write_csv(predictions_path(options.output, loaded.model_id, name), outcome.predictions)
        if outcome.paired is not None:
            p = outcome.paired
            items_file = items_path(options.output, loaded.model_id, name)
            write_npz(items_file, {"ids": np.array(p.ids), "kind": np.array(p.kind), "metric": np.array(p.metric), **p.arrays})
            result["items_file"] = items_file.name
        write_json(out_file, result)
        results.append(result)
        started = time.perf_counter()  # a later evaluation's time excludes the shared reading and embedding
    if cache is not None:
        c = cache.counts
        console.print(f"{spec.name}: audio embeddings {c['audio_from_cache']} from the cache, {c['audio_computed']} computed; "
                      f"prompts {c['text_from_cache']} from the cache, {c['text_computed']} computed")
        if cache.store_error:
            console.print(f"[yellow]warning[/]: {c['store_errors']} batch(es) of embeddings could not be cached in {cache.root} ({cache.store_error})")
    return results


def _result(spec, loaded, options, dataset, eval_type, outcome, seconds, cache_record) -> dict[str, Any]:
    # An evaluation may report another main metric than the task file's (captioning without SPICE: CIDEr-D).
    main = outcome.extra.get("main_metric", spec.main_metric)
    return {
        "task": spec.name,
        "task_version": spec.version,
        "domain": spec.domain,
        "evaluation": eval_type,
        "model": {"id": loaded.model_id, "id_given": loaded.model_id_given, "path": loaded.path, "kind": loaded.kind, "family": loaded.family, "variant": loaded.variant},
        "model_sha": loaded.sha256,
        "main_metric": main,
        "main_score": outcome.metrics[main],
        "metrics": outcome.metrics,
        "ci95": outcome.ci95,
        "bootstrap": {"resamples": options.n_resamples, "seed": options.seed, "method": "percentile, items resampled with replacement"},
        "n_items": len(dataset.items),
        "n_classes": len(dataset.classes),
        # Tasks without classes (retrieval) state their chance level in outcome.extra.
        "chance": spec.chance if spec.chance is not None else default_chance(spec, dataset),
        "classes": dataset.classes,
        "folds": sorted({i.fold for i in dataset.items if i.fold is not None}, key=_fold_key),
        "limited": options.limit is not None,
        "limit": options.limit,
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
        "seed": options.seed,
        "embedding_cache": cache_record,
        **({"invocation": options.invocation} if options.invocation else {}),
        **outcome.extra,  # an evaluation may replace protocol/bootstrap with its own
        "seconds": round(seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


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
    import sklearn
    import torch
    import transformers

    return {
        "clapbench": clapbench.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }
