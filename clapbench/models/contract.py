"""The model contract every CLAP family implements (HEAR-style: a rate and two embedding functions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class AudioTextModel(Protocol):
    """What clapbench needs from a model.

    - ``sample_rate``: the rate ``embed_audio`` expects; clapbench decodes and resamples to it.
    - ``embed_audio(waves)``: a list of mono float32 arrays at that rate -> (N, D) array.
    - ``embed_text(texts)``: a list of strings -> (N, D) array in the same space.

    Optional, for speed: ``audio_preprocessor`` (a picklable callable wave -> features, run in
    worker processes) together with ``embed_audio_features(list of features) -> (N, D)``.
    Optional, for provenance: ``describe() -> dict`` (clip policy, etc.).
    Optional: ``resampled_length``, how many samples a resampled clip has (a key of
    clapbench.audio.decode.LENGTH_RULES; "round", soxr's own, when absent).
    Optional, for the frame probes: ``embed_audio_frames(waves) -> list of (T_i, D) arrays`` in the text space,
    with ``frame_rate`` (frames per second; frame t covers [t, t + 1) / frame_rate seconds of the clip).
    Optional, for captioning tasks: ``caption(waves) -> list[str]``, one caption per mono float32 array at
    ``sample_rate``; a model without it skips those tasks. A captioner without a text tower (clapcap) may
    leave out ``embed_text``: it then skips the tasks that need one.
    """

    sample_rate: int

    def embed_audio(self, waves: list[np.ndarray]) -> np.ndarray: ...

    def embed_text(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class LoadedModel:
    """A model with what the result files must record about it."""

    model: AudioTextModel
    model_id: str
    path: str
    kind: str  # "hf-clap", "plugin", ...
    sha256: str | None
    device: str = "cpu"
    dtype: str = "float32"
    preprocessing: dict[str, Any] = field(default_factory=dict)
    family: str | None = None  # "hf-clap", "msclap", "laion-clap", or a plugin's own
    variant: str | None = None  # e.g. "2023", "htsat-tiny-fusion"
    model_id_given: str | None = None  # --model-id as typed; model_id is its slug, a single folder name

    @property
    def sample_rate(self) -> int:
        return int(self.model.sample_rate)

    @property
    def resampled_length(self) -> str:
        return str(getattr(self.model, "resampled_length", "round"))


def audio_forward(model: Any):
    """(prepare, embed): the model's optional fast path (``audio_preprocessor`` runs per clip, in the decoding
    workers; ``embed_audio_features`` takes the prepared batch), else (None, ``embed_audio`` on waves)."""
    prepare = getattr(model, "audio_preprocessor", None)
    embed_features = getattr(model, "embed_audio_features", None)
    if prepare is None or embed_features is None:
        return None, model.embed_audio
    return prepare, embed_features


def embed_waves(model: Any, waves: list[np.ndarray], what: str = "embed_audio") -> np.ndarray:
    """(N, D) embeddings of waves already in memory (built items, generated clips), through the fast path
    when the model has one; checked as every audio embedding is."""
    prepare, embed = audio_forward(model)
    batch = [prepare(w) for w in waves] if prepare is not None else list(waves)
    return check_embeddings(embed(batch), len(waves), what)


def check_embeddings(array: Any, n: int, what: str) -> np.ndarray:
    """Validate a model's output: an (n, D) finite float array."""
    from clapbench.errors import ModelError

    if hasattr(array, "detach"):  # a torch tensor (a model written in a notebook), on any device, maybe with grad
        array = array.detach().float().cpu().numpy()
    out = np.asarray(array, dtype=np.float32)
    if out.ndim != 2 or out.shape[0] != n:
        raise ModelError(f"{what} returned shape {tuple(out.shape)}; expected ({n}, D)")
    if not np.isfinite(out).all():
        raise ModelError(f"{what} returned NaN or infinite values")
    return out


def has_frames(model: Any) -> bool:
    """Whether a model offers frame embeddings (``embed_audio_frames`` and ``frame_rate``)."""
    return callable(getattr(model, "embed_audio_frames", None)) and getattr(model, "frame_rate", None) is not None


def check_frames(frames: Any, n: int, what: str = "embed_audio_frames") -> list[np.ndarray]:
    """Validate frame embeddings: n finite (T_i, D) float arrays sharing D, each with at least one frame."""
    from clapbench.errors import ModelError

    out = [np.asarray(f, dtype=np.float32) for f in frames] if isinstance(frames, (list, tuple)) else None
    if out is None or len(out) != n:
        raise ModelError(f"{what} returned {type(frames).__name__} of {len(frames) if hasattr(frames, '__len__') else '?'} entries; expected a list of {n} (T_i, D) arrays")
    dims = {f.shape[1] for f in out if f.ndim == 2}
    bad = [i for i, f in enumerate(out) if f.ndim != 2 or f.shape[0] == 0]
    if bad or len(dims) > 1:
        shapes = ", ".join(str(tuple(f.shape)) for f in out[:4])
        raise ModelError(f"{what} returned arrays of shapes {shapes}...; expected (T_i, D) with T_i >= 1 and one D for all clips")
    if not all(np.isfinite(f).all() for f in out):
        raise ModelError(f"{what} returned NaN or infinite values")
    return out
