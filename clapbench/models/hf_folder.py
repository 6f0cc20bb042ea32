"""Load a transformers model folder offline and verify that what is on disk is that model.

transformers initialises a weight the file lacks at random and only logs it, and builds a tokenizer of
its special tokens alone when the vocabulary files are gone: a folder with foreign or partial weights
would be scored as if it were the model. Every family read from a save_pretrained folder (ClapModel,
and any added later) loads through ``load_pretrained`` and ``check_tokenizer``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clapbench.errors import ModelError, first_line

SHOWN = 3  # keys named per kind of misfit


def load_pretrained(model_class: Any, folder: Path, allowed_missing: Callable[[str], bool] | None = None, **kwargs) -> Any:
    """``model_class.from_pretrained(folder)`` offline; ModelError when any weight the architecture needs
    is missing, the file holds weights it does not have, or a weight has another shape.

    Weights missing are tolerated only when they are integer buffers (index tables and counters such as
    ``position_ids`` or ``num_batches_tracked``, which the model rebuilds exactly), or when
    ``allowed_missing(key)`` says so (layers a caller adds on purpose, e.g. turning on feature fusion).
    """
    name = model_class.__name__
    try:
        # ignore_mismatched_sizes: transformers then reports the misfits instead of stopping at the first
        model, info = model_class.from_pretrained(
            folder, local_files_only=True, output_loading_info=True, ignore_mismatched_sizes=True, **kwargs
        )
    except pickle.UnpicklingError:
        raise ModelError(
            f"{folder}: the weights file holds Python objects besides tensors; clapbench loads weights without "
            "running pickled code. Expected model.safetensors (or a pytorch_model.bin of tensors only)"
        ) from None
    except Exception as exc:
        raise ModelError(f"{folder}: cannot load {name} weights ({first_line(exc)})") from None
    problem = weights_misfit(model, info, allowed_missing)
    if problem is not None:
        raise ModelError(
            f"{folder}: the weights do not fit the {name} that config.json describes: {problem}; "
            "expected the weights save_pretrained writes for this config"
        )
    return model


def weights_misfit(model: Any, info: dict[str, Any], allowed_missing: Callable[[str], bool] | None = None) -> str | None:
    """None when transformers' loading info shows an exact fit; else which keys do not fit, the first few named."""
    buffers = dict(model.named_buffers())
    missing = sorted(
        k for k in info.get("missing_keys", ())
        if not (k in buffers and not buffers[k].is_floating_point()) and not (allowed_missing and allowed_missing(k))
    )
    unexpected = sorted(info.get("unexpected_keys", ()))
    wrong = sorted(info.get("mismatched_keys", ()), key=lambda m: m[0])
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_names(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_names(unexpected)})")
    if wrong:
        shown = ", ".join(f"{k}: {_shape(file)} in the file, {_shape(model_shape)} in the model" for k, file, model_shape in wrong[:SHOWN])
        parts.append(f"{len(wrong)} of another shape ({shown}{', ...' if len(wrong) > SHOWN else ''})")
    parts += [first_line(Exception(m)) for m in info.get("error_msgs", ())]
    return "; ".join(parts) or None


def check_tokenizer(tokenizer: Any, folder: Path, embedding_rows: int, tower: str = "the text tower") -> None:
    """ModelError when the folder lacks the tokenizer's files or the tokenizer does not fit the text tower:
    one embedding row per token (a stray vocabulary, or a tokenizer of special tokens alone, would encode
    every prompt alike or index past the table) and a padding token inside it."""
    files = dict(getattr(type(tokenizer), "vocab_files_names", {}) or {})
    single = files.pop("tokenizer_file", None)
    if files or single:
        present = (single and (folder / single).is_file()) or (files and all((folder / f).is_file() for f in files.values()))
        if not present:
            options = " or ".join(x for x in (single, " + ".join(files.values())) if x)
            raise ModelError(f"{folder}: the tokenizer files are missing; {type(tokenizer).__name__} needs {options}")
    if len(tokenizer) != embedding_rows:
        raise ModelError(
            f"{folder}: the tokenizer has {len(tokenizer)} tokens but {tower} embeds {embedding_rows}; "
            "expected the tokenizer saved with these weights"
        )
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None or not 0 <= int(pad) < embedding_rows:
        raise ModelError(f"{folder}: the tokenizer's padding token ({pad}) is not one of the {embedding_rows} tokens {tower} embeds")


def _names(keys: list[str]) -> str:
    return ", ".join(keys[:SHOWN]) + (", ..." if len(keys) > SHOWN else "")


def _shape(shape) -> str:
    return "(" + ", ".join(str(int(d)) for d in shape) + ")"

