"""`clapbench run --config run.yaml`: options from YAML, flags override them, the effective options are recorded."""

from __future__ import annotations

import json

import yaml
from conftest import run_cli


def test_config_file_runs_as_its_flags_would_and_a_flag_overrides_it(spectral_plugin, esc50_dir, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "model": spectral_plugin, "tasks": ["esc50"], "data": {"esc50": str(esc50_dir)}, "bootstrap": 50,
        "seed": 1, "folds": [1, 2], "workers": 0, "output": str(tmp_path / "ignored"),
    }))
    res = run_cli("run", "--config", config, "--seed", "2", "--output", tmp_path / "a")
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "ignored").exists()  # --output on the command line won
    (a_file,) = (tmp_path / "a").glob("*/esc50.json")
    a = json.loads(a_file.read_text())
    inv = a["invocation"]
    assert inv["seed"] == 2 and inv["bootstrap"] == 50 and inv["folds"] == "1,2" and inv["data"] == [f"esc50={esc50_dir}"]
    assert inv["config"]["file"] == str(config.resolve()) and len(inv["config"]["sha256"]) == 64
    assert a["folds"] == ["1", "2"] and a["seed"] == 2 and a["bootstrap"]["resamples"] == 50

    flags = run_cli("run", "--model", spectral_plugin, "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--bootstrap", "50",
                    "--seed", "2", "--folds", "1,2", "--workers", "0", "--output", tmp_path / "b")
    assert flags.exit_code == 0, flags.output
    (b_file,) = (tmp_path / "b").glob("*/esc50.json")
    b = json.loads(b_file.read_text())
    assert (a["main_score"], a["metrics"], a["ci95"], a["n_items"]) == (b["main_score"], b["metrics"], b["ci95"], b["n_items"])
    assert "config" not in b["invocation"]


def test_a_misspelt_or_mistyped_key_is_refused_before_anything_runs(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("modle: x\ntasks: esc50\n")
    res = run_cli("run", "--config", config)
    assert res.exit_code == 2 and "unknown option 'modle'; did you mean 'model'?" in res.output
    config.write_text("- model\n")
    res = run_cli("run", "--config", config)
    assert res.exit_code == 2 and "expected a mapping of option names" in res.output
    config.write_text("model: x\ntasks: esc50\noverwrite: sometimes\n")
    res = run_cli("run", "--config", config)
    assert res.exit_code == 2 and "'overwrite' takes true or false" in res.output
    res = run_cli("run", "--config", tmp_path / "absent.yaml")
    assert res.exit_code == 2 and "absent.yaml" in res.output
