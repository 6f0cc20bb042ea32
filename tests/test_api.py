"""The Python API (clapbench.evaluate and friends): the README's example executed, in-memory models that
write nothing, and Results.save() giving what `clapbench run` writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

import clapbench
from clapbench.files import read_npz

REPO = Path(__file__).resolve().parent.parent


def _readme_example() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("### From Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_readme_example(), "README.md (From Python)", "exec"), namespace)
    table = namespace["table"]
    assert list(table["task"]) == ["esc50"] and table["n_items"].iloc[0] == 24
    assert table["marks"].iloc[0].startswith("subset 24/2000")  # a toy copy: marked so
    assert table["ci_low"].iloc[0] <= table["score"].iloc[0] <= table["ci_high"].iloc[0]
    items = namespace["items"]
    assert len(items) == 24 and {"id", "y"} <= set(items.columns) and sum(c.startswith("scores:") for c in items.columns) == 6
    assert (tmp_path / "results" / "BandEnergies" / "esc50.json").is_file()
    assert list(namespace["board"]["model"]) == ["BandEnergies"]


class TorchBands:
    """A model written in a notebook: torch, tensors out (with grad), no weights hash."""

    sample_rate = 8000

    def __init__(self):
        import torch

        from plugins_spectral import SpectralModel

        self.inner = SpectralModel()
        self.scale = torch.nn.Parameter(torch.ones(1))

    def embed_audio(self, waves):
        import torch

        return torch.from_numpy(self.inner.embed_audio(waves)) * self.scale

    def embed_text(self, texts):
        import torch

        return torch.from_numpy(self.inner.embed_text(texts)) * self.scale


def test_in_memory_model_writes_nothing(esc50_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    results = clapbench.evaluate(TorchBands(), "esc50", data={"esc50": str(esc50_dir)}, bootstrap=50, workers=0)
    assert sorted(tmp_path.rglob("*")) == before  # no file written anywhere under the working folder
    record = results["esc50"]
    assert record.model.kind == "object" and record.model_id == "TorchBands" and record.file is None
    assert record.main_score > 0.5  # the spectral features hear the classes (chance 1/6)
    predictions = results.predictions("esc50")
    assert len(predictions) == 30 and np.mean(predictions["label"] == predictions["prediction"]) == pytest.approx(record.main_score)


def test_saved_results_equal_those_of_clapbench_run(esc50_dir, tmp_path):
    args = dict(data={"esc50": str(esc50_dir)}, bootstrap=50, workers=0, evaluations="zero-shot,linear-probe")
    saved = clapbench.evaluate("plugins_spectral:spectral_model", "esc50", **args).save(tmp_path / "api")
    res = run_cli("run", "--model", "plugins_spectral:spectral_model", "--tasks", "esc50", "--data", f"esc50={esc50_dir}",
                  "--bootstrap", 50, "--workers", 0, "--eval", "zero-shot,linear-probe", "--save-predictions", "--output", tmp_path / "cli")
    assert res.exit_code == 0, res.output
    cli = tmp_path / "cli" / "plugins_spectral.spectral_model"
    assert sorted(p.name for p in saved.iterdir()) == sorted(p.name for p in cli.iterdir())
    for name in ("esc50", "esc50.linear-probe"):
        a, b = json.loads((saved / f"{name}.json").read_text()), json.loads((cli / f"{name}.json").read_text())
        for key in ("main_score", "metrics", "ci95", "n_items", "subset", "fingerprint", "classes", "folds"):
            assert a[key] == b[key], (name, key)
        xa, xb = read_npz(saved / f"{name}.items.npz"), read_npz(cli / f"{name}.items.npz")
        assert xa.keys() == xb.keys() and all(np.array_equal(xa[k], xb[k], equal_nan=xa[k].dtype.kind == "f") for k in xa)
    assert (saved / "esc50.predictions.csv").read_text() == (cli / "esc50.predictions.csv").read_text()
    # the same plan: a CLI run into the API's folder keeps the saved results
    res = run_cli("run", "--model", "plugins_spectral:spectral_model", "--tasks", "esc50", "--data", f"esc50={esc50_dir}",
                  "--bootstrap", 50, "--workers", 0, "--eval", "zero-shot,linear-probe", "--output", tmp_path / "api")
    assert res.exit_code == 0 and "kept" in res.output, res.output


def test_leaderboard_compare_and_tasks_tables(esc50_dir, tmp_path):
    for model in ("plugins_spectral:spectral_model", "plugins_spectral:spectral_model_worse"):
        clapbench.evaluate(model, "esc50", data={"esc50": str(esc50_dir)}, bootstrap=50, workers=0, output=tmp_path / "r")
    board = clapbench.leaderboard(tmp_path / "r")
    assert list(board["model"]) == ["plugins_spectral.spectral_model", "plugins_spectral.spectral_model_worse"]
    verdicts = clapbench.compare(tmp_path / "r" / "plugins_spectral.spectral_model", tmp_path / "r" / "plugins_spectral.spectral_model_worse")
    assert list(verdicts["task"]) == ["esc50"] and verdicts["paired"].iloc[0] and verdicts["diff"].iloc[0] < 0
    music = clapbench.tasks(domain="music")
    assert len(music) >= 5 and set(music["domain"]) == {"music"} and "gtzan-genres" in set(music["name"])
    zste = clapbench.tasks(group="zste")
    assert set(zste["source_task"]) == {"esc50"}
