"""What a loaded checkpoint tells a run, remembered so that a rerun whose embeddings are all cached never
imports transformers or builds the network.

After a checkpoint is loaded, its manifest (the LoadedModel's fields, which optional methods of the model
contract it has, its sample rate and resampled-length rule) is written under the cache folder, keyed by
everything that decides it: each checkpoint file's resolved path, size and mtime_ns, the load options
(family, protocol, tokenizer, decoding, dtype, seed, device) and the versions of clapbench and of the
libraries that build models. The next load with the same key returns a LoadedModel around a LazyModel:
the manifest answers the questions a run asks before computing (rate, capabilities, preprocessing for
the cache key), and the first call that needs the network builds it, through the ordinary loader.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from clapbench.models.contract import LoadedModel

LAYOUT = "models-v1"
# The contract's optional members; a manifest records which of them the model has.
OPTIONAL_MEMBERS = (
    "embed_text", "audio_preprocessor", "embed_audio_features", "describe", "resampled_length", "embed_audio_frames",
    "frame_rate", "caption", "caption_features",
)
# Members that are methods: a LazyModel hands out a stand-in that builds the network when called, so that
# asking whether a model has one (callable(getattr(model, "embed_text", None))) builds nothing.
METHODS = ("embed_audio", "embed_text", "embed_audio_features", "embed_audio_frames", "caption", "caption_features", "describe")
_LOADED_FIELDS = ("model_id", "path", "kind", "sha256", "device", "dtype", "preprocessing", "family", "variant", "model_id_given")


class LazyModel:
    """A model known by its manifest and built on first use of anything the manifest cannot answer."""

    def __init__(self, manifest: dict[str, Any], build: Callable[[], Any]):
        self._manifest = manifest
        self._build = build
        self._real = None

    @property
    def built(self) -> bool:
        return self._real is not None

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        values = self._manifest["values"]
        if name in values:
            return values[name]
        if name in OPTIONAL_MEMBERS and name not in self._manifest["members"]:
            raise AttributeError(name)  # hasattr()/getattr(..., None) answer without building
        if name in METHODS and self._real is None:
            return lambda *args, **kwargs: getattr(self.real(), name)(*args, **kwargs)
        return getattr(self.real(), name)

    def real(self):
        """The network itself, built on the first call."""
        if self._real is None:
            self._real = self._build()
        return self._real


def manifest_key(spec: str, options: dict[str, Any]) -> str | None:
    """The key of a checkpoint file or folder loaded with ``options``; None for a plugin (not a path)."""
    path = Path(spec).expanduser()
    if not path.exists():
        return None
    # A loader reads the folder's own files (config, weights, tokenizer, processor), not its subfolders.
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    identity = [[str(f.resolve()), os.stat(f).st_size, os.stat(f).st_mtime_ns] for f in files]
    tokenizer = options.get("tokenizer")
    if tokenizer and Path(tokenizer).exists():
        identity.append([str(Path(tokenizer).resolve()), *_stat(Path(tokenizer))])
    versions = {}
    for name in ("clapbench", "torch", "transformers", "safetensors", "tokenizers"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    text = json.dumps({"files": identity, "options": options, "versions": versions}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _stat(path: Path) -> list[int]:
    if path.is_dir():
        return [sum(os.stat(f).st_mtime_ns for f in path.rglob("*") if f.is_file())]
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def manifest_of(loaded: LoadedModel) -> dict[str, Any]:
    model = loaded.model
    members = [m for m in OPTIONAL_MEMBERS if getattr(model, m, None) is not None]
    values = {"sample_rate": int(model.sample_rate), "resampled_length": str(getattr(model, "resampled_length", "round"))}
    if getattr(model, "frame_rate", None) is not None:
        values["frame_rate"] = float(model.frame_rate)
    return {"loaded": {f: getattr(loaded, f) for f in _LOADED_FIELDS}, "members": members, "values": values}


def read_manifest(folder: Path, key: str) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / LAYOUT / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and {"loaded", "members", "values"} <= set(data) and set(_LOADED_FIELDS) <= set(data["loaded"])
    return data if ok else None


def write_manifest(folder: Path, key: str, manifest: dict[str, Any]) -> None:
    """Best effort: a cache folder that cannot be written only costs a model build next time."""
    from clapbench.files import atomic_write_text

    try:
        atomic_write_text(folder / LAYOUT / f"{key}.json", json.dumps(manifest, indent=1, sort_keys=True, default=str) + "\n")
    except (OSError, TypeError, ValueError):
        pass


def lazy_loaded(manifest: dict[str, Any], build: Callable[[], LoadedModel]) -> LoadedModel:
    """The LoadedModel a manifest describes, its network built by ``build`` when first needed."""
    return LoadedModel(model=LazyModel(manifest, lambda: build().model), **manifest["loaded"])  # type: ignore[arg-type]
