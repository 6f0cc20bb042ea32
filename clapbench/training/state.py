"""A training checkpoint's trainer state (optimizer, scheduler, RNG streams, counters) in formats that need
no unpickling: ``trainer_state/tensors.safetensors`` holds the tensors, ``trainer_state/state.json`` the rest.

A pickle (``torch.load(weights_only=False)``) runs whatever code the file names; a checkpoint folder is
something users copy around and share, so resuming from one must never execute it. JSON holds Python
floats exactly (shortest repr round-trip), so a resumed run is bit-identical to an uninterrupted one.
The files sit in a subfolder of the checkpoint's model folder, so that neither the weights sha256 (the
folder's weight files) nor the embedding cache key (its other files) depends on the optimizer.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clapbench.errors import ClapbenchError, first_line

STATE_DIR = "trainer_state"
STATE_JSON = f"{STATE_DIR}/state.json"  # written last: a checkpoint holding it is complete
STATE_TENSORS = f"{STATE_DIR}/tensors.safetensors"
LEGACY_PICKLE = "trainer_state.torch"  # what earlier clapbench versions wrote: never read


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_trainer_state(folder: Path, optimizer_state: dict, scheduler_state: dict, rngs: list[dict], info: dict[str, Any]) -> None:
    """Write ``folder/trainer_state/``; ``info`` holds the counters and settings."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    per_param = {}
    for index, values in optimizer_state["state"].items():
        kept = {}
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                kept[name] = value
        per_param[str(index)] = {"tensors": sorted(n for n, v in values.items() if isinstance(v, torch.Tensor)), "values": kept}
    rng_json = []
    for rank, rng in enumerate(rngs):
        version, internal, gauss = rng["python"]
        name, keys, pos, has_gauss, cached = rng["numpy"]
        tensors[f"rng.{rank}.torch"] = rng["torch"]
        for i, cuda in enumerate(rng.get("cuda", [])):
            tensors[f"rng.{rank}.cuda.{i}"] = cuda
        rng_json.append({
            "python": [version, list(internal), gauss],
            "numpy": [name, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)],
            "cuda_devices": len(rng.get("cuda", [])),
        })
    document = {
        **info,
        "optimizer": {"state": per_param, "param_groups": optimizer_state["param_groups"]},
        "scheduler": scheduler_state,
        "rng": rng_json,
    }
    (folder / STATE_DIR).mkdir(exist_ok=True)
    save_file(tensors, str(folder / STATE_TENSORS))
    (folder / STATE_JSON).write_text(json.dumps(document, indent=1, allow_nan=False) + "\n")


def load_trainer_state(folder: Path) -> dict[str, Any]:
    """The state ``save_trainer_state`` wrote: ``info`` keys, ``optimizer`` and ``scheduler`` state dicts
    (for ``load_state_dict``) and ``rng`` (one per rank, for ``set_rng_state``); ClapbenchError naming the
    file when either file is not what clapbench writes."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    json_file, tensor_file = folder / STATE_JSON, folder / STATE_TENSORS
    try:
        document = json.loads(json_file.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise ValueError(f"a JSON {type(document).__name__}, not an object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ClapbenchError(f"--resume: {json_file}: not a trainer state clapbench wrote ({first_line(exc)}); expected a JSON object") from None
    try:
        tensors = load_file(str(tensor_file))
    except (OSError, SafetensorError, ValueError) as exc:
        raise ClapbenchError(f"--resume: {tensor_file}: not a trainer state clapbench wrote ({first_line(exc)}); expected a safetensors file") from None
    try:
        optimizer = document["optimizer"]
        state = {}
        for index, entry in optimizer["state"].items():
            values = dict(entry["values"])
            values.update({name: tensors[f"optimizer.{index}.{name}"] for name in entry["tensors"]})
            state[int(index)] = values
        rngs = []
        for rank, rng in enumerate(document["rng"]):
            version, internal, gauss = rng["python"]
            name, keys, pos, has_gauss, cached = rng["numpy"]
            restored = {
                "python": (version, tuple(internal), gauss),
                "numpy": (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached),
                "torch": tensors[f"rng.{rank}.torch"],
            }
            if rng["cuda_devices"]:
                restored["cuda"] = [tensors[f"rng.{rank}.cuda.{i}"] for i in range(rng["cuda_devices"])]
            rngs.append(restored)
        document.update(optimizer={"state": state, "param_groups": optimizer["param_groups"]}, rng=rngs, scheduler=document["scheduler"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ClapbenchError(f"--resume: {json_file} and {tensor_file.name} do not hold a whole trainer state (no {exc}); expected the files clapbench train writes") from None
    return document


def with_tuples(param_groups: list[dict], live_groups: list[dict]) -> list[dict]:
    """JSON turns tuples (AdamW's betas) into lists; give them back the live optimizer's types."""
    return [{k: tuple(v) if isinstance(live.get(k), tuple) else v for k, v in saved.items()} for saved, live in zip(param_groups, live_groups)]

