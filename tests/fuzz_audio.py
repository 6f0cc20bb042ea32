"""Mutated copies of valid audio files, made deterministically from a seed, for the reliability tests.

Each mutation is one of: bit flips anywhere, truncation, or a header field that lies (sizes, frame
counts, sample rates, channel counts) in the format's own header layout. The files are what a broken
download, a disk error or a hostile tool leaves behind; clapbench must name each one it cannot read
and never crash, hang or fill memory on any of them.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

FORMATS = {"wav": "PCM_16", "flac": "PCM_16", "ogg": "VORBIS", "mp3": "MPEG_LAYER_III"}


def write_seeds(folder: Path, seconds: float = 1.0, rate: int = 22050) -> dict[str, bytes]:
    """One valid file per format (a chirp in stereo), returned as bytes by extension."""
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * (200 + 800 * t) * t)
    stereo = np.stack([wave, wave[::-1]], axis=1).astype(np.float32)
    out = {}
    for ext, subtype in FORMATS.items():
        path = folder / f"seed.{ext}"
        sf.write(path, stereo, rate, subtype=subtype)
        out[ext] = path.read_bytes()
    return out


def _flip_bits(data: bytearray, rng: np.random.Generator) -> str:
    n = int(rng.integers(1, 64))
    for pos in rng.integers(0, len(data) * 8, size=n):
        data[pos // 8] ^= 1 << (pos % 8)
    return f"{n} bit flips"


def _truncate(data: bytearray, rng: np.random.Generator) -> str:
    keep = int(rng.integers(0, len(data)))
    del data[keep:]
    return f"truncated to {keep} bytes"


def _wav_lie(data: bytearray, rng: np.random.Generator) -> str:
    # RIFF: size at 4; fmt chunk at 12: channels @22, rate @24, byte rate @28, block align @32, bits @34; data size @40.
    field, offset, fmt = [
        ("riff size", 4, "<I"), ("channels", 22, "<H"), ("sample rate", 24, "<I"), ("byte rate", 28, "<I"),
        ("block align", 32, "<H"), ("bits per sample", 34, "<H"), ("data size", 40, "<I"),
    ][int(rng.integers(0, 7))]
    value = int(rng.choice([0, 1, 7, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF] if fmt == "<I" else [0, 1, 3, 255, 0xFFFF]))
    struct.pack_into(fmt, data, offset, value & (0xFFFF if fmt == "<H" else 0xFFFFFFFF))
    return f"wav {field} = {value}"


def _flac_lie(data: bytearray, rng: np.random.Generator) -> str:
    # fLaC, then the STREAMINFO block header (4 bytes) and body: rate (20 bits), channels-1 (3), bps-1 (5), total samples (36) at body byte 10.
    body = 8
    choice = int(rng.integers(0, 3))
    if choice == 0:  # total samples claiming ~ 2^36 frames (days of audio)
        data[body + 13 : body + 18] = bytes([data[body + 13] | 0x0F, 0xFF, 0xFF, 0xFF, 0xFF])
        return "flac total samples = 2^36 - 1"
    if choice == 1:
        rate = int(rng.choice([0, 1, 0xFFFFF]))
        packed = (rate << 4) | (int.from_bytes(data[body + 10 : body + 13], "big") & 0xF)
        data[body + 10 : body + 13] = packed.to_bytes(3, "big")
        return f"flac sample rate = {rate}"
    data[body + 12] = (data[body + 12] & 0xF1) | (int(rng.integers(0, 8)) << 1)
    return "flac channel count changed"


def _ogg_lie(data: bytearray, rng: np.random.Generator) -> str:
    # The first page carries the vorbis identification header: "\x01vorbis", version (4), channels (1), rate (4).
    at = data.find(b"\x01vorbis")
    if at < 0:
        return _flip_bits(data, rng)
    if rng.integers(0, 2):
        rate = int(rng.choice([0, 1, 0xFFFFFFFF]))
        struct.pack_into("<I", data, at + 12, rate)
        return f"vorbis sample rate = {rate}"
    data[at + 11] = int(rng.choice([0, 255]))
    return f"vorbis channels = {data[at + 11]}"


def _mp3_lie(data: bytearray, rng: np.random.Generator) -> str:
    # A Xing/Info frame count claiming hours, or the frame header's rate/bitrate bits of every frame changed.
    at = data.find(b"Xing")
    if at < 0:
        at = data.find(b"Info")
    if at >= 0 and rng.integers(0, 2):
        struct.pack_into(">I", data, at + 8, 0x7FFFFFFF)
        return "mp3 Xing frame count = 2^31 - 1"
    count = 0
    for i in range(len(data) - 1):
        if data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0 and i + 2 < len(data):
            data[i + 2] = int(rng.integers(0, 256))
            count += 1
    return f"mp3 header byte 2 randomised in {count} frames"


_LIES = {"wav": _wav_lie, "flac": _flac_lie, "ogg": _ogg_lie, "mp3": _mp3_lie}


def mutate(seed_bytes: bytes, ext: str, rng: np.random.Generator) -> tuple[bytes, str]:
    data = bytearray(seed_bytes)
    kind = int(rng.integers(0, 3))
    what = (_flip_bits, _truncate, _LIES[ext])[kind](data, rng)
    return bytes(data), what


def fuzz_in_place(paths: list[Path], seed: int = 0) -> dict[Path, str]:
    """Replace each file by a mutated copy of itself; returns what each mutation did."""
    rng = np.random.default_rng(seed)
    done = {}
    for path in paths:
        data, what = mutate(path.read_bytes(), path.suffix.lstrip("."), rng)
        path.write_bytes(data)
        done[path] = what
    return done
