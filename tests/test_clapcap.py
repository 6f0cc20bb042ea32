"""clapcap (MS-CLAP's captioner): the same token ids as the original code on seeded weights (tests/golden/clapcap.npz),
beam-search edge cases, strict loading and its messages, decoding options, check-model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import family_fixtures as ff
from clapbench.errors import ModelError
from clapbench.models import load_model
from clapbench.models.beam_search import BeamOptions, generate_beam
from clapbench.models.checkpoint import read_state_dict
from clapbench.models.clapcap import ClapCapModel, ClapCapNet
from clapbench.models.families import detect_family
from clapbench.models.presets import PRESETS
from conftest import run_cli

GOLDEN = Path(__file__).parent / "golden" / "clapcap.npz"


@pytest.fixture(scope="module")
def golden():
    z = np.load(GOLDEN)
    return z, json.loads(str(z["meta"]))


@pytest.fixture(scope="module")
def gpt2_tokenizer(tmp_path_factory) -> Path:
    return ff.build_gpt2_tokenizer(tmp_path_factory.mktemp("clapcap-tok") / "gpt2")


@pytest.fixture(scope="module")
def one_thread():
    # The beam search is many small matmuls: on a shared 2-core machine one thread is several times faster.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def golden_state(meta, setting) -> dict[str, torch.Tensor]:
    """The weights the original ran with: learned tensors re-drawn from their names, fixed ones as clapbench builds
    them (checked against the original's in test_families' msclap-2023 golden), GPT-2's tied embedding once."""
    built = ClapCapNet.from_state_dict({k: torch.zeros(s, dtype=getattr(torch, d)) for k, s, d in meta["keys"]}).state_dict()
    state = {}
    for key, shape, dtype in meta["keys"]:
        learned = getattr(torch, dtype).is_floating_point and not ff.is_fixed(key)
        state[key] = ff.seeded_tensor(key, tuple(shape)) if learned else built[key]
    if setting["stop_row_multiplier"]:
        state["gpt.transformer.wte.weight"][setting["stop_token_id"]] *= setting["stop_row_multiplier"]
    state["gpt.lm_head.weight"] = state["gpt.transformer.wte.weight"].clone()
    return state


def test_the_architecture_has_the_originals_keys_and_is_detected(golden):
    _, meta = golden
    with torch.device("meta"):
        fake = {k: torch.empty(s, dtype=getattr(torch, d)) for k, s, d in meta["keys"]}
        net = ClapCapNet.from_state_dict(fake)
    assert [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in net.state_dict().items()] == meta["keys"]
    assert detect_family(fake) == "clapcap"
    assert (net.prefix_length, net.clap_project.clip_length, len(net.clap_project.transformer.layers)) == (40, 40, 8)
    assert net.audio_net.cfg.variant() == "htsat-tiny"


def test_generated_token_ids_equal_the_original(golden, gpt2_tokenizer, one_thread):
    """Every setting the golden holds: the original's defaults (beam 5, 67 tokens: the length limit), a stop token
    made likely (beams stop after two tokens), and beam 3 at temperature 0.5 for 12 tokens."""
    z, meta = golden
    assert {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(gpt2_tokenizer.iterdir())} == meta["tokenizer_sha"]
    waves = ff.golden_waves(44100, meta["seconds"], seed=meta["wave_seed"])
    settings = meta["settings"]
    model = ClapCapModel(golden_state(meta, settings[0]), "golden", PRESETS["msclap-2023"], tokenizer=gpt2_tokenizer)
    n = model.protocol.clip_samples
    starts = iter(meta["crop_starts"]["default"])  # the original's random.randrange crop of the long clip
    windows = [model.audio_preprocessor(w) if len(w) <= n else w[next(starts) :][:n] for w in waves]
    assert all(meta["crop_starts"][s["name"]] == meta["crop_starts"]["default"] for s in settings)
    with torch.inference_mode():
        batch = torch.from_numpy(np.stack(windows))
        audio = model.net.embed_waves(batch)
        prefix = model.net.prefix(batch)
    np.testing.assert_allclose(audio.numpy(), z["default_audio_emb"], rtol=1e-4, atol=1e-4)
    scale = float(np.abs(z["default_prefix"]).max())
    np.testing.assert_allclose(prefix.numpy()[:, ::4, ::4], z["default_prefix"], rtol=1e-4, atol=1e-4 * scale)
    wte = model.net.gpt.transformer.wte.weight
    base = wte.detach().clone()
    for setting in settings:
        with torch.no_grad():
            wte.copy_(base)
            if setting["stop_row_multiplier"]:
                wte[setting["stop_token_id"]] *= setting["stop_row_multiplier"]
        kw = setting["kwargs"]
        options = BeamOptions(kw["beam_size"], kw["entry_length"], kw["temperature"])
        assert model.stop_token_index == setting["stop_token_id"]
        expected = [row[:length] for row, length in zip(z[f"{setting['name']}_ids"].tolist(), z[f"{setting['name']}_lengths"].tolist())]
        # 67 steps of 5 beams: the defaults on the long (cropped) clip only, to keep the test short
        clips = [len(windows) - 1] if setting["name"] == "default" else range(len(windows))
        expected = [expected[i] for i in clips]
        ids = [generate_beam(model.net.gpt, prefix[i : i + 1], model.stop_token_index, options)[0] for i in clips]
        assert ids == expected, setting["name"]
        assert [model.tokenizer.decode(i).capitalize() for i in ids] == [setting["captions"][i] for i in clips], setting["name"]
    assert z["default_lengths"].tolist() == [67] * len(waves)  # the length limit
    assert set(z["stop-heavy_lengths"].tolist()) == {2}  # stopped early
    with torch.no_grad():
        wte.copy_(base)


# ---- beam search edge cases on a scripted decoder ------------------------------------------------------------------


class ScriptedDecoder:
    """A stand-in for GPT2LMHeadModel: the same next-token distribution ``probs`` at every step, for every beam."""

    def __init__(self, probs: np.ndarray, dim: int = 4):
        self.probs = torch.tensor(probs, dtype=torch.float32)
        self.transformer = SimpleNamespace(wte=torch.nn.Embedding(len(probs), dim))
        self.calls = 0

    def __call__(self, inputs_embeds):
        self.calls += 1
        b, t, _ = inputs_embeds.shape
        return SimpleNamespace(logits=self.probs.log().expand(b, t, -1).clone())


def test_an_immediate_stop_token_ends_the_best_beam_at_one_token():
    stop = 3
    probs = np.array([0.02, 0.03, 0.04, 0.85, 0.06])
    decoder = ScriptedDecoder(probs)
    beams = generate_beam(decoder, torch.zeros(1, 2, 4), stop, BeamOptions(beam_size=3, entry_length=10))
    assert beams[0] == [stop]
    # The other beams are [x, stop]: their mean log-probability (log p(x) + log p(stop)) / 2 is below log p(stop).
    assert all(b[-1] == stop and len(b) == 2 for b in beams[1:])
    assert decoder.calls == 2  # every beam stopped after the second step


def test_the_length_limit_ends_beams_that_never_stop():
    probs = np.array([0.1, 0.5, 0.2, 1e-9, 0.2 - 1e-9])
    decoder = ScriptedDecoder(probs)
    beams = generate_beam(decoder, torch.zeros(1, 2, 4), 3, BeamOptions(beam_size=2, entry_length=7))
    assert beams[0] == [1] * 7 and decoder.calls == 7


def test_temperature_sharpens_but_keeps_the_argmax_path():
    probs = np.array([0.3, 0.35, 0.05, 0.0001, 0.2999])
    for temperature in (1.0, 0.01):
        beams = generate_beam(ScriptedDecoder(probs), torch.zeros(1, 2, 4), 3, BeamOptions(beam_size=2, entry_length=3, temperature=temperature))
        assert beams[0] == [1, 1, 1]


# ---- loading -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_clapcap(tmp_path_factory, gpt2_tokenizer) -> Path:
    return ff.tiny_clapcap_checkpoint(tmp_path_factory.mktemp("clapcap") / "clapcap_weights_tiny.pth", gpt2_tokenizer)


def test_a_tiny_clapcap_loads_captions_and_records_its_decoding(tiny_clapcap, gpt2_tokenizer, one_thread):
    loaded = load_model(str(tiny_clapcap), device="cpu", tokenizer=str(gpt2_tokenizer), decoding=BeamOptions(beam_size=2, entry_length=5))
    assert (loaded.family, loaded.variant, loaded.sample_rate) == ("clapcap", "2023", 44100)
    decoding = loaded.preprocessing["captioner"]["decoding"]
    assert decoding["beam_size"] == 2 and decoding["entry_length"] == 5 and decoding["temperature"] == 1.0
    assert decoding["stop_token_id"] == loaded.model.tokenizer.encode(" <|endoftext|>")[0]
    waves = ff.golden_waves(44100, [1.0, 8.0])
    captions = loaded.model.caption(waves)
    ids = loaded.model.caption_ids([loaded.model.audio_preprocessor(w) for w in waves])
    assert captions == [loaded.model.tokenizer.decode(i).capitalize() for i in ids]
    assert all(1 <= len(i) <= 5 for i in ids)
    assert loaded.model.caption(waves) == captions  # seeded crops: the same captions again


def test_strict_loading_names_the_first_misfit(tiny_clapcap, gpt2_tokenizer, tmp_path):
    state = read_state_dict(tiny_clapcap)
    missing = dict(state)
    del missing["clap_project.prefix_const"]
    torch.save({"model": missing}, tmp_path / "missing.pth")
    with pytest.raises(ModelError, match=r"missing\.pth.*clapcap.*'clap_project\.prefix_const'"):
        load_model(str(tmp_path / "missing.pth"), device="cpu", family="clapcap", tokenizer=str(gpt2_tokenizer))
    wrong = dict(state)
    wrong["clap_project.transformer.layers.0.attn.project.weight"] = torch.zeros(3, 3)
    torch.save({"model": wrong}, tmp_path / "wrong.pth")
    with pytest.raises(ModelError, match=r"'clap_project\.transformer\.layers\.0\.attn\.project\.weight': expected shape \(64, 64\), found \(3, 3\)"):
        load_model(str(tmp_path / "wrong.pth"), device="cpu", tokenizer=str(gpt2_tokenizer))
    legacy = dict(state)  # older transformers saved GPT-2's causal masks: not weights, ignored and recorded
    legacy["gpt.transformer.h.0.attn.bias"] = torch.ones(1, 1, 8, 8)
    torch.save({"model": legacy}, tmp_path / "legacy.pth")
    loaded = load_model(str(tmp_path / "legacy.pth"), device="cpu", tokenizer=str(gpt2_tokenizer))
    assert loaded.preprocessing["ignored_checkpoint_keys"] == ["gpt.transformer.h.0.attn.bias"]


def test_decoding_options_apply_to_captioners_only(tiny_clapcap, gpt2_tokenizer, tmp_path):
    msclap = ff.tiny_msclap_checkpoint(tmp_path / "CLAP_weights_tiny_2023.pth", gpt2_tokenizer, "2023")
    result = run_cli("check-model", msclap, "--tokenizer", gpt2_tokenizer, "--beam-size", "3")
    assert result.exit_code == 2 and "apply to captioners (clapcap)" in result.output
    result = run_cli("check-model", tiny_clapcap, "--tokenizer", gpt2_tokenizer, "--beam-size", "0")
    assert result.exit_code == 2 and "--beam-size 0: expected at least 1" in result.output


def test_check_model_checks_the_captioner(tiny_clapcap, gpt2_tokenizer, one_thread):
    result = run_cli("check-model", tiny_clapcap, "--tokenizer", gpt2_tokenizer, "--entry-length", "4", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["family"] == "clapcap" and report["text_encoder"] is False
    assert len(report["captions"]) == 3 and all(isinstance(c, str) for c in report["captions"])
    assert report["problems"] == []
