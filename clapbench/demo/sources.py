"""Real sounds for the demo, made on this machine by Debian's tools, with numpy synthesis as the fallback.

- espeak-ng: speech and whispering (words in several voices and languages);
- fluidsynth + a General MIDI soundfont: piano, church organ, violin, trumpet, drums;
- sox: beeping, static noise, a siren (synthesized signals);
- sound-theme-freedesktop: recorded notification chimes.

A class whose tool is missing is left out; with fewer than 4 real classes the numpy classes of
clapbench.audio.synth are added (and the demo says so). Every clip is a seeded draw (words, voice, notes,
levels), and training and evaluation clips are drawn apart: held-out speech uses other words,
held-out chimes other recordings.
"""

from __future__ import annotations

import glob
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from clapbench.audio.synth import synth_sound

SR = 48000
FREEDESKTOP = "/usr/share/sounds/freedesktop/stereo"
SOUNDFONTS = ("/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2")


@dataclass(frozen=True)
class Clip:
    wave: np.ndarray  # mono float32 at SR
    attribute: str = ""  # e.g. "high", "female": words a caption can use


@dataclass(frozen=True)
class SoundClass:
    name: str  # the ESC-50-style category (underscores for spaces)
    words: tuple[str, ...]  # how training captions name it
    tool: str  # espeak-ng | fluidsynth | sox | freedesktop | numpy


CLASSES = [
    SoundClass("speech", ("speech", "a person speaking", "spoken words"), "espeak-ng"),
    SoundClass("whispering", ("whispering", "someone whispering", "whispered words"), "espeak-ng"),
    SoundClass("piano", ("piano", "a piano playing", "piano notes"), "fluidsynth"),
    SoundClass("church_organ", ("church organ", "an organ playing", "organ chords"), "fluidsynth"),
    SoundClass("violin", ("violin", "a violin playing", "violin notes"), "fluidsynth"),
    SoundClass("trumpet", ("trumpet", "a trumpet playing", "trumpet notes"), "fluidsynth"),
    SoundClass("drums", ("drums", "a drum kit", "drums being played"), "fluidsynth"),
    SoundClass("beeping", ("beeping", "electronic beeps", "a beeping device"), "sox"),
    SoundClass("static_noise", ("static noise", "hiss", "radio static"), "sox"),
    SoundClass("siren", ("siren", "a wailing siren", "an alarm siren"), "sox"),
    SoundClass("chime", ("chime", "a notification chime", "an alert chime"), "freedesktop"),
]
NUMPY_CLASSES = [
    SoundClass("low_tone", ("low tone", "a low hum"), "numpy"),
    SoundClass("high_tone", ("high tone", "a high whistle"), "numpy"),
    SoundClass("white_noise", ("white noise", "hiss"), "numpy"),
    SoundClass("rising_chirp", ("rising chirp", "a sweep"), "numpy"),
    SoundClass("clicks", ("clicks", "a clicking"), "numpy"),
    SoundClass("low_rumble", ("low rumble", "a rumble"), "numpy"),
]

WORDS = {
    "train": ["hello", "river", "orange", "window", "seven", "garden", "yellow", "morning", "table", "music", "little", "paper",
              "summer", "number", "happy", "forest", "kitchen", "silver", "doctor", "button", "pencil", "winter", "rabbit", "candle"],
    "eval": ["mountain", "coffee", "purple", "engine", "bottle", "letter", "monkey", "sunday"],
}
VOICES = ["en", "en-us", "de", "fr", "es", "it"]
VARIANTS = {"male": ["m1", "m3", "m5", "m7"], "female": ["f1", "f2", "f3", "f4"]}
PROGRAMS = {"piano": 0, "church_organ": 19, "violin": 40, "trumpet": 56}


def available_tools() -> dict[str, bool]:
    return {
        "espeak-ng": shutil.which("espeak-ng") is not None,
        "fluidsynth": shutil.which("fluidsynth") is not None and soundfont() is not None,
        "sox": shutil.which("sox") is not None,
        "freedesktop": bool(glob.glob(f"{FREEDESKTOP}/*.oga")),
    }


def soundfont() -> str | None:
    for path in SOUNDFONTS:
        if Path(path).is_file():
            return path
    found = sorted(glob.glob("/usr/share/sounds/sf2/*.sf2")) + sorted(glob.glob("/usr/share/soundfonts/*.sf2"))
    return found[0] if found else None


def fit(wave: np.ndarray, seconds: float, rng: np.random.Generator, level: float | None = None) -> np.ndarray:
    """Cut (at a random start) or zero-pad (at a random offset) to ``seconds``, then scale the peak to ``level``."""
    n = int(seconds * SR)
    wave = np.asarray(wave, dtype=np.float32)
    if len(wave) > n:
        start = int(rng.integers(0, len(wave) - n + 1))
        wave = wave[start : start + n]
    elif len(wave) < n:
        out = np.zeros(n, dtype=np.float32)
        start = int(rng.integers(0, n - len(wave) + 1))
        out[start : start + len(wave)] = wave
        wave = out
    peak = float(np.abs(wave).max(initial=0.0))
    target = level if level is not None else float(rng.uniform(0.3, 0.9))
    return (wave * (target / peak) if peak > 0 else wave).astype(np.float32)


def _read(path: str | Path) -> np.ndarray:
    from clapbench.audio.decode import load_audio

    return load_audio(path, SR)


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


# ----- espeak-ng -----
def espeak_clips(whisper: bool, n: int, split: str, seconds: float, rng: np.random.Generator, tmp: Path) -> list[Clip]:
    clips = []
    for k in range(n):
        sex = "female" if k % 2 else "male"
        variant = "whisper" if whisper else str(rng.choice(VARIANTS[sex]))
        voice = f"{rng.choice(VOICES)}+{variant}"
        text = " ".join(rng.choice(WORDS[split], size=2, replace=False))
        out = tmp / f"speech-{whisper}-{split}-{k}.wav"
        _run(["espeak-ng", "-v", voice, "-s", str(int(rng.integers(130, 190))), "-p", str(int(rng.integers(30, 70))), "-w", str(out), text])
        clips.append(Clip(fit(_read(out), seconds, rng), "" if whisper else sex))
    return clips


# ----- fluidsynth: one MIDI file per class, one clip per segment -----
def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def write_midi(path: Path, notes: list[tuple[float, float, int, int, int]], program: int | None) -> None:
    """A format-0 MIDI file (480 ticks per beat, 120 bpm: 960 ticks a second) from (start s, end s, channel, pitch, velocity)."""
    events = []
    for start, end, ch, pitch, vel in notes:
        events.append((int(start * 960), 1, bytes([0x90 | ch, pitch, vel])))
        events.append((int(end * 960), 0, bytes([0x80 | ch, pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    track = bytearray()
    if program is not None:
        track += _vlq(0) + bytes([0xC0, program])
    now = 0
    for tick, _, data in events:
        track += _vlq(tick - now) + data
        now = tick
    track += _vlq(0) + b"\xff\x2f\x00"
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(track)) + bytes(track))


def fluidsynth_clips(name: str, n: int, seconds: float, rng: np.random.Generator, tmp: Path) -> list[Clip]:
    """``n`` clips of an instrument rendered in one fluidsynth call: each segment a short random phrase."""
    segment = seconds + 1.0  # a second of room for the release
    notes, attributes = [], []
    for k in range(n):
        t0 = k * segment
        if name == "drums":
            attributes.append("")
            step = float(rng.choice([0.125, 0.25]))
            for i in range(int(seconds / step)):
                for pitch in rng.choice([35, 36, 38, 40, 42, 44, 46, 49, 51], size=int(rng.integers(1, 3)), replace=False):
                    notes.append((t0 + i * step, t0 + i * step + 0.1, 9, int(pitch), int(rng.integers(70, 120))))
            continue
        high = bool(k % 2)
        attributes.append("high" if high else "low")
        base = int(rng.integers(67, 80)) if high else int(rng.integers(45, 57))
        t, chord = t0, name == "church_organ" and rng.random() < 0.5
        while t < t0 + seconds - 0.2:
            dur = float(rng.choice([0.25, 0.5, 0.75]))
            pitches = [base + int(rng.integers(0, 12))] + ([base + 4, base + 7] if chord else [])
            for p in pitches:
                notes.append((t, min(t + dur, t0 + seconds), 0, int(p), int(rng.integers(60, 110))))
            t += dur
    mid, wav = tmp / f"{name}.mid", tmp / f"{name}.wav"
    write_midi(mid, notes, PROGRAMS.get(name))
    _run(["fluidsynth", "-ni", "-g", "0.6", "-r", str(SR), "-F", str(wav), soundfont(), str(mid)])
    audio = _read(wav)
    seg = int(segment * SR)
    return [Clip(fit(audio[k * seg : k * seg + int(seconds * SR)], seconds, rng), attributes[k]) for k in range(n)]


# ----- sox -----
def sox_clips(name: str, n: int, seconds: float, rng: np.random.Generator, tmp: Path) -> list[Clip]:
    clips = []
    for k in range(n):
        out = tmp / f"{name}-{k}.wav"
        attribute = ""
        if name == "beeping":
            high = bool(k % 2)
            attribute = "high" if high else "low"
            f = int(rng.integers(1500, 3000)) if high else int(rng.integers(300, 700))
            on, off = float(rng.uniform(0.08, 0.2)), float(rng.uniform(0.1, 0.3))
            repeats = max(1, int(seconds / (on + off)))
            effect = ["synth", f"{on:.3f}", str(rng.choice(["sine", "square"])), str(f), "pad", "0", f"{off:.3f}", "repeat", str(repeats)]
        elif name == "static_noise":
            effect = ["synth", str(seconds), str(rng.choice(["whitenoise", "pinknoise"])), "gain", "-6"]
        else:  # siren: rising sweeps, one after another (a "whoop" siren)
            lo, hi = int(rng.integers(450, 800)), int(rng.integers(1100, 1800))
            sweep = float(rng.uniform(0.4, 1.0))
            effect = ["synth", f"{sweep:.3f}", "sine", f"{lo}-{hi}", "repeat", str(max(1, int(np.ceil(seconds / sweep)) - 1))]
        # -R: repeatable (seeded noise and dither), -D: no dither; the same seed gives the same clip
        _run(["sox", "-R", "-D", "-n", "-r", str(SR), "-b", "16", "-c", "1", str(out), *effect])
        clips.append(Clip(fit(_read(out), seconds, rng), attribute))
    return clips


# ----- sound-theme-freedesktop -----
def freedesktop_files() -> dict[str, list[str]]:
    """The theme's non-spoken sounds, split by file: evaluation chimes are recordings training never heard."""
    files = sorted(p for p in glob.glob(f"{FREEDESKTOP}/*.oga") if "audio-channel" not in p and "test-signal" not in p)
    return {"eval": files[1::4], "train": [f for i, f in enumerate(files) if i % 4 != 1]}


def freedesktop_clips(n: int, split: str, seconds: float, rng: np.random.Generator) -> list[Clip]:
    import soxr

    files = freedesktop_files()[split]
    clips = []
    for k in range(n):
        wave = _read(files[k % len(files)])
        speed = float(rng.uniform(0.9, 1.1))  # a slightly different playback speed per clip
        wave = soxr.resample(wave, SR, int(SR / speed))
        clips.append(Clip(fit(wave, seconds, rng)))
    return clips


def numpy_clips(name: str, n: int, seconds: float, rng: np.random.Generator) -> list[Clip]:
    return [Clip(fit(synth_sound(name, seconds, SR, rng), seconds, rng)) for _ in range(n)]


def choose_classes(tools: dict[str, bool], synth_only: bool = False, min_real: int = 4) -> tuple[list[SoundClass], bool]:
    """(classes, whether numpy classes stand in for missing tools)."""
    real = [] if synth_only else [c for c in CLASSES if tools.get(c.tool)]
    if len(real) >= min_real:
        return real, False
    return real + NUMPY_CLASSES, True


def make_clips(cls: SoundClass, n: int, split: str, seconds: float, seed: int) -> list[Clip]:
    """``n`` clips of ``cls`` for ``split`` ('train' or 'eval'), seeded by (seed, class, split)."""
    rng = np.random.default_rng([seed, sum(map(ord, cls.name)), 0 if split == "train" else 1])
    with tempfile.TemporaryDirectory(prefix="clapbench-demo-") as tmp:
        tmp = Path(tmp)
        makers: dict[str, Callable[[], list[Clip]]] = {
            "espeak-ng": lambda: espeak_clips(cls.name == "whispering", n, split, seconds, rng, tmp),
            "fluidsynth": lambda: fluidsynth_clips(cls.name, n, seconds, rng, tmp),
            "sox": lambda: sox_clips(cls.name, n, seconds, rng, tmp),
            "freedesktop": lambda: freedesktop_clips(n, split, seconds, rng),
            "numpy": lambda: numpy_clips(cls.name, n, seconds, rng),
        }
        return makers[cls.tool]()


def write_wav(path: Path, wave: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, SR, subtype="PCM_16")
