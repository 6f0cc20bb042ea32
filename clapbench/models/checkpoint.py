"""Read a .pt/.pth checkpoint's state dict safely, and load it strictly with a message that names the misfit."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from clapbench.errors import ModelError

TRUST_ENV = "CLAPBENCH_TRUST_CHECKPOINT"  # set to 1 to unpickle arbitrary objects from a file you trust


def _numpy_safe_globals() -> list:
    """numpy scalars and arrays that training scripts leave beside the weights (epoch counters, metrics)."""
    import numpy as np

    names = []
    for module_name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            module = __import__(module_name, fromlist=["scalar", "_reconstruct"])
        except ImportError:
            continue
        names += [getattr(module, n) for n in ("scalar", "_reconstruct") if hasattr(module, n)]
    return names + [np.ndarray, np.dtype, type(np.dtype("float64")), type(np.dtype("float32")), type(np.dtype("int64"))]


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, whatever wraps them ({'model': ...}, {'state_dict': ...}, DDP's 'module.')."""
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            if os.environ.get(TRUST_ENV) == "1":
                obj = torch.load(path, map_location="cpu", weights_only=False)
            else:
                with torch.serialization.safe_globals(_numpy_safe_globals()):
                    obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = str(exc).split("WeightsUnpickler error:")[-1].strip().splitlines()[0]
        if "Unsupported global" not in detail and "Unsupported class" not in detail:
            raise ModelError(f"{path}: cannot read it as a PyTorch checkpoint ({detail})") from None
        raise ModelError(
            f"{path}: holds Python objects besides tensors ({detail}); clapbench loads checkpoints without running "
            f"their pickled code. If you trust the file, set {TRUST_ENV}=1"
        ) from None
    except Exception as exc:
        raise ModelError(f"{path}: cannot read it as a PyTorch checkpoint ({type(exc).__name__}: {_first_line(exc)})") from None
    state = _unwrap(obj)
    if state is None:
        keys = ", ".join(map(str, list(obj)[:6])) if isinstance(obj, dict) else type(obj).__name__
        raise ModelError(f"{path}: no state dict found (top level: {keys}); expected a dict of tensors, or one under 'model' or 'state_dict'")
    if state and all(k.startswith("module.") for k in state):  # saved from DistributedDataParallel
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _unwrap(obj) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj)
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            inner = obj.get(key)
            if isinstance(inner, dict):
                found = _unwrap(inner)
                if found is not None:
                    return found
    return None


def misfit(module: nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """None when ``state`` fits ``module`` exactly (names and shapes); else a description of the first misfit."""
    expected = module.state_dict()
    missing, unexpected, wrong = [], [k for k in state if k not in expected], []
    for key, tensor in expected.items():
        if key not in state:
            missing.append(key)
        elif tuple(state[key].shape) != tuple(tensor.shape):
            wrong.append(key)
    if not (missing or unexpected or wrong):
        return None
    first = next((k for k in expected if k in missing or k in wrong), None)
    if first is None:
        what = f"first mismatching key '{unexpected[0]}' is not part of the architecture"
    elif first in missing:
        what = f"first mismatching key '{first}' (expected shape {_shape(expected[first])}) is missing from the checkpoint"
    else:
        what = f"first mismatching key '{first}': expected shape {_shape(expected[first])}, found {_shape(state[first])}"
    return f"{what} ({len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} of another shape)"


def build_strict(build: Callable[[], nn.Module], state: dict[str, torch.Tensor], source: str, architecture: str) -> nn.Module:
    """``build()`` loaded with ``state`` (strict=True); ModelError naming the first misfit.

    The fit is checked on a copy built on the meta device first: no memory, no init, so a wrong
    checkpoint is refused at once even when the architecture it was taken for is large.
    """
    with torch.device("meta"):
        probe = build()
    problem = misfit(probe, state)
    if problem is not None:
        raise ModelError(f"{source}: the weights do not fit the {architecture} architecture: {problem}")
    with _skip_weight_init():  # every weight is overwritten by the checkpoint's
        module = build()
    module.load_state_dict(state, strict=True)
    return module


def _skip_weight_init():
    try:  # transformers 5
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers 4
        from transformers.modeling_utils import no_init_weights
    return no_init_weights()


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(d) for d in t.shape) + ")"


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
