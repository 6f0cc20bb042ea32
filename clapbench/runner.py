"""Run tasks for one model: locate data, read it, embed, evaluate, write result files."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

import clapbench
from clapbench.data import locate_dataset, read_dataset
from clapbench.data.dataset import Dataset
from clapbench.errors import DataError
from clapbench.evaluations import TaskContext, get_evaluation
from clapbench.models.protocol import LoadedModel
from clapbench.registry import TaskSpec, template_sha
from clapbench.results.store import predictions_path, result_path, write_csv, write_json


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


def load_task_data(spec: TaskSpec, options: RunOptions) -> Dataset:
    # A task built from a source task (the temporal probes) reads that task's dataset, found under its name.
    data_spec = spec.source or spec
    root = locate_dataset(data_spec.name, options.data, options.data_root)
    dataset = read_dataset(root, data_spec.dataset, data_spec.classes.get("names"))
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


def run_task(spec: TaskSpec, loaded: LoadedModel, options: RunOptions, console: Console) -> dict[str, Any] | None:
    """Evaluate one task and write its result file; None when a result exists and is kept."""
    out_file = result_path(options.output, loaded.model_id, spec.name)
    if out_file.exists() and not options.overwrite:
        console.print(f"[yellow]{spec.name}[/]: {out_file} exists; kept (pass --overwrite to recompute)")
        return None
    evaluate = get_evaluation(spec.eval_type)
    started = time.perf_counter()
    dataset = load_task_data(spec, options)
    outcome = evaluate(TaskContext(spec, dataset, loaded, options, console))
    seconds = time.perf_counter() - started

    result = {
        "task": spec.name,
        "task_version": spec.version,
        "domain": spec.domain,
        "evaluation": spec.eval_type,
        "model": {"id": loaded.model_id, "path": loaded.path, "kind": loaded.kind, "family": loaded.family, "variant": loaded.variant},
        "model_sha": loaded.sha256,
        "main_metric": spec.main_metric,
        "main_score": outcome.metrics[spec.main_metric],
        "metrics": outcome.metrics,
        "ci95": outcome.ci95,
        "bootstrap": {"resamples": options.n_resamples, "seed": options.seed, "method": "percentile, items resampled with replacement"},
        "n_items": len(dataset.items),
        "n_classes": len(dataset.classes),
        # Tasks without classes (retrieval) state their chance level in outcome.extra.
        "chance": spec.chance if spec.chance is not None else (1.0 / len(dataset.classes) if dataset.classes else None),
        "classes": dataset.classes,
        "folds": sorted({i.fold for i in dataset.items if i.fold is not None}, key=_fold_key),
        "limited": options.limit is not None,
        "limit": options.limit,
        "data_root": str(dataset.root),
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
        **outcome.extra,
        "seconds": round(seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if options.save_predictions and outcome.predictions is not None:
        write_csv(predictions_path(options.output, loaded.model_id, spec.name), outcome.predictions)
    write_json(out_file, result)
    return result


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
