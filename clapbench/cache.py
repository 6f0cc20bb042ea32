"""An on-disk cache of embeddings that is never stale: keyed by what produced the numbers.

Layout under the cache folder (default ``$XDG_CACHE_HOME/clapbench`` or ``~/.cache/clapbench``)::

    embeddings-v1/<model sha256>/<namespace>/namespace.json    what the namespace's entries depend on
    embeddings-v1/<model sha256>/<namespace>/written-on/<device>
    embeddings-v1/<model sha256>/<namespace>/<kk>/<entry>.npy   one float32 vector per clip or prompt

A namespace is the hash of everything, besides the input, that can change an embedding: the weights'
sha256, the checkpoint's other files (config, tokenizer, feature extractor settings), the
preprocessing settings (clip length, crop seed, ...), the dtype, the versions of the code that
computes the numbers, and for audio the batch size. An audio entry is named by the hash of its file's
identity (resolved path, size, mtime_ns, inode) or, for a temporal probe's item, of its clips' identities,
its kind and the item rules (temporal.items.ItemRecipe), a text entry by the hash of the exact prompt string,
each combined with the hash of its batch, the inputs embedded with it: a batch's padding and kernels
can change the last bits. Batches are fixed by the input order and the batch size, and are cached and
resumed whole, so a resumed run gives the numbers of an uninterrupted one bit for bit. The device is
recorded (``written-on/``), not keyed: CPU and GPU float32 embeddings differ only in rounding.

One file per entry, because that makes the properties that matter simple: an entry is written to a
temp file and renamed into place, so a killed run leaves no partial entry and a rerun finds exactly
the batches that were finished; concurrent runs never contend for an index; a truncated or otherwise
unreadable entry is just a miss. Looking up 100k entries is 100k small reads (seconds, next to hours
of embedding), and the two-hex-digit fan-out keeps folders at a few hundred files each.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from clapbench.errors import ClapbenchError
from clapbench.models.hashing import WEIGHT_SUFFIXES
from clapbench.models.contract import LoadedModel
from clapbench.files import atomic_open, remove_stale_temps

LAYOUT = "embeddings-v1"
# Bump when clapbench's decoding or preprocessing code changes the numbers it feeds a model.
PIPELINE_VERSION = 1
# Libraries whose versions can change the numbers (decoding, resampling, features, the network).
NUMERIC_PACKAGES = ("torch", "transformers", "numpy", "soundfile", "soxr")
_HEX = re.compile(r"^[0-9a-f]{16,128}$")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "clapbench"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _software() -> dict[str, str]:
    out = {"clapbench-pipeline": str(PIPELINE_VERSION)}
    for name in NUMERIC_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def checkpoint_files_sha(path: str) -> str | None:
    """sha256 over a checkpoint folder's non-weight files (config, tokenizer, processor settings).

    They change numbers without changing the weights (a tokenizer, the feature extractor's clip
    length), so they are part of every key. None when the model is not a folder (a plugin).
    """
    folder = Path(path)
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.suffix not in WEIGHT_SUFFIXES and not f.name.startswith(".") and f.suffix != ".md":
            digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=4096)
def _real_folder(folder: str) -> str:
    return os.path.realpath(folder)


def audio_identity(path: str) -> str | None:
    """The identity of a clip's source: resolved path, size, mtime_ns, inode; None when it has none.

    A path of the form ``FILE#REF`` (a clip inside a container file, e.g. a parquet row) is
    identified by the container file's identity plus the reference.
    """
    source, ref = path, ""
    if not os.path.isfile(source):
        head, sep, tail = path.rpartition("#")
        if not sep or not os.path.isfile(head):
            return None
        source, ref = head, tail
    st = os.stat(source)  # follows a symlinked file: size, mtime and inode are its target's
    folder, name = os.path.split(os.path.abspath(source))
    return canonical_json([os.path.join(_real_folder(folder), name), st.st_size, st.st_mtime_ns, st.st_ino, ref])


@dataclass
class Namespace:
    kind: str  # "audio" or "text"
    settings: dict[str, Any]
    folder: Path

    def entry_path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"


@dataclass
class EmbeddingCache:
    """The cache of one model's embeddings; ``counts`` tallies hits and computations for a result file."""

    root: Path
    loaded: LoadedModel
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.root = Path(self.root).expanduser()
        sha = str(self.loaded.sha256).lower()
        if not _HEX.match(sha):  # it names a folder: a hex digest cannot leave the cache root
            raise ClapbenchError(f"the model's sha256 '{self.loaded.sha256}' is not a hex digest; the embedding cache keys folders by it")
        model_dir = self.root / LAYOUT / sha
        common = {
            "model_sha256": sha,
            "checkpoint_files_sha256": checkpoint_files_sha(self.loaded.path) if self.loaded.kind != "plugin" else None,
            "dtype": self.loaded.dtype,
            "software": _software(),
        }
        self._model_dir = model_dir
        self._audio_settings = {"kind": "audio", **common, "preprocessing": self.loaded.preprocessing}
        text = {"kind": "text", **common}
        # (kind, batch size) -> Namespace; audio namespaces are made per batch size as they are used.
        self.namespaces: dict[tuple[str, int | None], Namespace] = {("text", None): Namespace("text", text, model_dir / _sha(canonical_json(text))[:16])}
        _sweep_once(self.root, model_dir)
        self._prepared: set[Path] = set()
        self._fan_outs: set[Path] = set()
        self._writer: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []
        self.store_error: str | None = None

    def namespace(self, kind: str, batch_size: int | None = None) -> Namespace:
        """The namespace of text entries, or of audio entries embedded in batches of ``batch_size``.

        The batch size is keyed for audio: a clip's embedding can differ in its last bits with the batch
        it was computed in (padding, kernels chosen by shape), so an entry is never reused across batch sizes.
        """
        if kind == "text":
            return self.namespaces[("text", None)]
        if kind != "audio" or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"namespace({kind!r}, {batch_size!r}): expected 'text', or 'audio' with a batch size")
        ns = self.namespaces.get((kind, batch_size))
        if ns is None:
            settings = {**self._audio_settings, "batch_size": batch_size}
            ns = self.namespaces[(kind, batch_size)] = Namespace(kind, settings, self._model_dir / _sha(canonical_json(settings))[:16])
        return ns

    # ---- keys ---------------------------------------------------------------------------------

    def audio_keys(self, paths: Sequence[Any]) -> list[str | None]:
        """One key per clip; None for a clip that has no file identity (it is never cached).

        An input that is not a path (a temporal item's recipe) names its own identity, from its clips' files."""
        out: list[str | None] = []
        for p in paths:
            identity = audio_identity(p) if isinstance(p, (str, os.PathLike)) else p.identity()
            out.append(_sha(identity) if identity is not None else None)
        return out

    @staticmethod
    def text_keys(texts: Sequence[str]) -> list[str]:
        return [_sha("text\0" + t) for t in texts]

    @staticmethod
    def in_company(keys: Sequence[str | None], batch_size: int) -> list[str | None]:
        """Each key made specific to its batch: the ``batch_size`` consecutive inputs it falls in, fixed by the
        input order. An entry is then only ever reused by a run that embeds it in the same company, so a
        resumed run's numbers are bit-identical to an uninterrupted run's. A batch holding an input without
        a key (no file identity) is never cached."""
        out: list[str | None] = []
        for start in range(0, len(keys), batch_size):
            chunk = list(keys[start : start + batch_size])
            if any(k is None for k in chunk):
                out.extend([None] * len(chunk))
                continue
            company = _sha("batch\0" + "\0".join(chunk))  # type: ignore[arg-type]
            out.extend(_sha(f"{k}\0{company}") for k in chunk)
        return out

    # ---- read and write -------------------------------------------------------------------------

    def load(self, kind: str, keys: Sequence[str | None], batch_size: int | None = None) -> dict[int, np.ndarray]:
        """{position: vector} for the keys found; unreadable or malformed entries count as missing."""
        ns = self.namespace(kind, batch_size)
        found: dict[int, np.ndarray] = {}
        for i, key in enumerate(keys):
            if key is None:
                continue
            vector = _read_entry(ns.entry_path(key))
            if vector is not None:
                found[i] = vector
        dims = Counter(v.shape[0] for v in found.values())
        if len(dims) > 1:  # a damaged entry with a valid header: keep the dimension most entries have
            dim = dims.most_common(1)[0][0]
            found = {i: v for i, v in found.items() if v.shape[0] == dim}
        return found

    def store(self, kind: str, keys: Sequence[str | None], vectors: np.ndarray, batch_size: int | None = None) -> None:
        """Queue entries for writing; a thread writes them while the model computes the next batch.

        File creation costs 0.02-1 ms depending on the filesystem, which would otherwise stall a GPU
        loop. Call ``flush()`` before relying on them being on disk.
        """
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clapbench-cache")
        vectors = np.array(vectors, dtype=np.float32)  # a private copy for the writer thread
        self._pending.append(self._writer.submit(self._write, self.namespace(kind, batch_size), list(keys), vectors))

    def flush(self) -> None:
        """Wait for every queued entry. A failed write (disk full, no permission) costs a
        recomputation later, not this run: it is recorded, not raised."""
        pending, self._pending = self._pending, []
        unexpected: BaseException | None = None
        for future in pending:
            try:
                future.result()
            except OSError as exc:
                self.counts["store_errors"] += 1
                self.store_error = self.store_error or f"{type(exc).__name__}: {exc}"
            except BaseException as exc:  # noqa: BLE001 - re-raised once every write has ended
                unexpected = unexpected or exc
        if unexpected is not None:
            raise unexpected

    def _write(self, ns: Namespace, keys: list[str | None], vectors: np.ndarray) -> None:
        self._prepare(ns)
        for key, vector in zip(keys, vectors):
            if key is not None:
                path = ns.entry_path(key)
                if path.parent not in self._fan_outs:
                    path.parent.mkdir(exist_ok=True)
                    self._fan_outs.add(path.parent)
                _write_entry(path, vector)

    def _prepare(self, ns: Namespace) -> None:
        """Write the namespace's description and mark the device, once per namespace and run."""
        if ns.folder in self._prepared:
            return
        ns.folder.mkdir(parents=True, exist_ok=True)
        tag = self.root / "CACHEDIR.TAG"
        if not tag.exists():
            _atomic_write_bytes(tag, b"Signature: 8a477f597d28d172789f06886806bc55\n# clapbench embedding cache; safe to delete.\n")
        meta = ns.folder / "namespace.json"
        if not meta.exists():
            info = {**ns.settings, "model_id": self.loaded.model_id, "model_path": self.loaded.path, "model_kind": self.loaded.kind,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            _atomic_write_bytes(meta, (json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n").encode())
        device = re.sub(r"[^A-Za-z0-9_-]", "_", self.loaded.device.split(":")[0]) or "unknown"
        (ns.folder / "written-on").mkdir(exist_ok=True)
        (ns.folder / "written-on" / device).touch()
        self._prepared.add(ns.folder)

    def written_on(self) -> list[str]:
        devices = set()
        for ns in self.namespaces.values():
            marker_dir = ns.folder / "written-on"
            if marker_dir.is_dir():
                devices.update(p.name for p in marker_dir.iterdir())
        return sorted(devices)

    def summary(self) -> dict[str, Any]:
        """What a result file records about the cache."""
        return {
            "enabled": True,
            "dir": str(self.root),
            "audio_from_cache": self.counts["audio_from_cache"],
            "audio_computed": self.counts["audio_computed"],
            "text_from_cache": self.counts["text_from_cache"],
            "text_computed": self.counts["text_computed"],
            **({k: self.counts[k] for k in ("items_from_cache", "items_computed")} if "items_computed" in self.counts else {}),
            "written_on_devices": self.written_on(),
            **({"store_errors": self.counts["store_errors"], "store_error": self.store_error} if self.store_error else {}),
            "key": "weights sha256 + checkpoint files + preprocessing + dtype + software versions; audio: + batch size, resolved path, size, mtime_ns, inode (a temporal item: its clips', + kind and item rules); text: exact string; each with its batch's members",
        }


# Cache folders already cleaned in this process: a run opens the cache once per task.
_swept: set[Path] = set()


def _sweep_once(root: Path, model_dir: Path) -> None:
    """Remove the temp files of killed writes (the root's tag, this model's namespaces and fan-outs), once per process."""
    if model_dir in _swept:
        return
    _swept.add(model_dir)
    remove_stale_temps(root, depth=0)
    remove_stale_temps(model_dir, depth=2)  # <sha>/<namespace>/<kk>/


def open_cache(loaded: LoadedModel, cache_dir: str | os.PathLike | None, no_cache: bool) -> tuple[EmbeddingCache | None, str | None]:
    """(cache, None), or (None, why there is no caching)."""
    if no_cache:
        return None, "--no-cache"
    sha = str(loaded.sha256 or "").lower()
    if not sha:
        return None, "the model names no weights sha256 (a plugin may provide a `sha256` attribute)"
    if not _HEX.match(sha):
        return None, f"the model's sha256 '{loaded.sha256}' is not a hex digest"
    return EmbeddingCache(Path(cache_dir) if cache_dir else default_cache_dir(), loaded), None


# Entries are .npy files (loadable with numpy.load) read and written here without numpy's header
# parser: with one header per embedding size, that is ~8x faster, which matters at 100k entries.
_NPY_MAGIC = b"\x93NUMPY\x01\x00"


@lru_cache(maxsize=64)
def _npy_length(header: bytes) -> int | None:
    """The length of the 1-D little-endian float32 array an .npy header describes; None otherwise."""
    try:
        d = ast.literal_eval(header.decode("latin1"))
        shape = d["shape"]
        ok = d["descr"] == "<f4" and d["fortran_order"] is False and isinstance(shape, tuple) and len(shape) == 1
    except (ValueError, SyntaxError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        return None
    return int(shape[0]) if ok else None


@lru_cache(maxsize=64)
def _npy_header(length: int) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros(length, dtype="<f4"), allow_pickle=False)
    return buf.getvalue()[: -4 * length]


def _read_entry(path: Path) -> np.ndarray | None:
    """The vector in an entry file; None when it is missing, truncated or not a float32 vector."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) < 10 or data[:8] != _NPY_MAGIC:
        return None
    start = 10 + int.from_bytes(data[8:10], "little")
    length = _npy_length(data[10:start])
    if not length or len(data) != start + 4 * length:
        return None
    vector = np.frombuffer(data, dtype="<f4", offset=start)
    return vector if np.isfinite(vector).all() else None


def _write_entry(path: Path, vector: np.ndarray) -> None:
    vector = np.ascontiguousarray(vector, dtype="<f4")
    _atomic_write_bytes(path, _npy_header(vector.shape[0]) + vector.tobytes())


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Readers see all of an entry or nothing; a short file fails the length check on read and is recomputed."""
    with atomic_open(path, "wb", fsync=False) as fh:
        fh.write(data)


# ---- `clapbench cache info` and `clapbench cache clear` --------------------------------------------


@dataclass
class ModelUsage:
    sha: str
    model_ids: set[str] = field(default_factory=set)
    kinds: Counter = field(default_factory=Counter)  # entries per namespace kind
    bytes: int = 0
    namespaces: int = 0
    temp_files: int = 0


def cache_usage(root: str | os.PathLike) -> list[ModelUsage]:
    """Entries and bytes per model sha under ``root``."""
    layout = Path(root).expanduser() / LAYOUT
    if not layout.is_dir():
        return []
    out = []
    for model_dir in sorted(p for p in layout.iterdir() if p.is_dir()):
        usage = ModelUsage(model_dir.name)
        for ns_dir in sorted(p for p in model_dir.iterdir() if p.is_dir()):
            usage.namespaces += 1
            kind = "?"
            try:
                meta = json.loads((ns_dir / "namespace.json").read_text())
                kind = meta.get("kind", "?")
                usage.model_ids.add(str(meta.get("model_id", "?")))
            except (OSError, ValueError):
                pass
            for fan in os.scandir(ns_dir):
                if not fan.is_dir() or len(fan.name) != 2:
                    continue
                for entry in os.scandir(fan.path):
                    if entry.name.endswith(".npy"):
                        usage.kinds[kind] += 1
                        usage.bytes += entry.stat().st_size
                    elif entry.name.endswith(".tmp"):
                        usage.temp_files += 1
        out.append(usage)
    return out


def clear_cache(root: str | os.PathLike, model_sha_prefix: str | None = None) -> list[str]:
    """Delete the entries of every model (or of the models whose sha starts with the prefix); returns their shas."""
    layout = Path(root).expanduser() / LAYOUT
    if model_sha_prefix is not None:
        prefix = model_sha_prefix.strip().lower()
        if not re.fullmatch(r"[0-9a-f]+", prefix):
            raise ClapbenchError(f"--model-sha {model_sha_prefix}: expected a hex prefix of a model's sha256 (see `clapbench cache info`)")
    else:
        prefix = ""
    if not layout.is_dir():
        return []
    removed = []
    for model_dir in sorted(p for p in layout.iterdir() if p.is_dir() and p.name.startswith(prefix)):
        shutil.rmtree(model_dir)
        removed.append(model_dir.name)
    if not prefix:
        shutil.rmtree(layout, ignore_errors=True)
    return removed
