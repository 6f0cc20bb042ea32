"""Linear probe: separable synthesized classes reach high accuracy, equal to scikit-learn run here on the
same embeddings and folds; the test fold never reaches model selection; results are seeded."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from toy_models import SR, SpectrumModel, clip_features, loaded_model  # noqa: F401
from conftest import run_cli
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.multiclass import OneVsRestClassifier
from threadpoolctl import threadpool_limits

from clapbench.audio.decode import load_audio
from clapbench.audio.synth import DEMO_CLASSES, make_esc50_layout, synth_sound
from clapbench.evaluations import linear_probe
from clapbench.models.contract import LoadedModel

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_blas_thread():
    """The reference fits here run single-threaded like the probe's (many small BLAS calls are far
    slower with threads on a shared machine), which also makes their rounding the same."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    """ESC-50 layout, 6 synthesized classes x 10 clips of 1 s, 2 clips per class in each of 5 folds."""
    return make_esc50_layout(tmp_path_factory.mktemp("probe") / "ESC-50-master", clips_per_class=10, seconds=1.0, sample_rate=SR, seed=3)


def reference_embeddings(root: Path, paths: list[str]) -> np.ndarray:
    """The embeddings computed here, outside clapbench's loader, L2-normalised as the probe does."""
    model = SpectrumModel()
    emb = np.stack([model.embed_audio([load_audio(str(root / p), SR)])[0] for p in paths]).astype(np.float64)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def esc50_items(root: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    with open(root / "meta" / "esc50.csv") as fh:
        rows = list(csv.DictReader(fh))
    return [f"audio/{r['filename']}" for r in rows], np.array([int(r["target"]) for r in rows]), np.array([r["fold"] for r in rows])


def reference_lr(c: float) -> LogisticRegression:
    """The probe's classifier: solved to the optimum (Newton-CG to 1e-10), so the fit depends on the data only."""
    return LogisticRegression(C=c, solver="newton-cg", tol=1e-10, max_iter=1000)


def choose_c(grid, val_scores, n_val: int) -> float:
    """The smallest C among those within half of one validation item's weight of the best score."""
    return min(c for c, v in zip(grid, val_scores) if v >= max(val_scores) - 0.5 / n_val)


def sklearn_fold(X, y, train, val, test, grid):
    """The protocol written out with scikit-learn alone: choose C on val, refit on train, score test."""
    fit = np.setdiff1d(train, val)
    val_acc = [reference_lr(c).fit(X[fit], y[fit]).score(X[val], y[val]) for c in grid]
    best = choose_c(grid, val_acc, len(val))
    return best, reference_lr(best).fit(X[train], y[train]).score(X[test], y[test])


def test_probe_separates_classes_and_matches_sklearn(synth_dir, tmp_path):
    out = tmp_path / "results"
    res = run_cli("run", "--model", "toy_models:spectrum_model", "--tasks", "esc50", "--data", f"esc50={synth_dir}",
                  "--output", out, "--eval", "linear-probe", "--workers", "0", "--no-cache", "--save-predictions")
    assert res.exit_code == 0, res.output
    result = json.loads((out / "toy_models.spectrum_model" / "esc50.linear-probe.json").read_text())
    assert result["evaluation"] == "linear-probe" and result["variant"] == "linear-probe"
    probe = result["probe"]
    assert probe["split_protocol"].startswith("leave-one-fold-out") and len(probe["folds"]) == 5

    paths, y, folds = esc50_items(synth_dir)
    X = reference_embeddings(synth_dir, paths)
    order = ["1", "2", "3", "4", "5"]
    expected_acc = []
    for k, fold in enumerate(order):
        train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        val = np.flatnonzero(folds == order[(k + 1) % 5])
        best_c, acc = sklearn_fold(X, y, train, val, test, probe["c_grid"])
        record = probe["folds"][k]
        assert record["test_folds"] == [fold] and record["validation"].startswith(f"fold {order[(k + 1) % 5]}")
        assert record["C"] == best_c
        assert record["metrics"]["accuracy"] == pytest.approx(acc, abs=1e-12)
        expected_acc.append(acc)
    assert result["main_score"] == pytest.approx(np.mean(expected_acc), abs=1e-12)
    assert result["fold_std"]["accuracy"] == pytest.approx(np.std(expected_acc, ddof=1), abs=1e-12)
    assert result["main_score"] >= 0.9  # the classes differ in spectrum; a probe on band energies separates them
    lo, hi = result["ci95"]["accuracy"]
    assert lo <= result["main_score"] <= hi
    rows = (out / "toy_models.spectrum_model" / "esc50.linear-probe.predictions.csv").read_text().splitlines()
    assert len(rows) == 61 and rows[0].startswith("path,fold,label,prediction")


def test_test_fold_never_reaches_model_selection(synth_dir, tmp_path, monkeypatch):
    """Record the items every fit and every prediction sees; per probe, the test fold appears only
    in the one prediction after the final refit."""
    paths, y, folds = esc50_items(synth_dir)
    X = reference_embeddings(synth_dir, paths)
    calls: list[tuple[str, frozenset]] = []

    def rows_of(A):
        dist = ((np.asarray(A)[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
        assert dist.min(axis=1).max() < 1e-18  # every row is one of the dataset's clips
        return frozenset(dist.argmin(axis=1).tolist())

    real_fit, real_proba = LogisticRegression.fit, LogisticRegression.predict_proba

    def fit(self, A, b, *args, **kwargs):
        calls.append(("fit", rows_of(A)))
        return real_fit(self, A, b, *args, **kwargs)

    def predict_proba(self, A):
        calls.append(("predict", rows_of(A)))
        return real_proba(self, A)

    monkeypatch.setattr(LogisticRegression, "fit", fit)
    monkeypatch.setattr(LogisticRegression, "predict_proba", predict_proba)
    result = run_probe(synth_dir, tmp_path)

    grid = result["probe"]["c_grid"]
    per_probe = 2 * len(grid) + 2  # (fit, predict) per C, the final fit, the test prediction
    assert len(calls) == 5 * per_probe
    for k, fold in enumerate(["1", "2", "3", "4", "5"]):
        chunk = calls[k * per_probe : (k + 1) * per_probe]
        test = frozenset(np.flatnonzero(folds == fold).tolist())
        selection, (final_fit, final_predict) = chunk[:-2], chunk[-2:]
        assert final_predict == ("predict", test)
        assert final_fit == ("fit", frozenset(range(len(y))) - test)
        for kind, rows in selection:
            assert not rows & test, f"fold {fold}: the test fold reached model selection ({kind})"
        fits = {rows for kind, rows in selection if kind == "fit"}
        predicts = {rows for kind, rows in selection if kind == "predict"}
        assert len(fits) == 1 and len(predicts) == 1
        (fit_rows,), (val_rows,) = fits, predicts
        assert not fit_rows & val_rows and fit_rows | val_rows == final_fit[1]


def run_probe(data: Path, tmp_path: Path, task: str = "esc50", probe_seed: int = 0, tasks_dir: Path | None = None, evals: str = "linear-probe", extra=()):
    out = tmp_path / f"results-{task}-{probe_seed}"
    args = ["run", "--model", "toy_models:spectrum_model", "--tasks", task, "--data", f"{task}={data}", "--output", out,
            "--eval", evals, "--workers", "0", "--no-cache", "--probe-seed", str(probe_seed), "--overwrite", *extra]
    if tasks_dir is not None:
        args += ["--tasks-dir", tasks_dir]
    res = run_cli(*args)
    assert res.exit_code == 0, res.output
    return json.loads((out / "toy_models.spectrum_model" / f"{task}.linear-probe.json").read_text())


def write_task(tasks_dir: Path, name: str, changes: dict) -> Path:
    """A task file derived from the built-in esc50.yaml with some keys replaced."""
    raw = yaml.safe_load((ROOT / "tasks" / "esc50.yaml").read_text())
    raw["name"] = name
    for dotted, value in changes.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    tasks_dir.mkdir(parents=True, exist_ok=True)
    (tasks_dir / f"{name}.yaml").write_text(yaml.safe_dump(raw))
    return tasks_dir


def fold_records(result):
    return [{k: r[k] for k in ("test_folds", "C", "validation_scores", "metrics")} for r in result["probe"]["folds"]]


def test_official_split_is_used_and_results_are_reproducible_under_the_seed(synth_dir, tmp_path):
    tasks_dir = write_task(tmp_path / "tasks", "esc50split", {"evaluation.linear_probe": {"train_folds": [1, 2, 3], "test_folds": [4, 5]}})
    first = run_probe(synth_dir, tmp_path / "a", "esc50split", probe_seed=7, tasks_dir=tasks_dir, extra=("--save-predictions",))
    again = run_probe(synth_dir, tmp_path / "b", "esc50split", probe_seed=7, tasks_dir=tasks_dir)
    assert fold_records(first) == fold_records(again) and first["ci95"] == again["ci95"]
    (record,) = first["probe"]["folds"]
    assert record["test_folds"] == ["4", "5"] and record["train_folds"] == ["1", "2", "3"]
    assert record["n_test"] == 24 and record["n_train"] == 36 and record["n_validation"] + record["n_selection_fit"] == 36
    assert record["validation"] == "seeded split of the training items" and first["probe"]["seed"] == 7
    assert first["fold_std"]["accuracy"] is None
    rows = list(csv.DictReader(open(tmp_path / "a" / "results-esc50split-7" / "toy_models.spectrum_model" / "esc50split.linear-probe.predictions.csv")))
    assert sorted({r["fold"] for r in rows}) == ["4", "5"] and len(rows) == 24

    # The carved validation split follows the seed: the same selection is recomputed here.
    paths, y, folds = esc50_items(synth_dir)
    X = reference_embeddings(synth_dir, paths)
    train, test = np.flatnonzero(np.isin(folds, ["1", "2", "3"])), np.flatnonzero(np.isin(folds, ["4", "5"]))
    val = linear_probe.carve_validation(train, y, False, 7)
    best_c, acc = sklearn_fold(X, y, train, val, test, first["probe"]["c_grid"])
    assert record["C"] == best_c and record["metrics"]["accuracy"] == pytest.approx(acc, abs=1e-12)

    # Leave-one-fold-out is reproducible too.
    lofo = [run_probe(synth_dir, tmp_path / d, probe_seed=3) for d in ("c", "d")]
    assert fold_records(lofo[0]) == fold_records(lofo[1])


def test_multilabel_probe_reports_map_matching_sklearn(tmp_path):
    """Clips mixing one or two synthesized sounds; one-vs-rest probes scored by mAP."""
    root = tmp_path / "mix"
    (root / "audio").mkdir(parents=True)
    rng = np.random.default_rng(5)
    rows = []
    for i in range(48):
        k = 1 + i % 2
        classes = sorted(rng.choice(len(DEMO_CLASSES), size=k, replace=False).tolist())
        wave = sum(synth_sound(DEMO_CLASSES[c], 1.0, SR, rng) for c in classes)
        sf.write(root / "audio" / f"clip{i:03d}.wav", wave / len(classes), SR)
        rows.append([f"clip{i:03d}.wav", "|".join(DEMO_CLASSES[c] for c in classes), str(i % 4 + 1)])
    with open(root / "meta.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["filename", "labels", "fold"], *rows])
    tasks_dir = write_task(tmp_path / "tasks", "mixes", {
        "dataset": {"reader": "csv", "metadata": "meta.csv", "audio_dir": "audio", "path_column": "filename",
                    "label_column": "labels", "label_separator": "|", "fold_column": "fold", "folds": [1, 2, 3, 4]},
        "classes": {"count": 6, "names": DEMO_CLASSES},
        "evaluation": {"type": "zero-shot-classification", "multilabel": True, "metrics": ["mAP"], "main_metric": "mAP"},
    })
    result = run_probe(root, tmp_path, "mixes", tasks_dir=tasks_dir)
    assert result["multilabel"] and result["main_metric"] == "mAP"

    X = reference_embeddings(root, [f"audio/{r[0]}" for r in rows])
    Y = np.zeros((48, 6), dtype=int)
    for i, r in enumerate(rows):
        Y[i, [DEMO_CLASSES.index(c) for c in r[1].split("|")]] = 1
    folds = np.array([r[2] for r in rows])

    def mean_ap(Yt, S):
        return np.mean([average_precision_score(Yt[:, c], S[:, c]) for c in range(6) if Yt[:, c].any()])

    def ovr(c, A, B):
        return OneVsRestClassifier(reference_lr(c)).fit(A, B)

    grid = result["probe"]["c_grid"]
    expected = []
    for k, fold in enumerate("1234"):
        train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        val = np.flatnonzero(folds == "1234"[(k + 1) % 4])
        fit = np.setdiff1d(train, val)
        scores = [mean_ap(Y[val], ovr(c, X[fit], Y[fit]).predict_proba(X[val])) for c in grid]
        best = choose_c(grid, scores, len(val))
        value = mean_ap(Y[test], ovr(best, X[train], Y[train]).predict_proba(X[test]))
        assert result["probe"]["folds"][k]["C"] == best
        assert result["probe"]["folds"][k]["metrics"]["mAP"] == pytest.approx(value, abs=1e-6)
        expected.append(value)
    assert result["main_score"] == pytest.approx(np.mean(expected), abs=1e-6)
    assert result["main_score"] > 0.8


def test_zero_shot_and_probe_share_one_embedding_pass(synth_dir, tmp_path):
    out, cache = tmp_path / "results", tmp_path / "cache"
    before = SpectrumModel.embedded_clips
    res = run_cli("run", "--model", "toy_models:spectrum_model", "--tasks", "esc50", "--data", f"esc50={synth_dir}",
                  "--output", out, "--eval", "zero-shot,linear-probe", "--workers", "0", "--cache-dir", cache)
    assert res.exit_code == 0, res.output
    assert SpectrumModel.embedded_clips - before == 60  # once, for both evaluations
    folder = out / "toy_models.spectrum_model"
    zero_shot = json.loads((folder / "esc50.json").read_text())
    probe = json.loads((folder / "esc50.linear-probe.json").read_text())
    assert zero_shot["evaluation"] == "zero-shot-classification" and zero_shot["variant"] is None and probe["variant"] == "linear-probe"
    for result in (zero_shot, probe):
        assert result["embedding_cache"]["audio_computed"] == 60 and result["embedding_cache"]["audio_from_cache"] == 0
    assert "templates" not in probe["protocol"] and probe["protocol"]["clip_seconds"] == 1.0

    # one board per evaluation: a mean over zero-shot and probe scores together would mean nothing
    for evaluation, result in (("zero-shot", zero_shot), ("linear-probe", probe)):
        board = run_cli("leaderboard", out, "--eval", evaluation, "-o", tmp_path / f"{evaluation}.csv")
        assert board.exit_code == 0, board.output
        header, row = (tmp_path / f"{evaluation}.csv").read_text().splitlines()[:2]
        assert header.split(",") == ["model", "family", "sound-events/esc50", "sound-events/esc50:marks", "mean", "mean:marks", "complete"]
        assert float(row.split(",")[2]) == round(result["main_score"], 4)


def test_probe_input_errors_exit_2_with_one_message(synth_dir, tmp_path):
    base = ["run", "--model", "toy_models:spectrum_model", "--data", f"esc50={synth_dir}", "--output", tmp_path / "r", "--workers", "0", "--no-cache"]
    res = run_cli(*base, "--tasks", "esc50", "--eval", "zero-shot,probe")
    assert res.exit_code == 2 and "--eval" in res.output and "linear-probe" in res.output
    res = run_cli(*base, "--tasks", "esc50", "--eval", "linear-probe", "--folds", "1")
    assert res.exit_code == 2 and "--folds" in res.output and "Traceback" not in res.output
    res = run_cli(*base, "--tasks", "esc50", "--eval", "linear-probe", "--limit", "3")
    assert res.exit_code == 2 and "error: task esc50, test fold" in res.output and "Traceback" not in res.output
    tasks_dir = write_task(tmp_path / "tasks", "nofolds", {"dataset.fold_column": None, "dataset.folds": []})
    res = run_cli(*base, "--tasks", "nofolds", "--data", f"nofolds={synth_dir}", "--eval", "linear-probe", "--tasks-dir", tasks_dir)
    assert res.exit_code == 2 and "official folds" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r" / "toy_models.spectrum_model" / "nofolds.linear-probe.json").exists()


def cone_embeddings(n_per_class: int, n_classes: int, dim: int, seed: int):
    """(dataset, embeddings) shaped like a CLAP's: every clip near one mean direction, class structure in a
    spectrum decaying over 3 decades. Ill-conditioned, so a probe stopped short of its optimum is fragile."""
    from clapbench.data.dataset import Dataset, Item

    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    spread = (rng.standard_normal((len(y), dim)) + rng.standard_normal((n_classes, dim))[y]) * np.geomspace(1, 1e-3, dim)
    X = 0.1 * spread + rng.standard_normal(dim)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    items = [Item(f"clip{i:03d}.wav", (int(c),), str(i % 5 + 1)) for i, c in enumerate(y)]
    return Dataset(ROOT, [f"class{c}" for c in range(n_classes)], items, ["1", "2", "3", "4", "5"]), X.astype(np.float32)


def test_probe_predictions_ignore_float_noise_in_the_embeddings():
    """1e-7 noise (what another batch size changes, see README) leaves every fold's C and every prediction as
    they were. Before the probe was solved to its optimum, 4 of these 5 perturbations changed something."""
    from rich.console import Console

    from clapbench.evaluations import TaskContext
    from clapbench.registry import registry
    from clapbench.runner import RunOptions

    dataset, X = cone_embeddings(12, 6, 32, seed=0)
    spec, options = registry()["esc50"], RunOptions(output=ROOT / "unused", n_resamples=0, evaluations=["linear-probe"])  # nothing is written
    loaded = LoadedModel(model=None, model_id="given", path="given", kind="plugin", sha256=None, device="cpu", dtype="float32", preprocessing={})

    def probe(emb):
        out = linear_probe.evaluate_linear_probe(TaskContext(spec, dataset, loaded, options, Console(quiet=True), _audio=emb))
        return [f["C"] for f in out.extra["probe"]["folds"]], out.predictions["prediction"].tolist(), out.metrics

    chosen, predicted, metrics = probe(X)
    assert len(set(chosen)) > 1  # the selection is not trivially one end of the grid
    for seed in range(5):
        noisy = (X + 1e-7 * np.random.default_rng(100 + seed).standard_normal(X.shape)).astype(np.float32)
        assert probe(noisy) == (chosen, predicted, metrics), f"perturbation {seed}"

