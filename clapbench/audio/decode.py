"""Decode any soundfile-readable file to mono float32 at a target rate."""

from __future__ import annotations

import io
import os

import numpy as np
import soundfile as sf
import soxr

from clapbench.audio.parquet_clips import parse_clip_ref, read_clip_bytes
from clapbench.errors import DataError


# How many samples a clip of n samples has after resampling; the originals differ, and a one-sample
# difference decides how LAION's 'repeatpad' tiles a clip (int(480000 / len) copies) or whether it is cropped.
LENGTH_RULES = {
    "round": "round(n * new / old), soxr's own length (that of a file converted to the rate beforehand)",
    "librosa": (
        "int(np.ceil(n * (new / old))) in floating point, as librosa.resample (librosa.load): soxr HQ's output "
        "zero-padded to it (util.fix_length); a 5 s 44.1 kHz clip gives 240001 samples at 48 kHz"
    ),
    "ceil": "ceil(n * new / old) exactly, torchaudio's resample length; soxr HQ's output zero-padded to it",
}


def resampled_length(n: int, orig: int, new: int, rule: str) -> int:
    if rule == "librosa":
        # librosa computes ratio = float(target_sr) / orig_sr, then the product: float rounding can lift a
        # whole number (220500 * 48000/44100 = 240000.00000000003) to the next integer.
        return int(np.ceil(n * (float(new) / orig)))
    if rule == "ceil":
        return -(-n * new // orig)
    if rule == "round":
        return int(n * new / orig + 0.5)  # soxr's output length (round half up)
    raise ValueError(f"resampled length rule {rule!r}: expected one of {', '.join(LENGTH_RULES)}")


def resample(wave: np.ndarray, orig: int, new: int, rule: str = "round") -> np.ndarray:
    """soxr at its default (HQ) quality, which is librosa's 'soxr_hq'; then cut or zero-padded to the rule's length."""
    out = soxr.resample(wave, orig, new)
    n = resampled_length(len(wave), orig, new, rule)
    return out[:n] if len(out) >= n else np.pad(out, (0, n - len(out)))


def load_audio(path: str | os.PathLike, sample_rate: int, length_rule: str = "round") -> np.ndarray:
    """Read ``path`` (wav, flac, ogg, mp3, ...), average channels to mono, resample to ``sample_rate``.

    ``path`` may also name a clip inside a parquet file, ``FILE.parquet#ROW`` (see parquet_clips).
    ``length_rule`` (a key of LENGTH_RULES) sets the resampled length; audio at ``sample_rate`` is kept as it is.

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
        mono = resample(mono, sr, sample_rate, length_rule)
    return np.ascontiguousarray(mono, dtype=np.float32)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
