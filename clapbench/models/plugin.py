"""A model given as ``package.module:factory``: the factory returns an object with the AudioTextModel contract."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

from clapbench.errors import ModelError

REQUIRED = ("sample_rate", "embed_audio", "embed_text")


def looks_like_plugin(spec: str) -> bool:
    module, sep, attr = spec.partition(":")
    return bool(sep) and bool(attr) and all(part.isidentifier() for part in module.split(".") + [attr])


def load_plugin(spec: str, **options):
    module_name, _, attr = spec.partition(":")
    if str(Path.cwd()) not in sys.path:  # let users point at a module in their working folder
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ModelError(f"--model {spec}: cannot import module '{module_name}' ({type(exc).__name__}: {exc})") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise ModelError(f"--model {spec}: module '{module_name}' has no callable '{attr}'")
    accepted = _accepted_kwargs(factory, options)
    try:
        model = factory(**accepted)
    except Exception as exc:
        raise ModelError(f"--model {spec}: the factory raised {type(exc).__name__}: {exc}") from None
    check_contract(model, f"--model {spec}: the factory's object")
    return model


def check_contract(model, what: str) -> None:
    """ModelError unless ``model`` has what the model contract requires."""
    # A captioner (caption(waves) -> list of str) may have no text tower: it then runs captioning tasks only.
    required = [n for n in REQUIRED if not (n == "embed_text" and callable(getattr(model, "caption", None)))]
    missing = [name for name in required if not hasattr(model, name)]
    if missing:
        raise ModelError(
            f"{what} lacks {', '.join(missing)}; expected sample_rate, "
            "embed_audio(list of 1-D float32 arrays) -> (N, D) and embed_text(list of str) -> (N, D) "
            "(optional: caption(list of 1-D float32 arrays) -> list of str)"
        )


def _accepted_kwargs(factory, options: dict) -> dict:
    """Pass device/seed/... only to factories that take them."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(options)
    return {k: v for k, v in options.items() if k in params}
