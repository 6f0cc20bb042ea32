"""Decode any soundfile-readable file to mono float32 at a target rate."""

from __future__ import annotations

import io
import os

import numpy as np
import soundfile as sf
import soxr

from clapbench.audio.parquet_clips import parse_clip_ref, read_clip_bytes
from clapbench.errors import DataError


def load_audio(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """Read ``path`` (wav, flac, ogg, mp3, ...), average channels to mono, resample to ``sample_rate``.

    ``path`` may also name a clip inside a parquet file, ``FILE.parquet#ROW`` (see parquet_clips).

    Raises DataError naming the file when it is missing, empty or undecodable.
    """
    path = os.fspath(path)
    source: str | io.BytesIO = path
    if not os.path.isfile(path):
        clip = parse_clip_ref(path)
        if clip is None:
            raise DataError(f"{path}: audio file not found")
        source = io.BytesIO(read_clip_bytes(clip))
    elif os.path.getsize(path) == 0:
        raise DataError(f"{path}: empty file (0 bytes); expected a wav/flac/ogg/mp3 file")
    try:
        data, sr = sf.read(source, dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises several types for bad files
        raise DataError(f"{path}: cannot decode audio ({_short(exc)}); expected a wav/flac/ogg/mp3 file") from None
    if data.shape[0] == 0:
        raise DataError(f"{path}: audio file holds no samples (0 frames); expected a clip with audio")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(mono).all():
        raise DataError(f"{path}: audio holds NaN or infinite samples")
    if sr != sample_rate:
        # soxr's default (HQ) quality; the output length is round(len * ratio).
        mono = soxr.resample(mono, sr, sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
