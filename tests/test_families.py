"""MS-CLAP and LAION-CLAP checkpoints: outputs equal to the original code (golden fixtures), detection, strict
loading and its messages, tokenizer lookup, check-model, and `clapbench run` end to end."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

import family_fixtures as ff
from clapbench.audio import load_audio
from clapbench.errors import ModelError
from clapbench.models import load_model
from clapbench.models.checkpoint import read_state_dict
from clapbench.models.families import detect_family
from clapbench.models.laion_clap import LaionClapModel, LaionClapNet
from clapbench.models.msclap import VERSIONS, MSClapModel, MSClapNet
from clapbench.models.presets import PRESETS, int16_round_trip, repeatpad
from conftest import assert_accuracy_within, run_cli

GOLDEN = Path(__file__).parent / "golden"
LAION_VARIANTS = ["laion-htsat-tiny", "laion-htsat-tiny-fusion", "laion-htsat-base"]
VARIANTS = [*LAION_VARIANTS, "msclap-2023", "msclap-2022"]  # LAION first: the same indices in both parametrizations
TEXT_KIND = {"laion": "roberta", "2023": "gpt2", "2022": "bert"}


@pytest.fixture(scope="session")
def tokenizers(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tokenizers")
    return {
        "roberta": ff.build_roberta_tokenizer(root / "roberta"),
        "gpt2": ff.build_gpt2_tokenizer(root / "gpt2"),
        "bert": ff.build_bert_tokenizer(root / "bert"),
    }


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory, tokenizers) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "laion": ff.tiny_laion_checkpoint(root / "630k-tiny.pt", tokenizers["roberta"]),
        "laion-fusion": ff.tiny_laion_checkpoint(root / "630k-tiny-fusion-best.pt", tokenizers["roberta"], fusion=True),
        "msclap-2023": ff.tiny_msclap_checkpoint(root / "CLAP_weights_tiny_2023.pth", tokenizers["gpt2"], "2023"),
        "msclap-2022": ff.tiny_msclap_checkpoint(root / "CLAP_weights_tiny_2022.pth", tokenizers["bert"], "2022"),
    }


# ---- equal to the original implementations (tests/golden/README.md says how the fixtures were made) ------------


def golden(name: str):
    z = np.load(GOLDEN / f"{name}.npz")
    return z, json.loads(str(z["meta"]))


def assert_close(ours, theirs, what: str):
    """allclose at 1e-4, relative to the tensor's scale (dB for mels, unit-ish for embeddings)."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs {theirs.shape}"
    scale = max(1.0, float(np.abs(theirs).max()))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * scale, err_msg=what)


def sha(array) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.asarray(array)).tobytes()).hexdigest()


def rebuild_state(z, meta, build) -> dict[str, torch.Tensor]:
    """The weights the originals ran with: learned tensors re-drawn from their names (family_fixtures.seeded_tensor),
    fixed ones as clapbench builds them, each checked against what the original built."""
    state = {}
    for key, shape, dtype in meta["keys"]:
        dt = getattr(torch, dtype)
        learned = dt.is_floating_point and not ff.is_fixed(key)
        state[key] = ff.seeded_tensor(key, tuple(shape)).to(dt) if learned else torch.zeros(shape, dtype=dt)
    ours = build(state).state_dict()
    assert [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in ours.items()] == meta["keys"]
    for key in ours:
        if key in meta["digests"]:  # shifted-window masks and relative-position indices: bit-equal
            assert sha(ours[key].numpy()) == meta["digests"][key], key
            state[key] = ours[key]
        elif key.endswith("logmel_extractor.melW"):
            # clapbench's Slaney bank equals the one the original built (for MS-CLAP 2023: 32 kHz, 50-14000 Hz)
            np.testing.assert_allclose(ours[key].numpy(), z["melW"], atol=1e-7, err_msg=key)
            state[key] = torch.from_numpy(z["melW"])
        elif key.endswith(("stft.conv_real.weight", "stft.conv_imag.weight")):
            stored = z["stft_real_rows"] if "real" in key else z["stft_imag_rows"]
            np.testing.assert_allclose(ours[key][z["stft_rows"], 0].numpy(), stored, atol=1e-6, err_msg=key)
            state[key] = ours[key]
    return state


@pytest.mark.parametrize("name", VARIANTS)
def test_full_size_architecture_matches_the_original_state_dict(name):
    """Built from the original full-size state dict's shapes, clapbench's module has exactly its keys, shapes and dtypes."""
    _, meta = golden(name)
    fake = {k: torch.empty(s, dtype=getattr(torch, d), device="meta") for k, s, d in meta["full_keys"]}
    with torch.device("meta"):
        net = LaionClapNet.from_state_dict(fake) if name.startswith("laion") else MSClapNet.from_state_dict(VERSIONS[meta["version"]], fake)
    assert [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in net.state_dict().items()] == meta["full_keys"]
    expected = {"laion-htsat-tiny": "htsat-tiny", "laion-htsat-tiny-fusion": "htsat-tiny", "laion-htsat-base": "htsat-base",
                "msclap-2023": "htsat-tiny", "msclap-2022": "cnn14"}[name]
    audio = net.audio_branch if name.startswith("laion") else net.audio_net
    assert audio.cfg.variant() == expected
    assert detect_family(fake) == ("laion-clap" if name.startswith("laion") else name)


@pytest.fixture(scope="module")
def golden_model(request, tokenizers):
    """(name, fixture, meta, model): a full-size model with the originals' weights, built once per variant for the
    tests parametrized over it (pytest groups them by variant)."""
    name = request.param
    z, meta = golden(name)
    laion = name.startswith("laion")
    kind = TEXT_KIND["laion" if laion else meta["version"]]
    assert {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(tokenizers[kind].iterdir())} == meta["tokenizer_sha"]
    if laion:
        state = rebuild_state(z, meta, LaionClapNet.from_state_dict)
        model = LaionClapModel(state, name, PRESETS["laion"], tokenizer=tokenizers[kind])
    else:
        version = VERSIONS[meta["version"]]
        state = rebuild_state(z, meta, lambda s: MSClapNet.from_state_dict(version, s))
        model = MSClapModel(state, meta["version"], name, PRESETS[f"msclap-{meta['version']}"], tokenizer=tokenizers[kind])
    return name, z, meta, model


@pytest.mark.parametrize("golden_model", VARIANTS, indirect=True)
def test_outputs_equal_the_original_implementation(golden_model):
    name, z, meta, model = golden_model
    laion = name.startswith("laion")
    waves = ff.golden_waves(48000 if laion else 44100, meta["seconds"], seed=meta["wave_seed"])
    n = model.protocol.clip_samples
    crops = iter(meta["crop_starts"])
    if name == "msclap-2023":  # the quirk: HTSAT's own config.py builds the bank, not config_2023.yml
        assert model.describe()["mel"]["filter_bank"].endswith("Slaney bank for 32000 Hz, 50-14000 Hz")
    fusion = laion and model.fusion

    # Preprocessing: bit-equal windows (a long clip's crop start is the original's random draw).
    if not fusion:
        preps = []
        for wave, expected in zip(waves, meta["prep_sha"]):
            body = int16_round_trip(wave) if laion else wave
            prep = model.audio_preprocessor(wave) if len(wave) <= n else body[next(crops) :][:n]
            assert sha(prep) == expected
            preps.append(prep)
        batch = torch.from_numpy(np.stack(preps))
        with torch.inference_mode():
            mel = (model.net.audio_branch if laion else model.net.audio_net).log_mel(batch[:1])
        assert_close(mel[0, 0, ::8], z["mel_0"], "log-mel")
        feats = preps
    else:
        prep, feats = model.audio_preprocessor, []
        for i, wave in enumerate(waves):
            mels, longer = prep(wave)
            if longer:  # rebuild with the original's random chunk starts
                mels = prep.stack_fusion(prep.mel(int16_round_trip(wave)), meta["fusion_starts"][:3])
            assert longer == bool(z["fusion_longer"][i])
            assert_close(mels[0, ::4], z[f"fusion_mel_{i}_ch0"], f"fusion mel {i} (whole clip)")
            assert_close(mels[2, ::8], z[f"fusion_mel_{i}_ch2"], f"fusion mel {i} (middle chunk)")
            feats.append((mels, longer))

    # Audio embeddings, projected, before normalising: the longest clip (preprocessing differs between the clips,
    # the model's path does not), and with fusion also the short one (not fused).
    keep = [0, len(waves) - 1] if fusion else [len(waves) - 1]
    with torch.inference_mode():
        if fusion:
            emb = model.net.embed_fusion(torch.from_numpy(np.stack([feats[i][0] for i in keep])), torch.tensor([feats[i][1] for i in keep]))
        else:
            emb = model.net.embed_waves(torch.from_numpy(np.stack([feats[i] for i in keep])))
    assert_close(emb, z["audio_emb"][keep], "audio embeddings")
    if laion:  # laion_clap's get_audio_embedding normalises
        assert_close(torch.nn.functional.normalize(emb, dim=-1), z["audio_emb_norm"][keep], "normalised audio embeddings")

    # Text: the same token ids (padding, the GPT-2 '!' pad and appended <|endoftext|>, no truncation) and embeddings.
    prompts = meta["prompts"]
    if laion:
        ids = model.tokenizer(prompts, padding="max_length", truncation=True, max_length=77, return_tensors="pt")["input_ids"]
        assert np.array_equal(ids.numpy(), z["text_ids"])
        assert_close(model.embed_text(prompts), z["text_emb"], "text embeddings")
    else:
        with torch.inference_mode():
            for texts, ids_key, emb_key in ((prompts, "text_ids", "text_emb"), ([meta["long_prompt"]], "long_text_ids", "long_text_emb")):
                tokens = model.tokenize(texts)
                assert np.array_equal(tokens["input_ids"].numpy(), z[ids_key])
                assert_close(model.net.embed_tokens(tokens), z[emb_key], emb_key)
        assert z["long_text_ids"].shape[1] > model.version.text_len  # the long prompt was not truncated


@pytest.mark.parametrize("golden_model", LAION_VARIANTS, indirect=True)
def test_laion_file_list_route_on_44k_files_equals_the_original(golden_model, tmp_path):
    """LAION's get_audio_embedding_from_filelist on 16-bit files (mostly 44.1 kHz, as ESC-50): clapbench's decoding
    at the `laion` preset gives librosa.load's length, the same windows and the same embeddings."""
    name, _, _, model = golden_model
    z, meta = golden("laion-filelist-" + name.removeprefix("laion-"))
    paths = ff.write_pcm16_clips(tmp_path, [(f["rate"], f["seconds"]) for f in meta["files"]], meta["wave_seed"])
    assert [sha(soundfile.read(p, dtype="int16")[0]) for p in paths] == meta["file_sha"]
    n, prep, feats = model.protocol.clip_samples, model.audio_preprocessor, []
    for path, spec, f in zip(paths, meta["files"], meta["per_file"]):
        wave = load_audio(path, 48000, model.resampled_length)
        n_in = int(round(spec["seconds"] * spec["rate"]))
        assert len(wave) == f["librosa_length"] == (int(np.ceil(n_in * (48000 / spec["rate"]))) if spec["rate"] != 48000 else n_in)
        body, draws = int16_round_trip(wave), [v for _, v in f["draws"]]
        window = body[draws[-1] :][:n] if len(wave) > n else repeatpad(body, n)  # the original's crop start, drawn last
        assert sha(window) == f["window_sha"], path.name
        if model.fusion:
            feats.append((prep.stack_fusion(prep.mel(body), draws[:3]), True) if f["longer"] else prep(wave))
            assert feats[-1][1] == f["longer"]
        else:
            feats.append(window if len(wave) > n else prep(wave))
    assert_close(model.embed_audio_features(feats), z["audio_emb_norm"], "file-list audio embeddings")


# ---- detection, containers and strict loading -------------------------------------------------------------------


@pytest.mark.parametrize("key,family,variant", [
    ("laion", "laion-clap", "htsat(dim 8, depths 2-2)"),
    ("laion-fusion", "laion-clap", "htsat(dim 8, depths 2-2)-fusion"),
    ("msclap-2023", "msclap-2023", "2023"),
    ("msclap-2022", "msclap-2022", "2022"),
])
def test_checkpoints_are_detected_and_load(checkpoints, tokenizers, key, family, variant):
    tok = tokenizers[{"laion": "roberta", "laion-fusion": "roberta", "msclap-2023": "gpt2", "msclap-2022": "bert"}[key]]
    loaded = load_model(str(checkpoints[key]), device="cpu", tokenizer=str(tok))
    assert (loaded.family, loaded.variant, loaded.kind) == (family, variant, family)
    assert detect_family(read_state_dict(checkpoints[key])) == ("laion-clap" if key.startswith("laion") else key)
    assert loaded.model_id == checkpoints[key].stem and loaded.sha256 == hashlib.sha256(checkpoints[key].read_bytes()).hexdigest()
    expected = {"laion": "laion", "laion-fusion": "laion", "msclap-2023": "msclap-2023", "msclap-2022": "msclap-2022"}[key]
    assert loaded.preprocessing["protocol"] == expected and loaded.sample_rate == PRESETS[expected].sample_rate


def test_containers_module_prefix_and_plain_state_dicts_read_alike(checkpoints, tmp_path):
    state = read_state_dict(checkpoints["laion"])  # {'state_dict': {'module.' + key}} as LAION saves
    assert not any(k.startswith("module.") for k in state) and "logit_scale_a" in state
    torch.save(state, tmp_path / "plain.pt")
    torch.save({"model": {"module." + k: v for k, v in state.items()}, "optimizer": {"lr": 1e-4}}, tmp_path / "wrapped.pth")
    for p in ("plain.pt", "wrapped.pth"):
        again = read_state_dict(tmp_path / p)
        assert list(again) == list(state) and all(torch.equal(again[k], state[k]) for k in state)


def test_a_forced_wrong_family_names_the_first_mismatching_key(checkpoints, tokenizers):
    with pytest.raises(ModelError) as err:
        load_model(str(checkpoints["laion"]), device="cpu", family="msclap-2023", tokenizer=str(tokenizers["gpt2"]))
    msg = str(err.value)
    assert "do not fit the MS-CLAP 2023 (htsat + gpt2) architecture" in msg
    # in state-dict order: the model's own logit_scale, then audio_encoder.*, caption_encoder.*
    assert "first mismatching key 'logit_scale' (expected shape ()) is missing from the checkpoint" in msg
    assert "(357 missing, 136 unexpected, 0 of another shape)" in msg


def test_a_wrong_shape_and_an_extra_key_are_named(checkpoints, tokenizers, tmp_path):
    state = read_state_dict(checkpoints["msclap-2022"])
    bad = dict(state, **{"audio_encoder.projection.linear2.weight": torch.zeros(32, 16)})
    torch.save({"model": bad}, tmp_path / "shape.pth")
    with pytest.raises(ModelError, match=r"first mismatching key 'audio_encoder.projection.linear2.weight': expected shape \(32, 32\), found \(32, 16\)"):
        load_model(str(tmp_path / "shape.pth"), device="cpu", tokenizer=str(tokenizers["bert"]))
    extra = dict(state, **{"audio_encoder.base.conv_block7.conv1.weight": torch.zeros(1)})
    torch.save({"model": extra}, tmp_path / "extra.pth")
    with pytest.raises(ModelError, match="first mismatching key 'audio_encoder.base.conv_block7.conv1.weight' is not part of the architecture"):
        load_model(str(tmp_path / "extra.pth"), device="cpu", tokenizer=str(tokenizers["bert"]))
    missing = {k: v for k, v in state.items() if k != "logit_scale"}
    torch.save({"model": missing}, tmp_path / "missing.pth")
    with pytest.raises(ModelError, match=r"first mismatching key 'logit_scale' \(expected shape \(\)\) is missing"):
        load_model(str(tmp_path / "missing.pth"), device="cpu", tokenizer=str(tokenizers["bert"]))


def test_legacy_transformers_buffers_are_ignored_and_recorded(checkpoints, tokenizers, tmp_path):
    """Older transformers saved position_ids (BERT/RoBERTa) and GPT-2's attn.bias/masked_bias; the originals load anyway."""
    gpt = read_state_dict(checkpoints["msclap-2023"])
    gpt["caption_encoder.base.h.0.attn.bias"] = torch.tril(torch.ones(1, 1, 128, 128))
    gpt["caption_encoder.base.h.0.attn.masked_bias"] = torch.tensor(-1e4)
    torch.save({"model": gpt}, tmp_path / "old_gpt2.pth")
    loaded = load_model(str(tmp_path / "old_gpt2.pth"), device="cpu", tokenizer=str(tokenizers["gpt2"]))
    assert loaded.preprocessing["ignored_checkpoint_keys"] == ["caption_encoder.base.h.0.attn.bias", "caption_encoder.base.h.0.attn.masked_bias"]
    rob = read_state_dict(checkpoints["laion"])
    rob["text_branch.embeddings.position_ids"] = torch.arange(130)[None]
    torch.save({"state_dict": rob}, tmp_path / "old_roberta.pt")
    loaded = load_model(str(tmp_path / "old_roberta.pt"), device="cpu", tokenizer=str(tokenizers["roberta"]))
    assert loaded.preprocessing["ignored_checkpoint_keys"] == ["text_branch.embeddings.position_ids"]


def test_unknown_layouts_get_a_clear_message(tmp_path, cli_runner):
    torch.save({"encoder.weight": torch.zeros(2)}, tmp_path / "other.pt")
    result = cli_runner("check-model", tmp_path / "other.pt")
    assert result.exit_code == 2 and "not a CLAP checkpoint layout clapbench knows (first keys: encoder.weight)" in result.output
    assert "Traceback" not in result.output
    torch.save({"audio_model.audio_encoder.x": torch.zeros(1), "text_model.y": torch.zeros(1)}, tmp_path / "hf.bin")
    with pytest.raises(ModelError, match="a transformers ClapModel state dict; pass the folder"):
        load_model(str(tmp_path / "hf.bin"), device="cpu")
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(ModelError, match="cannot read it as a PyTorch checkpoint"):
        load_model(str(tmp_path / "notes.pt"), device="cpu")
    torch.save({"epoch": 3, "args": {"lr": 0.1}}, tmp_path / "empty.pt")
    with pytest.raises(ModelError, match=r"no state dict found \(top level: epoch, args\)"):
        load_model(str(tmp_path / "empty.pt"), device="cpu")


class Opaque:  # a pickled object that weights-only loading refuses
    pass


def test_pickled_objects_are_not_unpickled_unless_trusted(checkpoints, tokenizers, tmp_path, monkeypatch):
    state = read_state_dict(checkpoints["msclap-2022"])
    torch.save({"model": state, "extra": Opaque()}, tmp_path / "pickled.pth")
    with pytest.raises(ModelError, match="holds Python objects besides tensors.*CLAPBENCH_TRUST_CHECKPOINT=1"):
        load_model(str(tmp_path / "pickled.pth"), device="cpu", tokenizer=str(tokenizers["bert"]))
    torch.save({"model": state, "best": np.float64(0.9), "hist": np.zeros(3)}, tmp_path / "numpy.pth")  # numpy extras are fine
    assert load_model(str(tmp_path / "numpy.pth"), device="cpu", tokenizer=str(tokenizers["bert"])).variant == "2022"
    monkeypatch.setenv("CLAPBENCH_TRUST_CHECKPOINT", "1")
    assert load_model(str(tmp_path / "pickled.pth"), device="cpu", tokenizer=str(tokenizers["bert"])).variant == "2022"


# ---- tokenizers, found offline ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key,needed", [("msclap-2023", "vocab.json \\+ merges.txt"), ("msclap-2022", "vocab.txt"), ("laion", "vocab.json \\+ merges.txt")])
def test_a_missing_tokenizer_says_which_files_are_needed(checkpoints, tmp_path, monkeypatch, key, needed):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelError, match=f"not in the local HuggingFace cache.*pass --tokenizer DIR with {needed}"):
        load_model(str(checkpoints[key]), device="cpu")


def test_a_tokenizer_folder_missing_a_file_is_named(checkpoints, tokenizers, tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "vocab.json").write_text((tokenizers["gpt2"] / "vocab.json").read_text())
    result = run_cli("check-model", checkpoints["msclap-2023"], "--tokenizer", tmp_path / "half")
    assert result.exit_code == 2
    assert "lacks merges.txt; the gpt2 tokenizer needs vocab.json + merges.txt" in result.output


def test_another_models_tokenizer_is_refused(checkpoints, tokenizers):
    with pytest.raises(ModelError, match=r"the gpt2 tokenizer has \d+ tokens but the text tower of .* embeds \d+"):
        load_model(str(checkpoints["msclap-2023"]), device="cpu", tokenizer=str(tokenizers["roberta"]))


def test_the_tokenizer_is_found_in_the_local_hf_cache(checkpoints, tokenizers, tmp_path, monkeypatch):
    snapshot = tmp_path / "hub" / "models--openai-community--gpt2" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for name in ("vocab.json", "merges.txt"):
        (snapshot / name).write_bytes((tokenizers["gpt2"] / name).read_bytes())
    (tmp_path / "hub" / "models--openai-community--gpt2" / "refs").mkdir()
    (tmp_path / "hub" / "models--openai-community--gpt2" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))  # what HF_HUB_CACHE sets
    loaded = load_model(str(checkpoints["msclap-2023"]), device="cpu")
    assert Path(loaded.preprocessing["text"]["tokenizer"]) == snapshot


# ---- check-model and protocols on the command line ----------------------------------------------------------------


@pytest.mark.parametrize("key,tok,variant,rate", [("laion-fusion", "roberta", "htsat(dim 8, depths 2-2)-fusion", 48000), ("msclap-2022", "bert", "2022", 44100)])
def test_check_model_reports_the_model(checkpoints, tokenizers, key, tok, variant, rate):
    result = run_cli("check-model", checkpoints[key], "--tokenizer", tokenizers[tok], "--device", "cpu", "--json", "--seconds", "2")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    state = read_state_dict(checkpoints[key])
    assert report["variant"] == variant and report["family"] in ("laion-clap", "msclap-2022")
    learned = [v for k, v in state.items() if v.is_floating_point() and not ff.is_fixed(k) and not k.endswith(("running_mean", "running_var"))]
    assert report["parameters"] == sum(v.numel() for v in learned)  # learned weights: no buffers, no front-end constants
    assert report["embedding_dim"] == 32 and report["sample_rate"] == rate
    assert report["finite"] and report["normalised"] and report["max_norm_error"] < 1e-5 and not report["problems"]
    assert np.asarray(report["similarity"]).shape == (3, 3)
    table = run_cli("check-model", checkpoints[key], "--tokenizer", tokenizers[tok], "--device", "cpu", "--seconds", "1")
    assert table.exit_code == 0 and variant.split("(")[0] in table.output and "normalised" in table.output


def test_check_model_on_a_hf_folder_and_protocol_mismatches(tiny_model, checkpoints, tokenizers):
    report = json.loads(run_cli("check-model", tiny_model, "--device", "cpu", "--json", "--seconds", "1").output)
    assert (report["family"], report["variant"]) == ("hf-clap", "htsat-unfused") and report["normalised"]
    assert report["prompt"] is None  # native keeps a task's templates for a HF folder
    assert json.loads(run_cli("check-model", tiny_model, "--protocol", "hf", "--json", "--seconds", "1").output)["prompt"] == "This is a sound of {}."
    bad = run_cli("check-model", tiny_model, "--protocol", "msclap-2023")
    assert bad.exit_code == 2 and "does not apply to a hf-clap checkpoint" in bad.output
    bad = run_cli("check-model", checkpoints["laion"], "--protocol", "msclap-2022", "--tokenizer", tokenizers["roberta"])
    assert bad.exit_code == 2 and "use one of native, laion, laion-48k, hf" in bad.output
    bad = run_cli("check-model", tiny_model, "--family", "laion")
    assert bad.exit_code == 2 and "is a folder" in bad.output


def test_check_model_warns_about_the_converted_text_layer_norm_eps(tiny_model, tmp_path):
    """transformers' ClapTextConfig keeps 1e-12 where LAION-CLAP's RoBERTa has 1e-5; a folder saying 1e-5 is not warned about."""
    report = json.loads(run_cli("check-model", tiny_model, "--json", "--seconds", "1").output)
    assert len(report["warnings"]) == 1 and "text_config.layer_norm_eps is 1e-12, RoBERTa" in report["warnings"][0]
    table = run_cli("check-model", tiny_model, "--seconds", "1")
    assert table.exit_code == 0 and "warning: text_config.layer_norm_eps is 1e-12" in table.output
    fixed = tmp_path / "fixed"
    shutil.copytree(tiny_model, fixed)
    config = json.loads((fixed / "config.json").read_text())
    config["text_config"]["layer_norm_eps"] = 1e-5
    (fixed / "config.json").write_text(json.dumps(config))
    again = json.loads(run_cli("check-model", fixed, "--json", "--seconds", "1").output)
    assert again["warnings"] == [] and not again["problems"]
    assert load_model(str(fixed), device="cpu").preprocessing["text_layer_norm_eps"] == 1e-5


# ---- clapbench run end to end on the ESC-50 fixture ---------------------------------------------------------------


def independent_scores(loaded, dataset_root: Path, templates: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Clip by clip through the adapter (no loader, no zero-shot code): cosine scores (clips x classes) and labels."""
    import pandas as pd

    meta = pd.read_csv(dataset_root / "meta" / "esc50.csv")
    classes = meta.drop_duplicates("target").sort_values("target")["category"].tolist()
    text = loaded.model.embed_text([templates[0].format(c.replace("_", " ")) for c in classes])
    scores, truth = [], []
    for _, row in meta.iterrows():
        audio = loaded.model.embed_audio([load_audio(dataset_root / "audio" / row["filename"], loaded.sample_rate, loaded.resampled_length)])
        scores.append((audio @ text.T)[0])
        truth.append(classes.index(row["category"]))
    return np.array(scores), np.array(truth)


@pytest.mark.parametrize("key,tok,protocol,prompt,seconds,limit", [
    ("msclap-2023", "gpt2", "native", "this is the sound of {}", 7.0, None),
    ("msclap-2023", "gpt2", "msclap-2022", "This is a sound of {}", 5.0, 12),
    ("laion", "roberta", "native", "This is a sound of {}.", 10.0, 12),
    ("laion", "roberta", "laion-48k", "This is a sound of {}", 10.0, 12),
])
def test_run_on_esc50_records_the_family_and_protocol(checkpoints, tokenizers, esc50_dir, tmp_path, key, tok, protocol, prompt, seconds, limit):
    out = tmp_path / "results"
    result = run_cli(
        "run", "--model", checkpoints[key], "--tokenizer", tokenizers[tok], "--protocol", protocol, "--tasks", "esc50",
        "--data", f"esc50={esc50_dir}", "--output", out, "--device", "cpu", "--workers", "0", "--bootstrap", "50",
        *(("--limit", limit) if limit else ()),
    )
    assert result.exit_code == 0, result.output
    (res_file,) = list(out.glob("*/esc50.json"))
    res = json.loads(res_file.read_text())
    assert res["model"]["family"] == (key if key.startswith("msclap") else "laion-clap")
    assert res["model"]["variant"] == ("2023" if key.startswith("msclap") else "htsat(dim 8, depths 2-2)")
    p = res["protocol"]
    assert p["protocol"] == (protocol if protocol != "native" else ("laion" if key == "laion" else key))
    assert p["clip_seconds"] == seconds and p["templates"] == [prompt] and p["prompt"] == prompt
    preset = PRESETS[p["protocol"]]
    assert (p["resampled_length"], p["prompt_source"]) == (preset.resampled_length, preset.prompt_source)
    assert res["n_items"] == (limit or 30)
    if limit is None:  # the score, recomputed clip by clip through the adapter alone
        loaded = load_model(str(checkpoints[key]), device="cpu", tokenizer=str(tokenizers[tok]), protocol=protocol)
        scores, truth = independent_scores(loaded, esc50_dir, [prompt])
        assert_accuracy_within(res["main_score"], scores, truth)  # exact unless two classes tie within float noise
    board = run_cli("leaderboard", out)
    family = res["model"]["family"]  # msclap-2023 holds its variant; laion-clap is followed by its architecture
    label = family if family.startswith("msclap") else f"{family} {res['model']['variant'][:8]}"
    assert board.exit_code == 0 and label in board.output.replace("\n", " ")


def test_run_with_templates_keeps_them_over_the_preset_prompt(checkpoints, tokenizers, esc50_dir, tmp_path):
    out = tmp_path / "results"
    result = run_cli(
        "run", "--model", checkpoints["msclap-2022"], "--tokenizer", tokenizers["bert"], "--tasks", "esc50", "--data", f"esc50={esc50_dir}",
        "--output", out, "--device", "cpu", "--workers", "0", "--bootstrap", "0", "--limit", "6", "--template", "a recording of {}",
    )
    assert result.exit_code == 0, result.output
    res = json.loads(next(out.glob("*/esc50.json")).read_text())
    assert res["protocol"]["templates"] == ["a recording of {}"] and res["protocol"]["clip_seconds"] == 5.0
