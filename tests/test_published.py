"""results/published.csv: every number names a registered task and a metric that task reports;
`leaderboard --published` adds them as rows of their own, never mixed into measured rows or means."""

from __future__ import annotations

import pandas as pd
from conftest import run_cli

from clapbench.registry import registry
from clapbench.results.published import load_published, on_main_metric


def test_every_published_number_names_a_registered_task_and_its_metric():
    reg = registry()
    rows = load_published()
    assert len(rows) >= 50
    for row in rows:
        assert row.task in reg, row
        spec = reg[row.task]
        assert row.metric in spec.metrics or on_main_metric([row], {row.task: spec.main_metric}), row
        assert 0 <= row.value <= 1 and row.source
    # the MS-CLAP 2023 table covers all 20 classification tasks of the msclap-2023 group
    group = {n for n, s in reg.items() if "msclap-2023" in s.groups and s.eval_type == "zero-shot-classification"}
    assert len(group) == 20
    assert group <= {r.task for r in rows if r.model == "MS-CLAP 2023"}


def test_leaderboard_published_rows_are_apart(tiny_model, esc50_dir, tmp_path):
    out = tmp_path / "results"
    assert run_cli("run", "--model", tiny_model, "--tasks", "esc50", "--data", f"esc50={esc50_dir}", "--output", out, "--workers", "0").exit_code == 0
    assert run_cli("leaderboard", out, "-o", tmp_path / "plain.csv").exit_code == 0
    res = run_cli("leaderboard", out, "--published", "-o", tmp_path / "pub.csv", "--markdown", tmp_path / "pub.md")
    assert res.exit_code == 0, res.output
    plain = pd.read_csv(tmp_path / "plain.csv", dtype=str, keep_default_na=False)
    pub = pd.read_csv(tmp_path / "pub.csv", dtype=str, keep_default_na=False)
    measured = pub[pub.source == "measured"].drop(columns="source").reset_index(drop=True)
    pd.testing.assert_frame_equal(measured, plain)  # the measured rows are untouched
    reported = pub[pub.source != "measured"]
    expected = {f"{r.model} ({r.kind})": r.value for r in load_published() if r.task == "esc50" and r.metric == "accuracy"}
    assert dict(zip(reported.model, reported["sound-events/esc50"].astype(float))) == expected
    assert set(reported["mean"]) == {""} and set(reported["complete"]) == {""}
    assert "MS-CLAP 2023 (reported) | msclap-2023 | reported | 93.90 |" in (tmp_path / "pub.md").read_text()
