"""Captioning metrics as DCASE and the COCO caption tools compute them, through pycocoevalcap.

All captions (generated and references) go through the Stanford PTB tokenizer that pycocoevalcap ships
(``stanford-corenlp-3.4.1.jar``: lower-cased, punctuation removed), then BLEU-1..4 (corpus level, closest
reference length), METEOR 1.5 (corpus level, ``-norm``), ROUGE-L and CIDEr-D (means of per-clip scores;
CIDEr-D's document frequencies come from all the references of the evaluated clips), SPICE and
SPIDEr = (CIDEr-D + SPICE) / 2. The tokenizer and METEOR need a Java runtime. SPICE also needs the Stanford
CoreNLP 3.6.0 jars, which pycocoevalcap downloads on first use: clapbench never downloads, so without them
SPICE (and SPIDEr) are reported unavailable, with the reason.

Intervals: each metric is recomputed on resamples of the clips. BLEU from the clips' n-gram statistics
(``corpus_bleu``: pycocoevalcap's aggregation, checked against it in the tests); ROUGE-L, CIDEr-D, SPICE
and SPIDEr as means of per-clip scores, with the corpus document frequencies held fixed; METEOR as the
mean of per-clip segment scores (the corpus score aggregates statistics and is not that mean).
"""

from __future__ import annotations

import atexit
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from clapbench.errors import ClapbenchError
from clapbench.evaluations.metrics import evaluate_metrics

BLEU = ("BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4")
ALL_METRICS = (*BLEU, "METEOR", "ROUGE_L", "CIDEr-D", "SPICE", "SPIDEr")
NEEDS_SPICE = ("SPICE", "SPIDEr")
CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")


class JavaMissing(ClapbenchError):
    """Captioning metrics need a Java runtime (the PTB tokenizer and METEOR are Java programs)."""


def package_dir() -> Path:
    import pycocoevalcap

    return Path(list(pycocoevalcap.__path__)[0])


def java_missing_reason() -> str | None:
    if shutil.which("java") is None:
        return "no Java runtime on PATH (the PTB tokenizer and METEOR are Java programs; Debian: apt-get install default-jre-headless)"
    return None


def spice_missing_reason() -> str | None:
    """Why SPICE cannot run here, or None when it can."""
    java = java_missing_reason()
    if java:
        return java
    lib = package_dir() / "spice" / "lib"
    missing = [name for name in CORENLP_JARS if not (lib / name).is_file()]
    if missing:
        return (
            f"SPICE needs the Stanford CoreNLP 3.6.0 jars ({', '.join(missing)}) in {lib}; pycocoevalcap downloads them "
            "on first use and clapbench never downloads (copy them from stanford-corenlp-full-2015-12-09.zip)"
        )
    return None


@dataclass
class CaptionScores:
    """Scores of generated captions against their references."""

    metrics: dict[str, float]
    ci95: dict[str, list[float]]
    per_clip: dict[str, np.ndarray]  # ROUGE_L, CIDEr-D, METEOR (and SPICE, SPIDEr when available), one value per clip
    tokenized_hypotheses: list[str]
    unavailable: dict[str, str] = field(default_factory=dict)  # metric -> why it was not computed


def ptb_tokenize(references: list[list[str]], hypotheses: list[str]) -> tuple[list[list[str]], list[str]]:
    """Both sets through one run of the PTB tokenizer (one Java start)."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    entries = {f"r{i}": [{"caption": c} for c in refs] for i, refs in enumerate(references)}
    entries.update({f"h{i}": [{"caption": c if c.strip() else " "}] for i, c in enumerate(hypotheses)})
    tokens = PTBTokenizer().tokenize(entries)
    return [tokens[f"r{i}"] for i in range(len(references))], [tokens[f"h{i}"][0] for i in range(len(hypotheses))]


def bleu_statistics(references: list[list[str]], hypotheses: list[str]) -> np.ndarray:
    """(n, 10) per clip: hypothesis length, closest reference length, guessed and correct n-grams for n = 1..4."""
    from pycocoevalcap.bleu.bleu_scorer import BleuScorer

    scorer = BleuScorer(n=4)
    for hyp, refs in zip(hypotheses, references):
        scorer += (hyp, refs)
    rows = []
    for comps in scorer.ctest:
        testlen = comps["testlen"]
        reflen = min((abs(length - testlen), length) for length in comps["reflen"])[1]  # "closest", as Bleu uses
        rows.append([testlen, reflen, *comps["guess"], *comps["correct"]])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 10)


def corpus_bleu(stats: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(B, 4) corpus BLEU-1..4 of each row of clip indices, aggregated as pycocoevalcap's BleuScorer does."""
    small, tiny = 1e-9, 1e-15
    total = stats[idx].sum(axis=1)  # (B, 10)
    testlen, reflen, guess, correct = total[:, 0], total[:, 1], total[:, 2:6], total[:, 6:10]
    precisions = np.cumprod((correct + tiny) / (guess + small), axis=1)
    bleu = precisions ** (1.0 / np.arange(1, 5))
    ratio = (testlen + tiny) / (reflen + small)
    penalty = np.where(ratio < 1, np.exp(1 - 1 / np.minimum(ratio, 1)), 1.0)
    return bleu * penalty[:, None]


def score_captions(references: list[list[str]], hypotheses: list[str], n_resamples: int = 1000, seed: int = 0) -> CaptionScores:
    """Every metric that can run here, with percentile bootstrap intervals over the clips."""
    reason = java_missing_reason()
    if reason:
        raise JavaMissing(f"captioning metrics cannot run: {reason}")
    refs, hyps = ptb_tokenize(references, hypotheses)
    gts, res = _coco_format(refs, hyps)
    meteor_scores = _meteor().compute_score(gts, res)
    why = spice_missing_reason()
    spice = _spice(gts, res) if why is None else None
    return aggregate_scores(refs, hyps, meteor_scores, spice, why, n_resamples, seed)


def _coco_format(refs: list[list[str]], hyps: list[str]) -> tuple[dict, dict]:
    return {i: r for i, r in enumerate(refs)}, {i: [h] for i, h in enumerate(hyps)}


def aggregate_scores(refs: list[list[str]], hyps: list[str], meteor: tuple[float, list[float]], spice: np.ndarray | None,
                     spice_reason: str | None, n_resamples: int = 1000, seed: int = 0) -> CaptionScores:
    """The metrics from PTB-tokenised captions and the Java scorers' outputs (METEOR; SPICE or why not)."""
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    gts, res = _coco_format(refs, hyps)
    stats = bleu_statistics(refs, hyps)
    per_clip = {
        "METEOR": np.asarray(meteor[1], dtype=np.float64),
        "ROUGE_L": np.asarray(Rouge().compute_score(gts, res)[1], dtype=np.float64),
        "CIDEr-D": np.asarray(Cider().compute_score(gts, res)[1], dtype=np.float64),
    }
    unavailable = {}
    if spice is not None:
        per_clip["SPICE"] = np.asarray(spice, dtype=np.float64)
        per_clip["SPIDEr"] = (per_clip["CIDEr-D"] + per_clip["SPICE"]) / 2
    else:
        unavailable = {"SPICE": str(spice_reason), "SPIDEr": f"needs SPICE: {spice_reason}"}

    table = {name: (lambda y, s, idx, k=k: corpus_bleu(stats, idx)[:, k]) for k, name in enumerate(BLEU)}
    table.update({name: (lambda y, s, idx, v=values: v[idx].mean(axis=1)) for name, values in per_clip.items()})
    names = [m for m in ALL_METRICS if m in table]
    n = len(hyps)
    metrics, ci95 = evaluate_metrics(names, table, np.arange(n), np.zeros((n, 1)), n_resamples=n_resamples, seed=seed)
    metrics["METEOR"] = float(meteor[0])  # the corpus score, as pycocoevalcap and DCASE report it
    return CaptionScores(metrics, ci95, per_clip, hyps, unavailable)


def _spice(gts, res) -> np.ndarray:
    from pycocoevalcap.spice.spice import Spice

    _, scores = Spice().compute_score(gts, res)
    return np.asarray([s["All"]["f"] for s in scores], dtype=np.float64)


@lru_cache(maxsize=1)
def _meteor():
    """One METEOR process per clapbench process: it loads a 60 MB paraphrase table at start, so the tasks of a
    run (and the tests) share it; it is stopped at exit."""
    from pycocoevalcap.meteor.meteor import Meteor

    meteor = Meteor()
    atexit.register(_close_meteor, meteor)
    return meteor


def _close_meteor(meteor) -> None:
    """Stop METEOR's Java process now rather than at garbage collection."""
    proc = getattr(meteor, "meteor_p", None)
    if proc is not None and proc.poll() is None:
        try:
            proc.stdin.close()
            proc.kill()
            proc.wait(timeout=10)
        except (OSError, ValueError):
            pass
