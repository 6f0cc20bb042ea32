"""No file clapbench reads is ever unpickled: a malicious pickle (one whose unpickling creates a marker file)
planted in each place clapbench loads from is refused with a message naming the file, or (the embedding
cache) treated as a miss; the marker never appears and nothing is written."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from clapbench.audio.synth import make_esc50_layout
from conftest import assert_refused, run_cli


class Payload:
    """Unpickling this creates ``marker``: the stand-in for any code an attacker would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def marker(tmp_path) -> Path:
    path = tmp_path / "PWNED"
    # the payload is live: a plain unpickle does run it (so a test where the marker stays absent means something)
    pickle.loads(pickle.dumps(Payload(path)))
    assert path.exists()
    path.unlink()
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return make_esc50_layout(tmp_path_factory.mktemp("no-pickle") / "ESC-50-master", clips_per_class=2, seconds=0.5, formats=("wav",))


@pytest.fixture(scope="module")
def results(tiny_model, clips, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("no-pickle-results") / "results"
    res = run_cli("run", "--model", tiny_model, "--model-id", "m", "--tasks", "esc50", "--data", f"esc50={clips}",
                  "--output", out, "--workers", 0, "--bootstrap", 10, "--no-cache")
    assert res.exit_code == 0, res.output
    return out


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def refused(result, marker: Path, *needles: str) -> None:
    assert_refused(result, None, *needles)
    assert not marker.exists(), "the pickled code ran"


def run_esc50(model, clips: Path, out: Path, *extra):
    return run_cli("run", "--model", model, "--tasks", "esc50", "--data", f"esc50={clips}", "--output", out,
                   "--workers", 0, "--bootstrap", 10, *extra)


def test_checkpoint_file(clips, tmp_path, marker):
    checkpoint = tmp_path / "CLAP_weights_2023.pth"
    torch.save({"model": {"logit_scale": torch.zeros(())}, "extra": Payload(marker)}, checkpoint)
    res = run_esc50(checkpoint, clips, tmp_path / "out", "--no-cache")
    refused(res, marker, str(checkpoint), "holds Python objects besides tensors", "CLAPBENCH_TRUST_CHECKPOINT=1")
    assert files_under(tmp_path / "out") == []


def test_hf_folder_weights(tiny_model, clips, tmp_path, marker):
    folder = Path(shutil.copytree(tiny_model, tmp_path / "model"))
    (folder / "model.safetensors").unlink()
    torch.save({"text_model.embeddings.word_embeddings.weight": Payload(marker)}, folder / "pytorch_model.bin")
    res = run_esc50(folder, clips, tmp_path / "out", "--no-cache")
    refused(res, marker, str(folder), "holds Python objects besides tensors", "model.safetensors")
    assert files_under(tmp_path / "out") == []


@pytest.fixture
def interrupted_training(tiny_model, clips, tmp_path) -> tuple[Path, Path, Path]:
    """(pairs file, output folder, its checkpoint folder): a model folder whose trainer state is to be planted."""
    pairs = tmp_path / "pairs.csv"
    rows = ["audio,caption"] + [f"{clips / 'audio' / p.name},the sound of {p.stem}" for p in sorted((clips / "audio").iterdir())]
    pairs.write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    checkpoint = Path(shutil.copytree(tiny_model, out / "checkpoints" / "step-000002"))
    return pairs, out, checkpoint


def resume(pairs: Path, out: Path):
    return run_cli("train", "--pairs", pairs, "--output", out, "--resume", "--steps", 4, "--batch-size", 4, "--device", "cpu")


def test_trainer_state_files(interrupted_training, marker):
    pairs, out, checkpoint = interrupted_training
    (checkpoint / "trainer_state").mkdir()
    for name in ("state.json", "tensors.safetensors"):
        torch.save({"optimizer": Payload(marker)}, checkpoint / "trainer_state" / name)
    before = files_under(out)
    res = resume(pairs, out)
    refused(res, marker, str(checkpoint / "trainer_state" / "state.json"), "not a trainer state clapbench wrote", "expected a JSON object")
    assert files_under(out) == before

    # a valid JSON beside a pickled tensor file: refused at the tensor file
    (checkpoint / "trainer_state" / "state.json").write_text(json.dumps({"step": 2}))
    res = resume(pairs, out)
    refused(res, marker, str(checkpoint / "trainer_state" / "tensors.safetensors"), "not a trainer state clapbench wrote", "expected a safetensors file")
    assert files_under(out) == before


def test_legacy_pickled_trainer_state_is_never_read(interrupted_training, marker):
    pairs, out, checkpoint = interrupted_training
    torch.save({"step": 2, "rng": Payload(marker)}, checkpoint / "trainer_state.torch")
    before = files_under(out)
    res = resume(pairs, out)
    refused(res, marker, str(checkpoint / "trainer_state.torch"), "is a pickle, which clapbench no longer reads")
    assert files_under(out) == before


def plant_items(results: Path, tmp_path: Path, marker: Path) -> Path:
    copy = Path(shutil.copytree(results, tmp_path / "results"))
    items = copy / "m" / "esc50.items.npz"
    with np.load(items) as data:
        arrays = {k: data[k] for k in data.files}
    scores = np.empty(1, dtype=object)
    scores[0] = Payload(marker)
    np.savez(items, **{**arrays, "scores": scores})  # np.savez pickles object arrays
    return items


def test_per_item_file_in_compare(results, tmp_path, marker):
    items = plant_items(results, tmp_path, marker)
    res = run_cli("compare", results / "m", tmp_path / "results" / "m", "--bootstrap", 10, "--json", tmp_path / "cmp.json")
    refused(res, marker, str(items), "not a per-item file of plain arrays")
    assert not (tmp_path / "cmp.json").exists()


def test_per_item_file_in_report(results, tmp_path, marker):
    items = plant_items(results, tmp_path, marker)
    res = run_cli("report", tmp_path / "results", "-o", tmp_path / "report.html")
    refused(res, marker, str(items), "not a per-item file of plain arrays")
    assert not (tmp_path / "report.html").exists()


def test_embedding_cache_entry_is_a_miss(tiny_model, clips, tmp_path, marker):
    cache = tmp_path / "cache"
    first = run_esc50(tiny_model, clips, tmp_path / "out", "--cache-dir", cache)
    assert first.exit_code == 0, first.output
    entries = sorted(p for p in (cache / "embeddings-v1").rglob("*.npy"))
    victim = entries[0]
    planted = np.empty(1, dtype=object)
    planted[0] = Payload(marker)
    with open(victim, "wb") as fh:
        np.save(fh, planted, allow_pickle=True)
    again = run_esc50(tiny_model, clips, tmp_path / "out", "--cache-dir", cache, "--overwrite")
    assert again.exit_code == 0, again.output
    assert not marker.exists()
    counts = json.loads((tmp_path / "out" / "tiny-clap" / "esc50.json").read_text())["embedding_cache"]
    # the planted entry's batch only (at the default batch size: all the clips, or all the prompts), recomputed whole
    recomputed = [kind for kind in ("audio", "text") if counts[f"{kind}_computed"]]
    assert len(recomputed) == 1 and counts[f"{recomputed[0]}_from_cache"] == 0
    assert np.load(victim, allow_pickle=False).dtype == np.float32  # and rewritten as a plain vector
