"""Resampled lengths: each preset gives the sample count its original loader gives (librosa.load for `laion`,
torchaudio's resample for the msclap presets, a file already at the model's rate for `laion-48k` and `hf`), and the
two LAION presets tile a 5 s 44.1 kHz ESC-50 clip as their routes do."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr

import family_fixtures as ff
from clapbench.audio.decode import load_audio
from clapbench.embedding import embed_clips
from clapbench.models import load_model
from clapbench.models.presets import PRESETS, int16_round_trip

RATES = [8000, 16000, 22050, 44100, 48000]


def lengths(rate: int) -> list[int]:
    """A few samples, fractions of a second, exact 5 s and 10 s, and odd lengths around them."""
    return [1, 7, rate // 3 + 1, 5 * rate, 5 * rate + 1, 10 * rate - 1, 10 * rate]


def expected(n: int, rate: int, target: int, rule: str) -> int:
    """The rules as the originals state them, computed here independently of clapbench."""
    if rate == target:
        return n  # no loader resamples audio already at the rate
    if rule == "librosa":  # librosa.resample: ratio = float(target_sr) / orig_sr; int(np.ceil(n * ratio))
        ratio = float(target) / rate
        return int(np.ceil(n * ratio))
    if rule == "ceil":  # torchaudio: gcd-reduced rates, torch.ceil(new * length / orig)
        return -(-n * target // rate)
    return (2 * n * target + rate) // (2 * rate)  # round half up: soxr's output length


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """float32 wav files of noise at every rate and length (float samples: decoding adds no rounding)."""
    root = tmp_path_factory.mktemp("lengths")
    rng = np.random.default_rng(0)
    out = []
    for rate in RATES:
        for n in lengths(rate):
            path = root / f"{rate}-{n}.wav"
            wave = (0.5 * rng.standard_normal(n)).clip(-1, 1).astype(np.float32)
            sf.write(path, wave, rate, subtype="FLOAT")
            out.append((path, rate, wave))
    return out


@pytest.mark.parametrize("rule,target", [("librosa", 48000), ("round", 48000), ("ceil", 44100), ("librosa", 44100)])
def test_decoded_length_follows_the_rule_for_every_rate(clips, rule, target):
    for path, rate, wave in clips:
        out = load_audio(path, target, rule)
        assert len(out) == expected(len(wave), rate, target, rule), (path.name, rule)
        if rate == target:
            assert np.array_equal(out, wave)
            continue
        # The samples are soxr HQ's (librosa's res_type 'soxr_hq'); a longer rule pads zeros (librosa's fix_length).
        ref = soxr.resample(wave, rate, target)
        m = min(len(ref), len(out))
        assert np.array_equal(out[:m], ref[:m]) and not out[m:].any(), (path.name, rule)


def test_the_rules_differ_where_the_issue_says():
    # A 5 s ESC-50 clip: float rounding lifts 220500 * (48000 / 44100) above 240000, so librosa gives one sample more.
    assert 220500 * (48000 / 44100) > 240000
    assert [expected(220500, 44100, 48000, r) for r in ("librosa", "round", "ceil")] == [240001, 240000, 240000]
    assert expected(441000, 44100, 48000, "librosa") == 480001  # an exact 10 s clip becomes longer than the window
    assert expected(240007, 48000, 44100, "ceil") == expected(240007, 48000, 44100, "round") + 1  # 220506.43: 220507 vs 220506


def test_presets_name_the_length_of_their_original_loader():
    assert {name: p.resampled_length for name, p in PRESETS.items()} == {
        "msclap-2022": "ceil", "msclap-2023": "ceil", "laion": "librosa", "laion-48k": "round", "hf": "round",
    }
    assert PRESETS["laion"].prompt == "This is a sound of {}." and "eval_zeroshot_classification.py" in PRESETS["laion"].prompt_source
    assert PRESETS["laion-48k"].prompt == "This is a sound of {}" and "README.md" in PRESETS["laion-48k"].prompt_source


@pytest.fixture(scope="module")
def laion_models(tmp_path_factory):
    """load(kind, protocol): a tiny LAION-format checkpoint ('plain' or 'fusion') loaded at a preset, once each."""
    root = tmp_path_factory.mktemp("laion-routes")
    tok = ff.build_roberta_tokenizer(root / "roberta")
    ckpts = {
        "plain": ff.tiny_laion_checkpoint(root / "630k-tiny.pt", tok),
        "fusion": ff.tiny_laion_checkpoint(root / "630k-tiny-fusion-best.pt", tok, fusion=True),
    }
    loaded = {}

    def load(kind: str, protocol: str):
        if (kind, protocol) not in loaded:
            loaded[kind, protocol] = load_model(str(ckpts[kind]), device="cpu", tokenizer=str(tok), protocol=protocol)
        return loaded[kind, protocol]

    return load


@pytest.fixture(scope="module")
def esc50_clips(tmp_path_factory):
    """A 5 s and an exact 10 s clip, 16-bit 44.1 kHz mono as ESC-50's files."""
    return ff.write_pcm16_clips(tmp_path_factory.mktemp("esc"), [(44100, 5.0), (44100, 10.0)], seed=3)


@pytest.mark.parametrize("protocol,length,copies", [("laion", 240001, 1), ("laion-48k", 240000, 2)])
def test_the_two_laion_routes_tile_a_5s_44k_clip_as_theirs_do(laion_models, esc50_clips, protocol, length, copies):
    """File-list route: 240001 samples, one copy and 239999 zeros; pre-resampled 48 kHz files: two copies, no zeros."""
    loaded = laion_models("plain", protocol)
    assert loaded.preprocessing["resampled_length"] == PRESETS[protocol].resampled_length
    wave = load_audio(esc50_clips[0], 48000, loaded.resampled_length)
    assert len(wave) == length
    window = loaded.model.audio_preprocessor(wave)
    q = int16_round_trip(wave)
    assert np.array_equal(window, np.concatenate([np.tile(q, copies), np.zeros(480000 - copies * length, np.float32)]))
    # The run's path (embed_clips: loader, preset length, preprocessor) embeds exactly that window.
    emb = embed_clips(loaded, [str(esc50_clips[0])], workers=0)
    np.testing.assert_allclose(emb, loaded.model.embed_audio_features([window]), rtol=0, atol=1e-6)

    fused = laion_models("fusion", protocol)
    mels, longer = fused.model.audio_preprocessor(wave)
    assert not longer and np.array_equal(mels, fused.model.audio_preprocessor.stack_fusion(fused.model.audio_preprocessor.mel(window), None))


def test_an_exact_10s_44k_clip_is_cropped_only_on_the_file_list_route(laion_models, esc50_clips):
    for protocol, length in (("laion", 480001), ("laion-48k", 480000)):
        plain = laion_models("plain", protocol).model
        wave = load_audio(esc50_clips[1], 48000, plain.resampled_length)
        q = int16_round_trip(wave)
        assert len(wave) == length
        window = plain.audio_preprocessor(wave)
        # rand_trunc: a start in [0, len - 480000]: 0 or 1 on the file-list route; the clip as it is on 48 kHz files
        assert any(np.array_equal(window, q[s : s + 480000]) for s in range(length - 480000 + 1))
        fused = laion_models("fusion", protocol).model
        mels, longer = fused.audio_preprocessor(wave)
        # fusion: longer than 10 s by less than a hop is the original's corner case, the whole clip, not fused
        assert not longer and mels.shape == (4, 1001, 64)
