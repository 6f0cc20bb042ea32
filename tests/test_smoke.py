import json

from conftest import run_cli


def test_run_esc50_end_to_end(tiny_model, esc50_dir, tmp_path):
    out = tmp_path / "results"
    res = run_cli("run", "--model", tiny_model, "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--output", out, "--save-predictions", "--workers", "0")
    assert res.exit_code == 0, res.output
    result = json.loads((out / "tiny-clap" / "esc50.json").read_text())
    assert result["n_items"] == 30 and result["n_classes"] == 6
    lo, hi = result["ci95"]["accuracy"]
    assert lo <= result["main_score"] <= hi
    lines = (out / "tiny-clap" / "esc50.predictions.csv").read_text().splitlines()
    assert lines[0].startswith("path,fold,label,prediction") and len(lines) == 31
