"""Evaluations, registered by the ``evaluation.type`` a task file names.

An evaluation is ``fn(ctx: TaskContext) -> Outcome``. The runner supplies the context (task,
dataset, model, options, embeddings on demand) and writes the result file; an evaluation only
computes. A new evaluation type is a new module that registers itself here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from clapbench.errors import TaskError
from clapbench.plugins import Registry

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from rich.console import Console

    from clapbench.cache import EmbeddingCache
    from clapbench.data.dataset import Dataset
    from clapbench.models.contract import LoadedModel
    from clapbench.registry import TaskSpec
    from clapbench.run_options import RunOptions


@dataclass
class Outcome:
    metrics: dict[str, float]
    ci95: dict[str, list[float]]
    predictions: "pd.DataFrame | None" = None
    extra: dict[str, Any] = field(default_factory=dict)  # evaluation-specific fields for the result file
    # Per-item data from which the main metric can be recomputed on any resample of the items;
    # saved as <task>.items.npz so that `clapbench compare` can run a paired bootstrap.
    paired: "PairedItems | None" = None
    # Tables the runner saves beside the result as <task>.<suffix> (e.g. "pairs.csv": a temporal probe's pair list).
    artifacts: "dict[str, pd.DataFrame]" = field(default_factory=dict)


@dataclass
class PairedItems:
    """``ids`` name the items (clip paths, query ids); ``kind`` says how to recompute the main metric.

    - "mean": the metric is the mean of ``arrays["values"]`` (one value per item).
    - "classification": ``arrays["y"]`` (labels, or an (n, C) 0/1 matrix) and ``arrays["scores"]`` (n, C);
      the metric is ``metric`` from the single- or multi-label metric table. With ``arrays["stratum"]`` (the
      linear probe's test fold of each item) items are resampled within strata and the metric is the mean
      over strata, as the probe's score is the mean over its test folds.
    - "grouped": ``ids`` name groups (retrieval: clips); ``arrays["values"]`` holds one value per query and
      ``arrays["group"]`` the group of each query. Groups are resampled (a clip with all its captions) and the
      metric is the mean of the values of the queries in the resample.
    """

    ids: list[str]
    kind: str
    metric: str
    arrays: dict[str, np.ndarray]


@dataclass
class RunTasks:
    """Every task of a run in plan order (computed or kept), each with a reader of its dataset, and a memo its
    evaluations share: work that serves several tasks is done once per run (the temporal probes' items)."""

    tasks: list[tuple["TaskSpec", Callable[[], "Dataset"]]]
    memo: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskContext:
    spec: "TaskSpec"
    dataset: "Dataset"
    loaded: "LoadedModel"
    options: "RunOptions"
    console: "Console"
    cache: "EmbeddingCache | None" = None  # None: --no-cache, or a model without a weights hash
    run: RunTasks | None = None  # None: a task evaluated on its own
    _audio: np.ndarray | None = None

    def audio_embeddings(self) -> np.ndarray:
        """(N, D) embeddings of the dataset's clips, in item order, computed once per task.

        Every evaluation of the task in one run shares them (zero-shot and linear probe).
        """
        if self._audio is None:
            from clapbench.embedding import embed_clips, make_progress

            paths = [self.dataset.absolute(i) for i in self.dataset.items]
            with make_progress(self.console) as progress:
                self._audio = embed_clips(self.loaded, paths, self.options.batch_size, self.options.workers, progress, description=self.spec.name, cache=self.cache)
        return self._audio


Evaluation = Callable[[TaskContext], Outcome]
# Every module of these packages is imported on the first lookup, which registers its evaluations.
EVALUATIONS: Registry[Evaluation] = Registry("evaluation type", ("clapbench.evaluations", "clapbench.temporal"), TaskError)
evaluation = EVALUATIONS.register


def get_evaluation(name: str) -> Evaluation:
    return EVALUATIONS.lookup(name)
