"""A HF ClapModel folder is scored only when its files are that model: weights that are missing, foreign or
of another shape, and tokenizer files that are missing or belong to another vocabulary, end in one
message and exit 2, in `run` (no result written) and in `check-model`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from clapbench.audio.synth import make_esc50_layout
from clapbench.models.tiny_clap import train_tokenizer
from conftest import assert_refused, run_cli

WORD_EMBEDDINGS = "text_model.embeddings.word_embeddings.weight"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return make_esc50_layout(tmp_path_factory.mktemp("folder-checks") / "ESC-50-master", clips_per_class=1, seconds=0.5, formats=("wav",))


@pytest.fixture
def folder(tiny_model, tmp_path) -> Path:
    """A private copy of the tiny model folder to break."""
    return Path(shutil.copytree(tiny_model, tmp_path / "model"))


def edit_weights(folder: Path, edit) -> None:
    weights = folder / "model.safetensors"
    state = load_file(weights)
    save_file(edit(state), weights, metadata={"format": "pt"})


def run(folder: Path, clips: Path, out: Path):
    return run_cli("run", "--model", folder, "--tasks", "esc50", "--data", f"esc50={clips}", "--output", out,
                   "--workers", 0, "--bootstrap", 10, "--no-cache")


def test_foreign_weights_are_refused(folder, clips, tmp_path):
    learnt = sum(v.is_floating_point() for v in load_file(folder / "model.safetensors").values())
    edit_weights(folder, lambda state: {"encoder.foreign.weight": torch.zeros(3, 3)})
    res = run(folder, clips, tmp_path / "out")
    assert_refused(res, tmp_path / "out", str(folder), "the weights do not fit the ClapModel", f"{learnt} missing (",
                   "1 unexpected (encoder.foreign.weight)")


def test_partial_weights_are_refused_naming_the_missing_key(folder, clips, tmp_path):
    dropped = "audio_model.audio_encoder.batch_norm.running_mean"  # a float buffer: learnt statistics, not rebuilt
    edit_weights(folder, lambda state: {k: v for k, v in state.items() if k not in (dropped, WORD_EMBEDDINGS)})
    res = run(folder, clips, tmp_path / "out")
    assert_refused(res, tmp_path / "out", f"2 missing ({dropped}, {WORD_EMBEDDINGS})")


def test_weights_of_another_shape_are_refused(folder, clips, tmp_path):
    edit_weights(folder, lambda state: {**state, WORD_EMBEDDINGS: torch.zeros(10, state[WORD_EMBEDDINGS].shape[1])})
    rows = load_file(folder / "model.safetensors")[WORD_EMBEDDINGS].shape[1]
    config = json.loads((folder / "config.json").read_text())
    res = run(folder, clips, tmp_path / "out")
    assert_refused(res, tmp_path / "out", f"1 of another shape ({WORD_EMBEDDINGS}: (10, {rows}) in the file, "
                   f"({config['text_config']['vocab_size']}, {rows}) in the model)")


def test_integer_buffers_the_model_rebuilds_may_be_absent(folder, clips, tmp_path):
    """position_ids, relative_position_index, num_batches_tracked: index tables and counters, rebuilt exactly."""
    state = load_file(folder / "model.safetensors")
    integer = [k for k, v in state.items() if not v.is_floating_point()]
    assert any("position_ids" in k for k in integer) and any("num_batches_tracked" in k for k in integer)
    edit_weights(folder, lambda s: {k: v for k, v in s.items() if k not in integer})
    res = run(folder, clips, tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "model" / "esc50.json").is_file()


def test_deleted_tokenizer_files_are_refused(folder, clips, tmp_path):
    for name in ("vocab.json", "merges.txt", "tokenizer.json"):
        (folder / name).unlink()
    res = run(folder, clips, tmp_path / "out")
    assert_refused(res, tmp_path / "out", str(folder), "the tokenizer files are missing", "tokenizer.json or vocab.json + merges.txt")


def test_tokenizer_of_another_vocabulary_is_refused(folder, clips, tmp_path):
    other = train_tokenizer(tmp_path / "other-tokenizer", ["an entirely different corpus of words"], vocab_size=300)
    rows = load_file(folder / "model.safetensors")[WORD_EMBEDDINGS].shape[0]
    assert len(other) != rows
    (folder / "tokenizer.json").unlink()
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(tmp_path / "other-tokenizer" / name, folder / name)
    res = run(folder, clips, tmp_path / "out")
    assert_refused(res, tmp_path / "out", f"the tokenizer has {len(other)} tokens but the text tower embeds {rows}")


def test_check_model_reports_the_same(folder, tmp_path):
    edit_weights(folder, lambda state: {"encoder.foreign.weight": torch.zeros(3, 3)})
    res = run_cli("check-model", folder, "--device", "cpu")
    assert_refused(res, tmp_path / "out", str(folder), "the weights do not fit the ClapModel", "1 unexpected (encoder.foreign.weight)")
