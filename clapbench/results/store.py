"""Where a run's files go: ``OUTPUT/<model-id>/<task>.json`` and its companions, kept inside OUTPUT."""

from __future__ import annotations

from pathlib import Path

def result_path(output: Path, model_id: str, task: str) -> Path:
    return _model_file(output, model_id, f"{task}.json")


def predictions_path(output: Path, model_id: str, task: str) -> Path:
    return _model_file(output, model_id, f"{task}.predictions.csv")


def items_path(output: Path, model_id: str, task: str) -> Path:
    return _model_file(output, model_id, f"{task}.items.npz")


def _model_file(output: Path, model_id: str, name: str) -> Path:
    """``output/<model-id>/<name>``; ClapbenchError unless both are single names and it resolves inside ``output``."""
    from clapbench.errors import ClapbenchError
    from clapbench.paths import check_inside

    for part in (model_id, name):
        if part in ("", ".", "..") or Path(part).name != part:
            raise ClapbenchError(f"'{part}': not a single file name; results go to {Path(output) / '<model-id>' / '<task>.json'}")
    return check_inside(output, Path(model_id) / name, f"the result file of model '{model_id}'")
