"""Decode any soundfile-readable file to mono float32 at a target rate."""

from __future__ import annotations

import io
import os
import re

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


# Longer files are refused rather than decoded: every clip in these benchmarks is at most 30 s, and a
# header (or a file) claiming hours would otherwise fill memory. The cap is on what is actually read.
MAX_SECONDS = 600.0
# Plausible sample rates; a header outside them is a lie (resampling from 1 Hz to 48 kHz would
# multiply the clip's length by 48000).
MIN_RATE, MAX_RATE = 1000, 768_000
# Samples (frames x channels) read per block, so memory follows the samples actually present, never
# the frame count a header claims.
BLOCK_SAMPLES = 1 << 20


def load_audio(path: str | os.PathLike, sample_rate: int, length_rule: str = "round") -> np.ndarray:
    """Read ``path`` (wav, flac, ogg, mp3, ...), average channels to mono, resample to ``sample_rate``.

    ``path`` may also name a clip inside a parquet file, ``FILE.parquet#ROW`` (see parquet_clips).
    ``length_rule`` (a key of LENGTH_RULES) sets the resampled length; audio at ``sample_rate`` is kept as it is.

    Raises DataError naming the file when it is missing, empty, undecodable, longer than MAX_SECONDS
    or at an implausible sample rate.
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
    mono, sr = _decode_mono(path, source)
    if mono.shape[0] == 0:
        raise DataError(f"{path}: audio file holds no samples (0 frames); expected a clip with audio")
    if not np.isfinite(mono).all():
        raise DataError(f"{path}: audio holds NaN or infinite samples")
    if sr != sample_rate:
        mono = resample(mono, sr, sample_rate, length_rule)
    return np.ascontiguousarray(mono, dtype=np.float32)


def _decode_mono(path: str, source) -> tuple[np.ndarray, int]:
    """(mono float32 samples, rate), read block by block up to MAX_SECONDS."""
    try:
        with sf.SoundFile(source) as f:
            sr, channels = int(f.samplerate), int(f.channels)
            if not MIN_RATE <= sr <= MAX_RATE:
                raise DataError(f"{path}: header gives a sample rate of {sr} Hz; expected {MIN_RATE} to {MAX_RATE} Hz")
            limit = int(MAX_SECONDS * sr)
            if f.seekable():
                f.seek(0)  # as soundfile.read does; libsndfile's MPEG decoder gives other samples without it
            # libsndfile's MPEG decoder rounds samples differently when a file is read in several calls, so an
            # MP3 is read in one call of the frames its header gives (at most the cap): the samples soundfile.read gives.
            block = min(max(f.frames, 0), limit + 1) if f.format == "MP3" else max(1, BLOCK_SAMPLES // max(channels, 1))
            parts, n = [], 0
            while True:
                data = f.read(block, dtype="float32", always_2d=True)
                if data.shape[0] == 0:
                    break
                # Row means of each block are those of the whole array: a row's mean reads only that row.
                parts.append(data.mean(axis=1, dtype=np.float32) if channels > 1 else data[:, 0].copy())
                n += data.shape[0]
                if n > limit:
                    raise DataError(f"{path}: longer than {MAX_SECONDS:.0f} s; expected a clip (clapbench reads at most {MAX_SECONDS:.0f} s of a file)")
                if f.format == "MP3":
                    break
    except DataError:
        raise
    except Exception as exc:  # libsndfile raises several types for bad files
        raise DataError(f"{path}: cannot decode audio ({_short(exc)}); expected a wav/flac/ogg/mp3 file") from None
    if not parts:
        return np.zeros(0, dtype=np.float32), sr
    return (np.concatenate(parts) if len(parts) > 1 else parts[0]), sr


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    # libsndfile's "Error opening 'PATH': why" repeats the path the message already starts with.
    if not text:
        return type(exc).__name__
    why = re.sub(r"^Error opening .*?: ", "", text[-1])
    # libsndfile's words for a file whose format it cannot recognise, although the file exists.
    return "format not recognised" if why.startswith("File does not exist or is not a regular file") else why
