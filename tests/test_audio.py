"""Audio decoding: formats, downmix to mono, resampling, and the in-order parallel loader."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from clapbench.audio import iter_prepared, load_audio
from clapbench.errors import DataError

FORMATS = {"wav": ("WAV", "FLOAT"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("ext", list(FORMATS))
def test_decodes_every_format_to_mono_float32(tmp_path, ext):
    rate, freq = 44100, 1000.0
    x = sine(freq, 1.0, rate)
    fmt, subtype = FORMATS[ext]
    path = tmp_path / f"tone.{ext}"
    sf.write(path, x, rate, format=fmt, subtype=subtype)
    y = load_audio(path, rate)
    assert y.dtype == np.float32 and y.ndim == 1
    assert peak_frequency(y, rate) == pytest.approx(freq, abs=2)
    if ext in ("wav", "flac"):  # lossless: the samples come back (to 16-bit precision for FLAC)
        assert len(y) == len(x)
        np.testing.assert_allclose(y, x, atol=1 / 2**15)
    else:  # lossy codecs add encoder delay/padding; the tone and its length stay
        assert abs(len(y) - len(x)) < 0.1 * rate
        rms = np.sqrt(np.mean(y**2))
        assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_stereo_is_averaged_to_mono(tmp_path, ext):
    rate = 48000
    left, right = sine(440, 1.0, rate, 0.6), sine(3000, 1.0, rate, 0.2)
    fmt, subtype = FORMATS[ext]
    path = tmp_path / f"stereo.{ext}"
    sf.write(path, np.stack([left, right], axis=1), rate, format=fmt, subtype=subtype)
    y = load_audio(path, rate)
    assert y.ndim == 1
    if ext == "ogg":
        # lossy: compare the two tones' levels, each half of its channel's amplitude
        spectrum = np.abs(np.fft.rfft(y)) * 2 / len(y)
        freqs = np.fft.rfftfreq(len(y), 1 / rate)
        at = lambda f: spectrum[np.argmin(np.abs(freqs - f))]  # noqa: E731
        assert at(440) == pytest.approx(0.3, rel=0.1) and at(3000) == pytest.approx(0.1, rel=0.15)
    else:
        np.testing.assert_allclose(y[: len(left)], (left + right) / 2, atol=1 / 2**14)


def test_multichannel_downmix_is_the_mean_of_all_channels(tmp_path):
    rate = 16000
    channels = np.stack([sine(f, 0.5, rate, 0.25) for f in (300, 700, 1100, 1900)], axis=1)
    sf.write(tmp_path / "quad.wav", channels, rate, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(tmp_path / "quad.wav", rate), channels.mean(axis=1), atol=1e-7)


@pytest.mark.parametrize("src,dst", [(44100, 48000), (22050, 48000), (8000, 48000), (48000, 16000), (32000, 44100)])
def test_resampling_keeps_duration_and_pitch(tmp_path, src, dst):
    seconds, freq = 1.3, 1234.0
    path = tmp_path / "tone.wav"
    sf.write(path, sine(freq, seconds, src), src, subtype="FLOAT")
    y = load_audio(path, dst)
    assert abs(len(y) - round(seconds * src) * dst / src) <= 1
    # the tone is at the same frequency in Hz at the new rate
    assert peak_frequency(y, dst) == pytest.approx(freq, abs=dst / len(y) + 1)
    mid = y[len(y) // 4 : 3 * len(y) // 4]  # away from the filter's edges
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_downsampling_removes_tones_above_the_new_nyquist(tmp_path):
    """A 10 kHz tone at 44.1 kHz must vanish at 16 kHz, not alias to 6 kHz."""
    path = tmp_path / "high.wav"
    sf.write(path, sine(10000, 1.0, 44100) + sine(1000, 1.0, 44100, 0.1), 44100, subtype="FLOAT")
    y = load_audio(path, 16000)
    spectrum = np.abs(np.fft.rfft(y)) * 2 / len(y)
    freqs = np.fft.rfftfreq(len(y), 1 / 16000)
    assert spectrum[np.argmin(np.abs(freqs - 6000))] < 1e-3
    assert spectrum[np.argmin(np.abs(freqs - 1000))] == pytest.approx(0.1, rel=0.05)


def test_same_rate_is_not_resampled(tmp_path):
    x = np.random.default_rng(0).uniform(-0.5, 0.5, 1001).astype(np.float32)
    sf.write(tmp_path / "x.wav", x, 48000, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(tmp_path / "x.wav", 48000), x)


def _write_bad(tmp_path, kind: str):
    path = tmp_path / f"{kind}.wav"
    if kind == "missing":
        return path
    if kind == "zero_bytes":
        path.write_bytes(b"")
    elif kind == "no_frames":
        with sf.SoundFile(path, "w", 48000, 1, format="WAV"):
            pass
    elif kind == "corrupt":
        path.write_bytes(np.random.default_rng(0).bytes(4000))
    elif kind == "nan":
        sf.write(path, np.array([0.1, np.nan, 0.2], dtype=np.float32), 48000, subtype="FLOAT")
    return path


@pytest.mark.parametrize("kind,expected", [
    ("missing", "not found"),
    ("zero_bytes", "empty file (0 bytes)"),
    ("no_frames", "no samples"),
    ("corrupt", "cannot decode"),
    ("nan", "NaN"),
])
def test_bad_files_raise_data_error_naming_the_file(tmp_path, kind, expected):
    path = _write_bad(tmp_path, kind)
    with pytest.raises(DataError) as info:
        load_audio(path, 48000)
    assert str(path) in str(info.value) and expected in str(info.value)


def _write_clips(folder, n):
    paths = []
    for i in range(n):
        p = folder / f"clip{i}.wav"
        sf.write(p, sine(200 + 50 * i, 0.05 + 0.01 * i, 22050), 22050, subtype="FLOAT")
        paths.append(str(p))
    return paths


def test_loader_keeps_input_order_whatever_the_workers(tmp_path):
    paths = _write_clips(tmp_path, 11)
    expected = [load_audio(p, 16000) for p in paths]
    for workers, batch in ((0, 4), (1, 3)):
        starts, got = [], []
        for start, clips in iter_prepared(paths, 16000, batch, prepare=None, workers=workers):
            starts.append(start)
            got.extend(clips)
        assert starts == list(range(0, 11, batch)), workers
        assert len(got) == 11 and all(np.array_equal(a, b) for a, b in zip(got, expected)), workers


def test_loader_reports_a_bad_file_from_a_worker(tmp_path):
    paths = _write_clips(tmp_path, 6)
    (tmp_path / "clip3.wav").write_bytes(b"RIFF not really")
    with pytest.raises(DataError, match="clip3.wav: cannot decode"):
        for _ in iter_prepared(paths, 16000, 2, workers=1):
            pass
