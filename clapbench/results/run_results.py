"""What ``clapbench.evaluate`` returns: the run's result records and, for the results it computed, their
per-item arrays, predictions and artifacts, in memory until ``save`` writes them as `clapbench run` does."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clapbench.errors import ClapbenchError
from clapbench.results.marks import record_marks
from clapbench.results.record import ResultRecord, write_record
from clapbench.results.store import result_path
from clapbench.files import read_npz

if TYPE_CHECKING:  # imported by the methods that build tables: a run that only writes files never needs pandas
    import pandas as pd


@dataclass
class RunFailure:
    task: str
    reason: str


@dataclass
class Results:
    model_id: str
    records: list[ResultRecord]
    outcomes: dict = field(default_factory=dict)  # result name -> evaluations.Outcome, for the results computed
    kept: set[str] = field(default_factory=set)  # names of the results kept from an earlier run's files
    failures: list[RunFailure] = field(default_factory=list)
    output: Path | None = None  # where the run wrote its files (None: nowhere)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, name: str) -> ResultRecord:
        """The result of a task (``"esc50"``) or of one of its evaluations (``"esc50.linear-probe"``)."""
        for record in self.records:
            if record.name == name:
                return record
        raise KeyError(f"no result named {name!r}; results: {', '.join(r.name for r in self.records) or 'none'}")

    def to_pandas(self) -> pd.DataFrame:
        """One row per (model, task, evaluation): main score, its interval, items, chance and marks."""
        import pandas as pd

        rows = []
        for r in self.records:
            lo, hi = r.interval
            rows.append({
                "model": r.model_id, "task": r.task, "evaluation": r.variant or "zero-shot", "metric": r.main_metric,
                "score": r.main_score, "ci_low": lo, "ci_high": hi, "n_items": r.n_items, "chance": r.chance,
                "subset": bool(r.subset and r.subset.is_subset),
                "contaminated": r.contamination.n_overlap if r.contamination is not None else None,
                "marks": record_marks(r), "kept": r.name in self.kept,
            })
        return pd.DataFrame(rows)

    def items(self, name: str) -> pd.DataFrame:
        """The per-item table a paired comparison uses: one row per item (clip, caption query, pair), its id and
        arrays (a score matrix as one column per class)."""
        import pandas as pd

        record = self[name]
        outcome = self.outcomes.get(name)
        if outcome is not None and outcome.paired is not None:
            arrays = {"ids": np.asarray(outcome.paired.ids), **outcome.paired.arrays}
        elif record.items_file and record.file:
            arrays = read_npz(Path(record.file).parent / record.items_file)
        else:
            raise ClapbenchError(f"result {name}: no per-item arrays (an earlier clapbench wrote it without them)")
        n = len(arrays["ids"])
        columns: dict[str, np.ndarray] = {"id": np.asarray(arrays["ids"]).astype(str)}
        for key, value in arrays.items():
            value = np.asarray(value)
            if key == "ids" or value.ndim == 0:
                continue
            if value.ndim == 1 and len(value) == n:
                columns[key] = value
            elif value.ndim == 2 and value.shape[0] == n:
                names = record.extra("classes")
                labels = names if isinstance(names, list) and len(names) == value.shape[1] else list(range(value.shape[1]))
                for j, label in enumerate(labels):
                    columns[f"{key}:{label}"] = value[:, j]
        return pd.DataFrame(columns)

    def predictions(self, name: str) -> pd.DataFrame | None:
        """A classification result's per-clip predictions (path, fold, label, prediction, top5); None when the
        evaluation makes none."""
        import pandas as pd

        outcome = self.outcomes.get(name)
        if outcome is not None:
            return outcome.predictions
        record = self[name]
        if record.file:
            path = Path(record.file).with_name(f"{name}.predictions.csv")
            if path.is_file():
                return pd.read_csv(path)
        return None

    def save(self, folder: str | Path) -> Path:
        """Write every result as `clapbench run --save-predictions` would, under ``folder/<model-id>/``."""
        from clapbench.runner import check_output, write_result_files

        folder = Path(folder)
        check_output(folder)
        for record in self.records:
            outcome = self.outcomes.get(record.name)
            if outcome is not None:
                saved = record.model_copy()
                saved.file = str(result_path(folder, self.model_id, record.name))
                write_result_files(folder, self.model_id, record.name, outcome, saved, save_predictions=True)
                continue
            # a result kept from an earlier run: its files, copied
            target = result_path(folder, self.model_id, record.name)
            if record.file and Path(record.file).resolve() == target.resolve():
                continue
            write_record(target, record)
            if record.file:
                source = Path(record.file).parent
                for companion in (f"{record.name}.items.npz", f"{record.name}.predictions.csv", f"{record.task}.pairs.csv"):
                    if (source / companion).is_file():
                        shutil.copyfile(source / companion, target.parent / companion)
        return folder / self.model_id
