"""Captioning tasks: metrics against pycocoevalcap (the reference implementation) and brute force, the SPICE-unavailable
path, a full `clapbench run --tasks clotho-captioning` with clapcap and plugin captioners, compare, skips, leaderboard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import family_fixtures as ff
from clapbench.evaluations import caption_metrics as cm
from clapbench.registry import registry
from conftest import run_cli
from test_retrieval_tasks import make_clotho_layout

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime: the PTB tokenizer and METEOR are Java (Debian: default-jre-headless)")

REFERENCES = [
    ["A dog barks loudly.", "a dog is barking", "Dogs bark, twice!"],
    ["Rain falls on a tin roof.", "rain and thunder", "heavy rain on a roof"],
    ["Birds sing in the morning.", "birds are chirping", "many birds chirp"],
    ["A car engine idles.", "an engine is running", "a motor hums steadily"],
    ["Someone speaks quietly.", "a man talks", "a person is speaking"],
    ["Water runs from a tap.", "water flows", "a faucet runs"],
]
HYPOTHESES = ["A dog barks. ", "Rain falls on a roof", "", "An engine is running.", "A woman sings", "Water flows from a tap."]


@pytest.fixture(scope="module")
def scored():
    """One Java run (the PTB tokenizer, METEOR) for the fixed caption sets."""
    if shutil.which("java") is None:
        pytest.skip("no Java runtime: the PTB tokenizer and METEOR are Java (Debian: default-jre-headless)")
    return cm.score_captions(REFERENCES, HYPOTHESES, n_resamples=300, seed=0)


def _lcs(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def test_metrics_equal_pycocoevalcap_on_the_same_captions(scored):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    refs, hyps = cm.ptb_tokenize(REFERENCES, HYPOTHESES)
    assert hyps[0] == "a dog barks" and refs[0][2] == "dogs bark twice" and hyps[2] == ""  # lower-cased, no punctuation
    gts, res = {i: r for i, r in enumerate(refs)}, {i: [h] for i, h in enumerate(hyps)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    for k in range(4):
        assert scored.metrics[f"BLEU_{k + 1}"] == pytest.approx(bleu[k], rel=1e-12)
    assert scored.metrics["CIDEr-D"] == pytest.approx(Cider().compute_score(gts, res)[0], rel=1e-12)
    assert scored.metrics["ROUGE_L"] == pytest.approx(Rouge().compute_score(gts, res)[0], rel=1e-12)
    assert 0 < scored.metrics["METEOR"] < 1 and scored.per_clip["METEOR"][2] == 0.0  # the empty caption


def test_rouge_l_equals_a_brute_force_lcs(scored):
    """ROUGE-L (beta 1.2): per clip the max over references of the LCS F-measure, by brute force."""
    refs, hyps = cm.ptb_tokenize(REFERENCES, HYPOTHESES)
    expected = []
    for r, h in zip(refs, hyps):
        h = h.split()
        if not h:
            expected.append(0.0)
            continue
        precs = [_lcs(x.split(), h) / len(h) for x in r]
        recs = [_lcs(x.split(), h) / len(x.split()) for x in r]
        p, rec = max(precs), max(recs)
        expected.append(0.0 if p == 0 or rec == 0 else (1 + 1.2**2) * p * rec / (rec + 1.2**2 * p))
    np.testing.assert_allclose(scored.per_clip["ROUGE_L"], expected, rtol=1e-12)


def test_corpus_bleu_on_resamples_equals_pycocoevalcap():
    """clapbench's own aggregation (for the bootstrap) against pycocoevalcap's Bleu on the resampled clip lists."""
    from pycocoevalcap.bleu.bleu import Bleu

    refs = [[r.lower().rstrip(".!") for r in rr] for rr in REFERENCES]
    hyps = [h.lower().strip().rstrip(".") for h in HYPOTHESES]
    stats = cm.bleu_statistics(refs, hyps)
    rng = np.random.default_rng(3)
    rows = np.vstack([np.arange(len(hyps)), rng.integers(0, len(hyps), size=(4, len(hyps)))])
    ours = cm.corpus_bleu(stats, rows)
    for row, values in zip(rows, ours):
        gts = {i: refs[j] for i, j in enumerate(row)}
        res = {i: [hyps[j]] for i, j in enumerate(row)}
        theirs, _ = Bleu(4).compute_score(gts, res, verbose=0)
        np.testing.assert_allclose(values, theirs, rtol=1e-9)
    # BLEU-1 by hand for one clip: 'a dog barks' matches 3 of 3 unigrams, closest reference length 3
    assert cm.corpus_bleu(stats, np.array([[0]]))[0, 0] == pytest.approx(1.0, abs=1e-9)


def test_intervals_bracket_the_scores(scored):
    for name, (lo, hi) in scored.ci95.items():
        if name != "METEOR":
            assert lo <= scored.metrics[name] + 1e-12 and scored.metrics[name] <= hi + 1e-12, name


def test_spice_unavailable_is_said_and_spider_absent(scored):
    reason = cm.spice_missing_reason()
    if reason is None:
        pytest.skip("the CoreNLP 3.6.0 jars are installed here: SPICE runs")
    assert "stanford-corenlp-3.6.0.jar" in reason and "never downloads" in reason
    assert "SPICE" not in scored.metrics and "SPIDEr" not in scored.metrics
    assert scored.unavailable["SPICE"] == reason and scored.unavailable["SPIDEr"].startswith("needs SPICE")


def test_spider_is_the_mean_of_cider_d_and_spice_when_spice_runs():
    refs = [["a dog barks"], ["rain falls"], ["birds sing"]]
    hyps = ["a dog barks", "rain", "a car"]
    spice = np.array([0.5, 0.25, 0.0])
    out = cm.aggregate_scores(refs, hyps, (0.3, [0.4, 0.3, 0.0]), spice, None, n_resamples=50)
    np.testing.assert_allclose(out.per_clip["SPIDEr"], (out.per_clip["CIDEr-D"] + spice) / 2)
    assert out.metrics["SPIDEr"] == pytest.approx((out.metrics["CIDEr-D"] + out.metrics["SPICE"]) / 2)
    assert out.unavailable == {}


# ---- end to end --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def captioning_runs(tmp_path_factory):
    """clotho-captioning run by a tiny clapcap and by a plugin captioner (two Java scoring runs)."""
    if shutil.which("java") is None:
        pytest.skip("no Java runtime: the PTB tokenizer and METEOR are Java (Debian: default-jre-headless)")
    root = tmp_path_factory.mktemp("captioning")
    clotho = make_clotho_layout(root / "data" / "clotho")
    tok = ff.build_gpt2_tokenizer(root / "gpt2")
    ckpt = ff.tiny_clapcap_checkpoint(root / "clapcap_weights_tiny.pth", tok)
    out = root / "results"
    common = ["--tasks", "clotho-captioning", "--data-root", root / "data", "--workers", "0", "--bootstrap", "200", "--save-predictions"]
    runs = {
        "clapcap": run_cli("run", "--model", ckpt, "--tokenizer", tok, "--entry-length", "4", "--output", out, *common),
        "tone": run_cli("run", "--model", "plugins_captioner:tone", "--output", out, *common),
    }
    return root, out, clotho, runs


def _result(out: Path, model: str) -> dict:
    return json.loads((out / model / "clotho-captioning.json").read_text())


def test_run_writes_scores_samples_and_per_item_files(captioning_runs):
    root, out, clotho, runs = captioning_runs
    for name, result in runs.items():
        assert result.exit_code == 0, (name, result.output)
    assert "SPIDEr unavailable" in runs["clapcap"].output or cm.spice_missing_reason() is None
    r = _result(out, "clapcap_weights_tiny")
    assert r["evaluation"] == "captioning" and r["domain"] == "captioning" and r["n_items"] == 5
    assert r["data_root"] == str(clotho)  # found through clotho's folder
    assert r["protocol"]["captioner"]["decoding"]["entry_length"] == 4
    assert r["references_per_clip"] == {"2": 1, "5": 4}  # empty Clotho cells dropped
    if cm.spice_missing_reason() is not None:
        assert r["main_metric"] == "CIDEr-D" and r["task_main_metric"] == "SPIDEr" and "SPIDEr unavailable (needs SPICE" in r["main_metric_note"]
        assert set(r["unavailable_metrics"]) == {"SPICE", "SPIDEr"} and "SPIDEr" not in r["metrics"]
    assert r["main_score"] == r["metrics"][r["main_metric"]]
    samples = r["caption_samples"]
    assert len(samples) == 5 and all(s["references"] for s in samples)
    items = np.load(out / "clapcap_weights_tiny" / r["items_file"])
    preds = pd.read_csv(out / "clapcap_weights_tiny" / "clotho-captioning.predictions.csv", keep_default_na=False)
    # numpy's fixed-width strings drop trailing NULs, which a random tiny GPT-2 can write
    assert list(items["generated"]) == list(preds["generated"].str.rstrip("\x00")) == [s["generated"].rstrip("\x00") for s in samples]
    np.testing.assert_allclose(items["cider_d"].mean(), r["metrics"]["CIDEr-D"], rtol=1e-9)
    assert items["references"][1].split("\n") == samples[1]["references"]
    tone = _result(out, "plugins_captioner.tone")
    assert [s["generated"] for s in tone["caption_samples"]] == [f"A pure tone at {f} Hz." for f in (250, 500, 1000, 2000, 4000)]
    assert tone["metrics"]["CIDEr-D"] > r["metrics"]["CIDEr-D"]


def test_compare_gives_a_paired_verdict_on_two_captioners(captioning_runs):
    _, out, _, _ = captioning_runs
    items = {m: np.load(next((out / m).glob("*.items.npz"))) for m in ("plugins_captioner.tone", "clapcap_weights_tiny")}
    assert list(items["plugins_captioner.tone"]["ids"]) == list(items["clapcap_weights_tiny"]["ids"])  # the same clips, paired
    diff = items["clapcap_weights_tiny"]["values"].mean() - items["plugins_captioner.tone"]["values"].mean()
    result = run_cli("compare", out / "plugins_captioner.tone", out / "clapcap_weights_tiny", "--json", out / "cmp.json", "--bootstrap", "500")
    assert result.exit_code == 1, result.output  # the random tiny clapcap regressed against the tone captioner
    row = json.loads((out / "cmp.json").read_text())["tasks"][0]
    assert row["task"] == "clotho-captioning" and row["paired"] is True and row["verdict"] == "regressed"
    assert row["diff"] == pytest.approx(diff, rel=1e-9) and row["n_items"] == 5


def test_models_without_a_captioner_skip_captioning_with_one_line(captioning_runs, tmp_path):
    root, _, _, _ = captioning_runs
    ckpt = ff.tiny_msclap_checkpoint(tmp_path / "CLAP_weights_tiny_2023.pth", root / "gpt2", "2023")
    result = run_cli("run", "--model", ckpt, "--tokenizer", root / "gpt2", "--tasks", "clotho-captioning", "--data-root", root / "data", "--output", tmp_path / "out", "--workers", "0")
    assert result.exit_code == 0, result.output
    assert "clotho-captioning: skipped, the model has no captioner" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.json"))


def test_a_captioner_without_text_encoder_skips_retrieval(captioning_runs, tmp_path):
    root, _, _, _ = captioning_runs
    result = run_cli("run", "--model", root / "clapcap_weights_tiny.pth", "--tokenizer", root / "gpt2", "--tasks", "clotho", "--data-root", root / "data", "--output", tmp_path / "out", "--workers", "0")
    assert result.exit_code == 0 and "clotho: skipped, the model has no text encoder" in " ".join(result.output.split())


def test_leaderboard_has_a_captioning_domain_and_the_group_says_what_it_covers(captioning_runs):
    _, out, _, _ = captioning_runs
    result = run_cli("leaderboard", out, "--tasks", "msclap-2023", "-o", out / "board.csv")
    assert result.exit_code == 0, result.output
    board = pd.read_csv(out / "board.csv")
    assert "captioning/clotho-captioning" in board.columns and "captioning/mean" in board.columns
    text = " ".join(result.output.split())
    n = len([s for s in registry().values() if "msclap-2023" in s.groups])
    assert f"covers 1 of its {n} tasks" in text and "missing: " in text


def test_report_shows_generated_and_reference_captions(captioning_runs):
    _, out, _, _ = captioning_runs
    result = run_cli("report", out, "-o", out / "report.html")
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert "A pure tone at 2000 Hz." in html and "a pure tone at 2000 Hz" in html


def test_without_java_the_run_stops_with_one_message(monkeypatch, tmp_path):
    monkeypatch.setattr(cm.shutil, "which", lambda name: None)
    clotho = make_clotho_layout(tmp_path / "clotho")
    result = run_cli("run", "--model", "plugins_captioner:tone", "--tasks", "clotho-captioning", "--data", f"clotho={clotho}", "--output", tmp_path / "out", "--workers", "0")
    assert result.exit_code == 2 and "no Java runtime" in result.output
    assert not list((tmp_path / "out").rglob("*.json"))


def test_task_files_and_the_msclap_group():
    reg = registry()
    for name in ("clotho-captioning", "audiocaps-captioning"):
        spec = reg[name]
        assert spec.eval_type == "captioning" and spec.domain == "captioning" and "msclap-2023" in spec.groups
        assert spec.main_metric == "SPIDEr" and spec.evaluation["fallback_main_metric"] == "CIDEr-D"
    group = [s for s in reg.values() if "msclap-2023" in s.groups]
    kinds = [s.eval_type for s in group]
    assert (kinds.count("zero-shot-classification"), kinds.count("retrieval"), kinds.count("captioning")) == (20, 2, 2)
