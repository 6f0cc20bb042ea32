"""Broken audio never crashes, hangs or fills memory: 200 mutated copies of valid wav/flac/ogg/mp3 clips
in one dataset end in one message naming each clip that cannot be read, exit 2, and no result file."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from clapbench.audio.decode import MAX_SECONDS, load_audio
from clapbench.audio.loader import BadClipsError, iter_prepared
from clapbench.audio.synth import make_esc50_layout
from clapbench.errors import DataError
from conftest import run_cli
from fuzz_audio import fuzz_in_place, write_seeds

CLASSES = ["dog", "rain", "siren", "clock_tick", "crying_baby", "helicopter", "chainsaw", "rooster", "sea_waves", "sneezing"]


def _readable(path: Path, rate: int) -> bool:
    try:
        load_audio(path, rate)
        return True
    except DataError:
        return False


def _frames_claimed(path: Path, data: bytearray, frames: int) -> None:
    """A FLAC whose STREAMINFO claims ``frames`` frames (36 bits at byte 21), its audio a second long."""
    value = int.from_bytes(data[21:26], "big")
    data[21:26] = ((value & ~((1 << 36) - 1)) | frames).to_bytes(5, "big")
    path.write_bytes(data)


def test_a_header_claiming_hours_allocates_what_the_file_holds(tmp_path):
    seeds = write_seeds(tmp_path)  # one second, stereo, 22.05 kHz
    path = tmp_path / "hours.flac"
    _frames_claimed(path, bytearray(seeds["flac"]), 3 * 3600 * 22050)
    with sf.SoundFile(path) as f:
        assert f.frames == 3 * 3600 * 22050  # the lie is believed by libsndfile ...
    tracemalloc.start()
    try:
        try:
            load_audio(path, 48000)
        except DataError as exc:
            assert str(exc).startswith(str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # ... but decoding allocates blocks of what is read (1 s of stereo, resampled: well under 4 MB), never
    # the 3 hours claimed (3 h x 2 channels x 4 bytes = 1.9 GB, what reading the header's frame count takes).
    assert peak < 16 * 2**20, peak


def test_a_file_longer_than_the_cap_is_refused_by_name(tmp_path, monkeypatch):
    import clapbench.audio.decode as decode

    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(16000 * 3, dtype=np.float32), 16000)
    monkeypatch.setattr(decode, "MAX_SECONDS", 2.0)
    with pytest.raises(DataError, match=r"long.wav: longer than 2 s"):
        load_audio(path, 16000)
    assert MAX_SECONDS >= 60  # the shipped cap leaves every benchmark clip (at most 30 s) alone


def test_decoding_in_blocks_equals_reading_the_whole_file(tmp_path, monkeypatch):
    import clapbench.audio.decode as decode

    rng = np.random.default_rng(0)
    wave = (0.3 * rng.standard_normal((22050 + 17, 2))).astype(np.float32)
    for ext, subtype in (("wav", "FLOAT"), ("flac", "PCM_16"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")):
        path = tmp_path / f"x.{ext}"
        sf.write(path, wave, 22050, subtype=subtype)
        whole = sf.read(path, dtype="float32", always_2d=True)[0].mean(axis=1)
        for block in (1000, 4097, 1 << 20):
            monkeypatch.setattr(decode, "BLOCK_SAMPLES", block)
            assert np.array_equal(load_audio(path, 22050), whole), (ext, block)


def test_the_loader_names_every_bad_clip_after_reading_the_rest(tmp_path):
    paths = []
    for i in range(7):
        p = tmp_path / f"c{i}.wav"
        sf.write(p, np.full(800, 0.1 * i, dtype=np.float32), 16000)
        paths.append(str(p))
    for i in (1, 5):
        Path(paths[i]).write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    for workers in (0, 2):
        seen = []
        with pytest.raises(BadClipsError) as info:
            for start, batch in iter_prepared(paths, 16000, 2, workers=workers):
                seen.append(start)
        assert seen == [2, 6], workers  # the batches without a bad clip were all delivered
        assert info.value.paths == [paths[1], paths[5]]
        assert "2 of 7 clips cannot be read" in str(info.value) and "c5.wav: cannot decode audio" in str(info.value)


@pytest.fixture(scope="module")
def fuzzed_esc50(tmp_path_factory) -> tuple[Path, dict[Path, str]]:
    root = make_esc50_layout(
        tmp_path_factory.mktemp("fuzz") / "ESC-50-master",
        classes=CLASSES,
        clips_per_class=20,
        seconds=0.5,
        formats=("wav", "flac", "ogg", "mp3"),
        channels=(1, 2),
        sample_rates=(44100, 22050),
    )
    files = sorted((root / "audio").iterdir())
    assert len(files) == 200
    return root, fuzz_in_place(files, seed=0)


def test_a_fuzzed_dataset_ends_in_one_message_naming_each_bad_clip(fuzzed_esc50, tiny_model, tmp_path):
    root, mutations = fuzzed_esc50
    bad = sorted(p for p in mutations if not _readable(p, 48000))
    unopenable, oversized = [], []
    for p in mutations:
        try:
            sf.read(p)
        except MemoryError:  # the header's frame count believed: soundfile.read allocates it before reading
            oversized.append(p)
        except Exception:
            unopenable.append(p)
    # A fair fuzz: every format, every mutation kind; some clips survive, many do not, some claim days.
    assert 40 <= len(bad) <= 180, len(bad)
    assert {p.suffix for p in bad} == {".wav", ".flac", ".ogg", ".mp3"}
    assert set(unopenable) <= set(bad)
    assert oversized, "no mutation made a header claim more audio than memory holds"

    def check(text: str, code: int, out: Path) -> None:
        assert code == 2, text
        assert "Traceback" not in text
        assert f"{len(bad)} of 200 clips cannot be read" in text, text[-3000:]
        named = {line.split(": ")[0].strip(" -") for line in text.splitlines() if line.strip().startswith("- ")}
        assert named == {str(p) for p in bad}
        assert not out.exists() or not any(p.suffix == ".json" for p in out.rglob("*"))

    # In worker processes (the default), through the CLI.
    out = tmp_path / "out-workers"
    result = run_cli("run", "--model", tiny_model, "--tasks", "esc50", "--data", f"esc50={root}", "--output", out,
                     "--workers", 2, "--batch-size", 16, "--cache-dir", tmp_path / "cache")
    check(result.output, result.exit_code, out)

    # In one process, with its peak memory measured: a hang fails at the timeout.
    out = tmp_path / "out-one"
    # VmHWM, the peak of this process image: ru_maxrss would start from the forking test process's size.
    wrapper = (
        "import re, sys\n"
        "from clapbench.cli import main\n"
        "try:\n    main()\n"
        "finally:\n    print('peak-rss-kb', re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1), file=sys.stderr)\n"
    )
    cmd = [sys.executable, "-c", wrapper, "run", "--model", str(tiny_model), "--tasks", "esc50", "--data", f"esc50={root}",
           "--output", str(out), "--workers", "0", "--batch-size", "16", "--no-cache"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    check(proc.stdout + proc.stderr, proc.returncode, out)
    peak_kb = int(proc.stderr.rsplit("peak-rss-kb", 1)[1].split()[0])
    # torch, the tiny model and 200 half-second clips: a few hundred MB. The lies claim far more (a
    # 2^36-frame FLAC: 512 GB; a 3-hour one: 1.9 GB), and a decoder believing one would show here.
    assert peak_kb < 1.5 * 2**20, f"peak RSS {peak_kb / 2**10:.0f} MB"
