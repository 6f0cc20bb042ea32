"""Small copies of the official layouts of the music and speech datasets, from synthesized audio.

Each builder writes one dataset as a user has it after extracting the official archive (file and
folder names, metadata files and fields as the release has them; clips shorter and fewer) and
returns a ``Layout`` saying what it wrote. ``BUILDERS = {task name: builder}``; a builder takes the
folder to write into (it must not exist yet or be empty).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from clapbench.audio.synth import DEMO_CLASSES, synth_sound


@dataclass
class Layout:
    task: str
    data: Path  # the folder to pass as --data (where the user extracted the archive)
    root: Path  # the folder the item paths below are relative to (the archive's top folder)
    classes: list[str]  # the task's classes, in the task's order
    labels: dict[str, list[str]]  # item path relative to root -> its class names (all items the task reads)
    ignored: list[str] = field(default_factory=list)  # files written that the task must leave out (relative to root)
    hear_folds: int | None = None  # k when the task's folds are HEAR's k folds over the file stems


def _write(path: Path, wave: np.ndarray, sample_rate: int, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, sample_rate, **kwargs)


def _sound(k: int, seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """One of the demo sounds, chosen by k, so clips of different classes differ."""
    return synth_sound(DEMO_CLASSES[k % len(DEMO_CLASSES)], seconds, sample_rate, rng)


def _note(midi: int, velocity: int, seconds: float, sample_rate: int) -> np.ndarray:
    """A decaying harmonic tone at a MIDI pitch, louder for a higher velocity (an NSynth-like note)."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    partials = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3) if f0 * h < sample_rate / 2)
    hold = np.where(t < 3.0, 1.0, np.exp(-(t - 3.0) * 5))  # 3 s hold, 1 s release
    return (0.8 * velocity / 127 * hold * partials / 1.9).astype(np.float32)


# ---- music ---------------------------------------------------------------------------------

def gtzan_music_speech(data: Path) -> Layout:
    """music_speech.tar.gz -> music_speech/{music,speech}_wav/*.wav (22,050 Hz mono); unlabeled_wav/ in some copies."""
    root = data / "music_speech"
    rng = np.random.default_rng(1)
    labels = {}
    for k, (label, name) in enumerate([("music", "bagpipe"), ("music", "blues"), ("music", "classical"),
                                       ("speech", "comedy"), ("speech", "conversation"), ("speech", "news")]):
        rel = f"{label}_wav/{name}.wav"
        _write(root / rel, _sound(k, 1.0, 22050, rng), 22050, subtype="PCM_16")
        labels[rel] = [label]
    _write(root / "unlabeled_wav" / "mystery.wav", _sound(0, 1.0, 22050, rng), 22050, subtype="PCM_16")
    return Layout("gtzan-music-speech", data, root, ["music", "speech"], labels, ignored=["unlabeled_wav/mystery.wav"])


GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]


def gtzan_genres(data: Path) -> Layout:
    """genres.tar.gz -> genres/<genre>/<genre>.000NN.au (Sun AU, 22,050 Hz, 16-bit) + genres/*.mf lists."""
    root = data / "genres"
    rng = np.random.default_rng(2)
    labels = {}
    for k, genre in enumerate(GENRES):
        for n in range(2 if k == 0 else 1):
            rel = f"{genre}/{genre}.{n:05d}.au"
            _write(root / rel, _sound(k, 1.0, 22050, rng), 22050, format="AU", subtype="PCM_16")
            labels[rel] = [genre]
    # marsyas collection files that ship beside the genre folders
    (root / "bextract_single.mf").write_text("".join(f"/home/tzanetak/genres/{r}\t{v[0]}\n" for r, v in labels.items()))
    (root / "input.mf").write_text("")
    return Layout("gtzan-genres", data, root, GENRES, labels, ignored=["bextract_single.mf", "input.mf"])


FAMILIES = ["bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "synth_lead", "vocal"]
SOURCES = ["acoustic", "electronic", "synthetic"]
QUALITIES = ["bright", "dark", "distortion", "fast_decay", "long_release", "multiphonic", "nonlinear_env", "percussive", "reverb", "tempo-synced"]

# (family, source, instrument number, pitch, velocity, qualities): pitches 9 and 115 lie outside
# HEAR's 21-108; every quality has a positive and a negative note; one note has no quality.
NSYNTH_NOTES = [
    ("bass", "synthetic", 33, 22, 50, ["dark"]),
    ("brass", "acoustic", 46, 60, 127, ["bright", "reverb"]),
    ("flute", "acoustic", 27, 72, 25, []),
    ("guitar", "electronic", 69, 9, 75, ["distortion", "percussive", "fast_decay"]),
    ("keyboard", "electronic", 1, 48, 100, ["long_release", "multiphonic"]),
    ("mallet", "acoustic", 56, 84, 50, ["percussive", "fast_decay", "bright"]),
    ("organ", "electronic", 104, 115, 25, ["nonlinear_env", "tempo-synced"]),
    ("reed", "acoustic", 37, 67, 75, ["reverb", "dark"]),
    ("string", "acoustic", 14, 55, 100, ["long_release"]),
    ("vocal", "synthetic", 3, 64, 127, ["multiphonic", "nonlinear_env", "distortion", "tempo-synced"]),
]


def _nsynth(task: str, data: Path) -> Layout:
    """nsynth-test.jsonwav.tar.gz -> nsynth-test/examples.json + audio/<note_str>.wav (16 kHz, 4 s)."""
    root = data / "nsynth-test"
    examples, labels, ignored = {}, {}, []
    for k, (family, source, number, pitch, velocity, qualities) in enumerate(NSYNTH_NOTES):
        instrument_str = f"{family}_{source}_{number:03d}"
        note_str = f"{instrument_str}-{pitch:03d}-{velocity:03d}"
        examples[note_str] = {
            "note": 200000 + k,
            "sample_rate": 16000,
            "instrument_family": FAMILIES.index(family),
            "qualities": [int(q in qualities) for q in QUALITIES],
            "instrument_source_str": source,
            "note_str": note_str,
            "instrument_family_str": family,
            "instrument_str": instrument_str,
            "pitch": pitch,
            "instrument": 400 + k,
            "velocity": velocity,
            "instrument_source": SOURCES.index(source),
            "qualities_str": [q for q in QUALITIES if q in qualities],
        }
        rel = f"audio/{note_str}.wav"
        _write(root / rel, _note(pitch, velocity, 4.0, 16000), 16000, subtype="PCM_16")
        if task == "nsynth-pitch":
            if 21 <= pitch <= 108:
                labels[rel] = [str(pitch)]
            else:
                ignored.append(rel)
        elif task == "nsynth-velocity":
            labels[rel] = [str(velocity)]
        elif task == "nsynth-instrument":
            labels[rel] = [family]
        else:
            labels[rel] = [q for q in QUALITIES if q in qualities]
    (root / "examples.json").write_text(json.dumps(examples, indent=4))
    classes = {
        "nsynth-pitch": [str(m) for m in range(21, 109)],
        "nsynth-velocity": ["25", "50", "75", "100", "127"],
        "nsynth-instrument": FAMILIES,
        "nsynth-qualities": QUALITIES,
    }[task]
    return Layout(task, data, root, classes, labels, ignored=ignored)


BEIJING = ["bangu", "daluo", "naobo", "xiaoluo"]


def beijing_opera(data: Path) -> Layout:
    """beijing_opera_percussion_instrument_1.0.zip -> <dir>/<freesound id>__ajaysm__<instrument>-<NN>.wav (44.1 kHz)."""
    root = data / "beijing_opera_percussion_instrument_1.0"
    rng = np.random.default_rng(4)
    labels = {}
    for k, instrument in enumerate(BEIJING):
        for n in range(1, 3):
            rel = f"{205972 + 10 * k + n}__ajaysm__{instrument}-{n:02d}.wav"
            _write(root / rel, _sound(k, 0.3, 44100, rng), 44100, subtype="PCM_16")
            labels[rel] = [instrument]
    return Layout("beijing-opera", data, root, BEIJING, labels, hear_folds=5)


STROKES = ["bheem", "cha", "dheem", "dhin", "num", "ta", "tha", "tham", "thi", "thom"]
TONICS = {"b": "B", "c": "C", "csh": "C#", "d": "D", "dsh": "D#", "e": "E"}


def _mridangam(task: str, data: Path) -> Layout:
    """mridangam_stroke_1.5.zip -> mridangam_stroke_1.5/<TONIC>/<id>__akshaylaya__<stroke>-<tonic>-<NNN>.wav (44.1 kHz)."""
    root = data / "mridangam_stroke_1.5"
    rng = np.random.default_rng(5)
    labels = {}
    tonics = list(TONICS)
    for k in range(10):
        stroke, tonic = STROKES[k], tonics[k % 6]
        rel = f"{TONICS[tonic]}/{224030 + k}__akshaylaya__{stroke}-{tonic}-{k + 1:03d}.wav"
        _write(root / rel, _sound(k, 0.25, 44100, rng), 44100, subtype="PCM_16")
        labels[rel] = [stroke if task == "mridangam-stroke" else tonic]
    return Layout(task, data, root, STROKES if task == "mridangam-stroke" else tonics, labels, hear_folds=5)


# ---- speech --------------------------------------------------------------------------------

CREMA_CODES = {"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}


def crema_d(data: Path) -> Layout:
    """git clone of CREMA-D -> CREMA-D/AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav (16 kHz) + csv files."""
    root = data / "CREMA-D"
    rng = np.random.default_rng(6)
    labels = {}
    sentences, levels = ["DFA", "IEO", "TIE", "IWW"], ["XX", "HI", "LO", "MD"]
    for k, (code, emotion) in enumerate(CREMA_CODES.items()):
        for n in range(2 if k == 0 else 1):
            rel = f"AudioWAV/{1001 + n}_{sentences[(k + n) % 4]}_{code}_{levels[(k + n) % 4]}.wav"
            _write(root / rel, _sound(k, 1.0, 16000, rng), 16000, subtype="PCM_16")
            labels[rel] = [emotion]
    (root / "finishedResponses.csv").write_text("localid,sessionNums,queryType,clipNum,questNum,respEmo,respLevel,dispEmo,dispVal,clipName\n")
    (root / "processedResults").mkdir()
    (root / "processedResults" / "summaryTable.csv").write_text(",FileName,VoiceVote,VoiceLevel,FaceVote,FaceLevel,MultiModalVote,MultiModalLevel\n")
    return Layout("crema-d", data, root, sorted(CREMA_CODES.values()), labels)


RAVDESS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]


def ravdess(data: Path) -> Layout:
    """Audio_Speech_Actors_01-24.zip -> Actor_NN/03-01-<emo>-<int>-<stmt>-<rep>-<NN>.wav (48 kHz); song files too."""
    rng = np.random.default_rng(7)
    labels = {}
    for k, emotion in enumerate(RAVDESS):
        actor = k % 3 + 1
        intensity = 1 if emotion == "neutral" else k % 2 + 1
        rel = f"Actor_{actor:02d}/03-01-{k + 1:02d}-{intensity:02d}-{k % 2 + 1:02d}-01-{actor:02d}.wav"
        wave = _sound(k, 0.8, 48000, rng)
        _write(data / rel, np.stack([wave, wave * 0.5], axis=1) if k == 0 else wave, 48000, subtype="PCM_16")
        labels[rel] = [emotion]
    # a song file extracted into the same folder (vocal channel 02): not part of the speech task
    song = "Actor_01/03-02-03-01-01-01-01.wav"
    _write(data / song, _sound(0, 0.8, 48000, rng), 48000, subtype="PCM_16")
    return Layout("ravdess", data, data, RAVDESS, labels, ignored=[song])


KWS = ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "_silence_", "_unknown_"]


def speech_commands(data: Path) -> Layout:
    """speech_commands_test_set_v0.02.tar.gz (no top folder) -> <label>/*.wav (16 kHz, 1 s) + README.md, LICENSE."""
    rng = np.random.default_rng(8)
    labels = {}
    for k, label in enumerate(KWS):
        speaker = f"{0x0a2b400e + 977 * k:08x}"
        if label == "_unknown_":
            names = [f"backward_{speaker}_nohash_0.wav", f"bed_{speaker}_nohash_1.wav"]
        elif label == "_silence_":
            names = [f"silence_{speaker}_nohash_0.wav"]
        else:
            names = [f"{speaker}_nohash_0.wav"]
        for name in names:
            rel = f"{label}/{name}"
            wave = 0.02 * rng.standard_normal(16000).astype(np.float32) if label == "_silence_" else _sound(k, 1.0, 16000, rng)
            _write(data / rel, wave, 16000, subtype="PCM_16")
            labels[rel] = [label]
    (data / "README.md").write_text("# Speech Commands Data Set Test Files v0.02\n")
    (data / "LICENSE").write_text("Creative Commons BY 4.0\n")
    return Layout("speech-commands", data, data, KWS, labels)


def libricount(data: Path) -> Layout:
    """LibriCount10-0dB.zip -> test/<count>_<uid>.wav (16 kHz, 5 s) + test/<count>_<uid>.json."""
    rng = np.random.default_rng(9)
    labels = {}
    for count in range(11):
        uid = f"{rng.integers(16**8):08x}-{rng.integers(16**4):04x}-4{rng.integers(16**3):03x}-a{rng.integers(16**3):03x}-{rng.integers(16**12):012x}"
        rel = f"test/{count}_{uid}.wav"
        wave = 0.001 * rng.standard_normal(80000).astype(np.float32) if count == 0 else _sound(count, 5.0, 16000, rng)
        _write(data / rel, wave, 16000, subtype="PCM_16")
        speakers = [{"sex": "FM"[s % 2], "activity": [[0, 80000]], "speaker_id": 1000 + s} for s in range(count)]
        (data / rel).with_suffix(".json").write_text(json.dumps(speakers))
        labels[rel] = [str(count)]
    return Layout("libricount", data, data, [str(c) for c in range(11)], labels, hear_folds=5)


BUILDERS: dict[str, Callable[[Path], Layout]] = {
    "gtzan-music-speech": gtzan_music_speech,
    "gtzan-genres": gtzan_genres,
    "nsynth-pitch": lambda data: _nsynth("nsynth-pitch", data),
    "nsynth-velocity": lambda data: _nsynth("nsynth-velocity", data),
    "nsynth-qualities": lambda data: _nsynth("nsynth-qualities", data),
    "nsynth-instrument": lambda data: _nsynth("nsynth-instrument", data),
    "beijing-opera": beijing_opera,
    "mridangam-stroke": lambda data: _mridangam("mridangam-stroke", data),
    "mridangam-tonic": lambda data: _mridangam("mridangam-tonic", data),
    "crema-d": crema_d,
    "ravdess": ravdess,
    "speech-commands": speech_commands,
    "libricount": libricount,
}
