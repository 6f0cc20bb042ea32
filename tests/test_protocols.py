"""Protocol presets: each family's clip policy (lengths, filling, cutting, fusion), front end and prompt, on synthesized audio."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clapbench.errors import ModelError
from clapbench.models.arch.frontend import Spectrogram, htk_mel_filters, log_mel, power_spectrogram, power_to_db, slaney_mel_filters
from clapbench.models.laion_clap import HOP, LaionPreprocessor
from clapbench.models.msclap import MSClapPreprocessor
from clapbench.models.presets import (
    PRESETS, apply_prompt, clip_rng, int16_round_trip, random_crop, repeat_cut, repeatpad, resolve_protocol,
)
from clapbench.registry import registry


def tone(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.5 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


# ---- the waveform policies --------------------------------------------------------------------------------------


def test_repeat_cut_fills_short_clips_with_whole_repeats_and_no_zeros():
    wave = np.arange(1, 8, dtype=np.float32)  # 7 samples, none zero
    out = repeat_cut(wave, 20, np.random.default_rng(0))
    assert len(out) == 20
    assert np.array_equal(out, np.concatenate([wave, wave, wave])[:20])
    assert (out != 0).all()
    assert np.array_equal(repeat_cut(wave, 7, np.random.default_rng(0)), wave)  # exactly the window: as is


def test_repeat_cut_crops_long_clips_inside_the_clip_like_randrange():
    wave = np.arange(100, dtype=np.float32)
    starts = {int(repeat_cut(wave, 90, np.random.default_rng(s))[0]) for s in range(400)}
    # random.randrange(len - n) draws from [0, len - n): 0..9, never 10
    assert starts == set(range(10))
    out = repeat_cut(wave, 90, np.random.default_rng(3))
    assert np.array_equal(out, wave[int(out[0]) : int(out[0]) + 90])


def test_repeatpad_tiles_whole_copies_then_zero_pads():
    wave = np.ones(3, dtype=np.float32)
    out = repeatpad(wave, 10)
    assert np.array_equal(out, np.array([1] * 9 + [0], dtype=np.float32))
    assert np.array_equal(repeatpad(wave, 3), wave)


def test_random_crop_covers_every_start_including_the_last():
    wave = np.arange(20, dtype=np.float32)
    starts = {int(random_crop(wave, 15, np.random.default_rng(s))[0]) for s in range(300)}
    assert starts == set(range(6))  # LAION: randint(0, overflow + 1)


def test_int16_round_trip_truncates_like_astype_and_clips():
    x = np.array([0.5, -0.5, 1.7, -3.0, 1.0 / 32767 * 0.999, 0.2], dtype=np.float32)
    out = int16_round_trip(x)
    expected = np.trunc(np.clip(x.astype(np.float64), -1, 1) * 32767.0) / 32767.0
    np.testing.assert_allclose(out, expected, atol=1e-7)
    assert out[2] == 1.0 and out[3] == -1.0 and out[4] == 0.0
    assert out.dtype == np.float32


def test_clip_rng_depends_on_seed_and_samples_only():
    a, b = tone(1, 8000, 0), tone(1, 8000, 1)
    assert clip_rng(a, 0).integers(1 << 30) == clip_rng(a.copy(), 0).integers(1 << 30)
    assert clip_rng(a, 0).integers(1 << 30) != clip_rng(a, 1).integers(1 << 30)
    assert clip_rng(a, 0).integers(1 << 30) != clip_rng(b, 0).integers(1 << 30)


# ---- the presets ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,seconds", [("msclap-2022", 5.0), ("msclap-2023", 7.0)])
def test_msclap_presets_cut_every_clip_to_exactly_the_window(name, seconds):
    prep = MSClapPreprocessor(PRESETS[name], seed=0)
    n = int(seconds * 44100)
    assert prep.protocol.clip_samples == n and prep.protocol.sample_rate == 44100
    for length in (0.3, seconds, seconds + 2.5):
        wave = tone(length, 44100)
        out = prep(wave)
        assert out.shape == (n,) and out.dtype == np.float32
        if length <= seconds:
            assert np.array_equal(out[: len(wave)], wave) and np.array_equal(out[len(wave) : 2 * len(wave)], wave[: n - len(wave)])
        else:
            start = int(np.flatnonzero(wave == out[0])[0])
            assert np.array_equal(out, wave[start : start + n])
    long = tone(seconds + 2.5, 44100)
    assert np.array_equal(prep(long), MSClapPreprocessor(PRESETS[name], seed=0)(long))  # seeded per clip


@pytest.mark.parametrize("name,quantised", [("laion", True), ("laion-48k", True), ("hf", False)])
def test_laion_and_hf_presets_fill_and_cut_to_ten_seconds(name, quantised):
    prep = LaionPreprocessor(PRESETS[name], fusion=False, seed=0)
    short = tone(3.0, 48000)
    out = prep(short)
    assert out.shape == (480000,)
    body = int16_round_trip(short) if quantised else short
    assert np.array_equal(out[: 3 * 144000], np.tile(body, 3))  # int(10 / 3) = 3 whole copies
    assert (out[3 * 144000 :] == 0).all()  # then zeros
    long = tone(12.5, 48000)
    cut = prep(long)
    assert cut.shape == (480000,)
    body = int16_round_trip(long) if quantised else long
    start = int(np.flatnonzero(body == cut[0])[0])
    assert np.array_equal(cut, body[start : start + 480000])


def test_laion_fusion_stacks_whole_clip_and_three_chunks():
    prep = LaionPreprocessor(PRESETS["laion"], fusion=True, seed=0)
    chunk = 480000 // HOP + 1
    mels, longer = prep(tone(3.0, 48000))
    assert mels.shape == (4, chunk, 64) and not longer
    assert all(np.array_equal(mels[0], mels[i]) for i in (1, 2, 3))
    mels, longer = prep(tone(10.004, 48000))  # longer than 10 s by less than a hop: whole clip, not "longer"
    assert mels.shape == (4, chunk, 64) and not longer

    wave = tone(25.0, 48000, seed=3)
    mels, longer = prep(wave)
    assert mels.shape == (4, chunk, 64) and longer
    whole = prep.mel(int16_round_trip(wave)).numpy()
    thirds = np.array_split(np.arange(whole.shape[0] - chunk + 1), 3)
    for channel, third in zip((1, 2, 3), thirds):
        hits = [s for s in third if np.array_equal(whole[s : s + chunk], mels[channel])]
        assert hits, f"channel {channel} is not a chunk from its third"
    # channel 0: the whole clip's mel resized to one chunk (bilinear, half-pixel centres, no antialias)
    rows = (np.arange(chunk) + 0.5) * whole.shape[0] / chunk - 0.5
    lo = np.clip(np.floor(rows).astype(int), 0, whole.shape[0] - 1)
    hi = np.clip(lo + 1, 0, whole.shape[0] - 1)
    frac = np.clip(rows - np.floor(rows), 0, 1)[:, None]
    frac[rows < 0] = 0
    np.testing.assert_allclose(mels[0], whole[lo] * (1 - frac) + whole[hi] * frac, atol=5e-3)  # dB, float32 weights


def test_preprocessors_survive_pickling_for_worker_processes():
    import pickle

    wave = tone(12.0, 48000)
    for prep in (LaionPreprocessor(PRESETS["laion"], fusion=True, seed=3), MSClapPreprocessor(PRESETS["msclap-2023"], seed=3)):
        again = pickle.loads(pickle.dumps(prep))
        a, b = prep(wave), again(wave)
        if isinstance(a, tuple):
            assert a[1] == b[1]
            a, b = a[0], b[0]
        assert np.array_equal(a, b)


def test_resolve_protocol_native_and_incompatible_presets():
    assert resolve_protocol("native", "msclap-2023").name == "msclap-2023"
    assert resolve_protocol("native", "laion").name == "laion"
    assert resolve_protocol("msclap-2022", "msclap-2023").clip_seconds == 5.0
    with pytest.raises(ModelError, match="does not apply to a laion-clap checkpoint.*native, laion, laion-48k, hf"):
        resolve_protocol("msclap-2023", "laion")
    with pytest.raises(ModelError, match="does not apply to a msclap-2022"):
        resolve_protocol("hf", "msclap-2022")


def test_preset_prompts_replace_zero_shot_templates_unless_given():
    class Loaded:
        preprocessing = {"prompt": "this is the sound of {}"}

    spec = registry()["esc50"]
    (out,) = apply_prompt([spec], Loaded(), user_templates=False)
    assert out.templates == ["this is the sound of {}"]
    (kept,) = apply_prompt([spec], Loaded(), user_templates=True)
    assert kept.templates == spec.templates
    Loaded.preprocessing = {}
    assert apply_prompt([spec], Loaded(), user_templates=False)[0].templates == spec.templates


# ---- the mel front end against independent computations ---------------------------------------------------------


def numpy_power_spectrogram(wave: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """librosa.stft's framing (centred, reflect padding, periodic Hann) with numpy's rfft: (frames, bins)."""
    padded = np.pad(wave.astype(np.float64), n_fft // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    return np.abs(np.fft.rfft(frames * window, axis=1)) ** 2


def test_stft_matches_numpy_and_torchlibrosa_style_conv():
    wave = tone(1.3, 44100, seed=5)
    ours = power_spectrogram(torch.from_numpy(wave)[None], 1024, 320)[0].numpy()
    ref = numpy_power_spectrogram(wave, 1024, 320)
    assert ours.shape == ref.shape == (len(wave) // 320 + 1, 513)
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-3 * ref.max())
    # torchlibrosa computes the same STFT as a Conv1d with the stored kernels (what a checkpoint holds)
    spec = Spectrogram(1024, 320)
    x = F.pad(torch.from_numpy(wave)[None, None], (512, 512), mode="reflect")
    real, imag = F.conv1d(x, spec.stft.conv_real.weight, stride=320), F.conv1d(x, spec.stft.conv_imag.weight, stride=320)
    conv = (real**2 + imag**2)[0].T.numpy()
    bank = slaney_mel_filters(44100, 1024, 64, 50, 14000).numpy()
    # In dB after the mel bank (what the models see); single bins far below a frame's peak carry the
    # conv's float32 rounding, which the bank averages away.
    np.testing.assert_allclose(10 * np.log10(np.maximum(conv @ bank, 1e-10)), 10 * np.log10(np.maximum(ours @ bank, 1e-10)), atol=1e-3)
    assert spec.kernel_mismatch() is None


def test_log_mel_is_power_to_db_of_the_filtered_power():
    wave = tone(0.8, 48000, seed=2)
    filters = htk_mel_filters(48000, 1024, 64, 50, 14000)
    power = numpy_power_spectrogram(wave, 1024, 480) @ filters.numpy().astype(np.float64)
    expected = 10 * np.log10(np.maximum(power, 1e-10))
    np.testing.assert_allclose(log_mel(torch.from_numpy(wave)[None], 1024, 480, filters)[0].numpy(), expected, atol=1e-3)
    assert float(power_to_db(torch.tensor([0.0]))) == -100.0  # amin 1e-10, ref 1, no top_db


def test_filter_banks_slaney_vs_htk():
    slaney, htk = slaney_mel_filters(48000, 1024, 64, 50, 14000), htk_mel_filters(48000, 1024, 64, 50, 14000)
    assert slaney.shape == htk.shape == (513, 64)
    assert 0.95 < float(htk.max()) <= 1.0  # no normalisation: triangles peak near 1
    assert float(slaney.max()) < 0.05  # area-normalised (librosa's default)
    assert not torch.allclose(slaney / slaney.max(0).values, htk / htk.max(0).values, atol=1e-2)
