"""HTSAT's window attention through torch's fused kernel (clapbench.models.window_attention).

The fused forward must give transformers' eager embeddings on the same weights, on both clip policies and in
shifted windows (the shift mask), be what a HF folder loads with by default, leave another ClapModel of the
process alone, and step aside where it does not apply.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from clapbench.errors import ModelError
from clapbench.models import load_model
from clapbench.models.tiny_clap import build_tiny_clap, tiny_config
from clapbench.models.window_attention import fuse_window_attention, window_attention_modules
from conftest import run_cli
from test_parity import ATOL, Reference, make_clips

# Float32 rounding of a reordered sum: the scores are sums over head_size products, the softmax and the
# output sums over 64 tokens; on unit-norm embeddings that is ~1e-7, far below the 1e-5 of test_parity.


def _random_position_bias(model: torch.nn.Module) -> torch.nn.Module:
    """A fresh ClapModel's relative-position tables are zeros: make them matter."""
    with torch.no_grad():
        for module in window_attention_modules(model):
            module.relative_position_bias_table.normal_(0.0, 1.0)
    return model


def _mask_calls(model: torch.nn.Module) -> list[bool]:
    """Record, per call of a fused module, whether it was given a shift mask."""
    seen: list[bool] = []
    for module in window_attention_modules(model):
        fused = module.forward

        def spy(hidden_states, attention_mask=None, output_attentions=False, _fused=fused):
            seen.append(attention_mask is not None)
            return _fused(hidden_states, attention_mask, output_attentions)

        module.forward = spy
    return seen


@pytest.mark.parametrize("fusion", [False, True])
def test_fused_equals_eager_in_shifted_windows(fusion):
    from transformers import ClapModel

    torch.manual_seed(3)
    eager = _random_position_bias(ClapModel(tiny_config(fusion=fusion, depths=(2, 2))).eval())
    fused = copy.deepcopy(eager)
    assert fuse_window_attention(fused)
    seen = _mask_calls(fused)
    channels = 4 if fusion else 1
    mels = torch.randn(3, channels, 1001, 64)
    longer = torch.tensor([[True], [False], [True]]) if fusion else torch.zeros(3, 1, dtype=torch.bool)
    with torch.inference_mode():
        want = eager.get_audio_features(input_features=mels, is_longer=longer).pooler_output
        got = fused.get_audio_features(input_features=mels, is_longer=longer).pooler_output
    assert True in seen and False in seen  # shifted blocks (mask) and plain ones went through the fused forward
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=ATOL)
    assert (want[0] - want[1]).abs().max() > 1e-2  # the clips' embeddings differ: the comparison is not trivial
    # the eager model of the same process keeps transformers' own forward
    assert all("forward" not in vars(m) for m in window_attention_modules(eager))


def test_hf_folder_loads_fused_and_matches_the_reference(tmp_path):
    from transformers import ClapModel

    folder = build_tiny_clap(tmp_path / "shifted", seed=4, depths=(2, 2))
    _random_position_bias(ClapModel.from_pretrained(folder, local_files_only=True)).save_pretrained(folder)
    ref = Reference(folder)
    waves = make_clips((0.7, 3.0, 10.0))
    expected = np.stack([ref.audio(w) for w in waves])
    fused = load_model(str(folder), device="cpu")
    eager = load_model(str(folder), device="cpu", attention="eager")
    assert fused.preprocessing["attention"].startswith("sdpa") and eager.preprocessing["attention"].startswith("eager")
    assert all("forward" in vars(m) for m in window_attention_modules(fused.model.model))
    assert all("forward" not in vars(m) for m in window_attention_modules(eager.model.model))
    np.testing.assert_allclose(fused.model.embed_audio(waves), expected, atol=ATOL)
    np.testing.assert_allclose(eager.model.embed_audio(waves), expected, atol=ATOL)


def test_training_and_attention_maps_use_the_modules_own_forward():
    from transformers import ClapModel

    torch.manual_seed(5)
    eager = _random_position_bias(ClapModel(tiny_config(depths=(2, 2))).eval())
    fused = copy.deepcopy(eager)
    fuse_window_attention(fused)
    mels, longer = torch.randn(2, 1, 1001, 64), torch.zeros(2, 1, dtype=torch.bool)
    with torch.no_grad():
        maps = fused.audio_model(input_features=mels, is_longer=longer, output_attentions=True).attentions
        want = eager.audio_model(input_features=mels, is_longer=longer, output_attentions=True).attentions
    assert len(maps) == len(want) and all(torch.equal(a, b) for a, b in zip(maps, want))
    fused.train(), eager.train()
    torch.manual_seed(6)
    a = fused.get_audio_features(input_features=mels, is_longer=longer).pooler_output
    torch.manual_seed(6)
    b = eager.get_audio_features(input_features=mels, is_longer=longer).pooler_output
    assert torch.equal(a, b)  # the same dropout draws: the eager code ran


def test_unknown_module_shape_keeps_eager(tmp_path, monkeypatch):
    from transformers.models.clap import modeling_clap

    def changed(self, hidden_states, attention_mask=None, output_attentions=False, position_bias=None):
        raise AssertionError("not called")

    folder = build_tiny_clap(tmp_path / "m", seed=0)
    monkeypatch.setattr(modeling_clap.ClapAudioSelfAttention, "forward", changed)
    loaded = load_model(str(folder), device="cpu")
    assert loaded.preprocessing["attention"].startswith("eager")
    assert all("forward" not in vars(m) for m in window_attention_modules(loaded.model.model))
    with pytest.raises(ModelError, match="--attention sdpa"):
        load_model(str(folder), device="cpu", attention="sdpa")
    with pytest.raises(ModelError, match="--attention flash"):
        load_model(str(folder), device="cpu", attention="flash")


def test_attention_is_recorded_and_a_result_of_the_other_is_not_kept(tiny_model, esc50_dir, tmp_path):
    args = ("run", "--model", tiny_model, "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--output", tmp_path,
            "--bootstrap", 0, "--workers", 0)
    result = tmp_path / "tiny-clap" / "esc50.json"
    res = run_cli(*args)
    assert res.exit_code == 0, res.output
    record = json.loads(result.read_text())
    assert record["protocol"]["attention"].startswith("sdpa") and record["fingerprint"]["fields"]["attention"] == "auto"
    res = run_cli(*args, "--attention", "eager")  # another configuration: its result must not pass for this one
    assert res.exit_code != 0 and "esc50" in res.output, res.output
    assert json.loads(result.read_text()) == record
    res = run_cli(*args, "--attention", "eager", "--overwrite")
    assert res.exit_code == 0, res.output
    eager = json.loads(result.read_text())
    assert eager["protocol"]["attention"].startswith("eager") and eager["fingerprint"]["fields"]["attention"] == "eager"
    assert eager["metrics"]["accuracy"] == record["metrics"]["accuracy"]  # rounding apart, the same decisions here
