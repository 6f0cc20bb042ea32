"""Linear probe: logistic regression on frozen, L2-normalised audio embeddings, on the official folds.

Protocol (the same for every classification task):

- Splits. A task that declares an official train/test split (``evaluation.linear_probe.train_folds``
  / ``test_folds`` / optional ``validation_folds``, or ``dataset.splits: {train, validation, test}``,
  in fold names) is scored on it. Otherwise its official folds are used leave-one-fold-out
  (ESC-50: 5 probes), never a random K-fold, which would put takes of one recording on both sides.
- Model selection. The inverse regularisation strength C is chosen from a stated grid on a
  validation split carved from the training folds only: the declared validation folds; else, with
  three or more folds, the training fold that follows the test fold in the official order (HEAR's
  convention); else a seeded 20% split of the training items (stratified when every class has two
  items). Validation scores within half of one validation item's weight of the best are ties, won
  by the smallest C. The probe is then refit on all training items with the chosen C and only that
  model ever sees the test fold. Every fit is solved to its optimum (Newton-CG, tol 1e-10), so float
  noise in the embeddings (another batch size) moves probabilities by noise, not decisions.
- Scores. Single-label: multinomial logistic regression, metrics on its class probabilities.
  Multi-label: one-vs-rest logistic regression, mAP. The reported metrics are means over test folds
  (the usual cross-validation number) with their standard deviation and per-fold values; the 95%
  interval is a percentile bootstrap of that mean, resampling test items within each fold, each
  item scored by its own fold's probe.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from clapbench.data.dataset import Dataset
from clapbench.errors import TaskError
from clapbench.evaluations import Outcome, PairedItems, TaskContext, evaluation
from clapbench.embedding import l2_normalize
from clapbench.evaluations.metrics import MULTI_LABEL, SINGLE_LABEL, Metric
from clapbench.registry import TaskSpec

C_GRID = [1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4]
MAX_ITER = 1000
# The fit is the optimum of a strictly convex problem, a continuous function of the embeddings, only when
# solved to the end: lbfgs stopped at its default tol=1e-4 returns a point on its path, and 1e-7 noise in
# the embeddings (another batch size) changed that path enough to flip predictions and the chosen C.
# Newton-CG reaches 1e-10 in ~10 iterations; it is deterministic (no random state) on one BLAS thread.
SOLVER = "newton-cg"
TOL = 1e-10
VALIDATION_FRACTION = 0.2


@dataclass
class ProbeSplit:
    """One probe: which items train it, which choose C, which test it (indices into the dataset)."""

    test_folds: list[str]
    train_folds: list[str]
    train: np.ndarray  # every training item; the final refit uses all of them
    test: np.ndarray
    validation: np.ndarray | None  # a subset of train; None: carve one from train
    validation_source: str


def probe_splits(spec: TaskSpec, dataset: Dataset) -> tuple[str, list[ProbeSplit]]:
    """(protocol name, splits) from the task's declared split, else its official folds."""
    folds = np.array([item.fold for item in dataset.items], dtype=object)
    present = [f for f in dataset.folds if (folds == f).any()] or sorted({f for f in folds if f is not None})
    declared = _declared_split(spec)
    if declared is not None:
        for role, names in declared.items():
            unknown = [f for f in names if f not in present]
            if unknown:
                raise TaskError(f"{spec.source_file}: linear-probe {role} fold '{unknown[0]}' is not among the dataset's folds ({', '.join(present) or 'none'})")
        train_folds = declared["train"] + declared.get("validation", [])
        train = np.flatnonzero(np.isin(folds, train_folds))
        test = np.flatnonzero(np.isin(folds, declared["test"]))
        if "validation" in declared:
            validation, source = np.flatnonzero(np.isin(folds, declared["validation"])), f"official validation fold(s) {', '.join(declared['validation'])}"
        else:
            validation, source = None, "seeded split of the training items"
        return "official train/test split", [ProbeSplit(declared["test"], train_folds, train, test, validation, source)]
    if len(present) < 2:
        raise TaskError(
            f"task {spec.name}: a linear probe needs official folds (two or more) or a declared train/test split "
            f"(evaluation.linear_probe.train_folds/test_folds in {spec.source_file}); the dataset has {len(present)} fold(s)"
        )
    splits = []
    for k, fold in enumerate(present):
        others = [f for f in present if f != fold]
        train = np.flatnonzero(np.isin(folds, others))
        if len(present) >= 3:
            val_fold = present[(k + 1) % len(present)]
            validation, source = np.flatnonzero(folds == val_fold), f"fold {val_fold} (the training fold after the test fold)"
        else:
            validation, source = None, "seeded split of the training items"
        splits.append(ProbeSplit([fold], others, train, np.flatnonzero(folds == fold), validation, source))
    return "leave-one-fold-out over the official folds", splits


def _declared_split(spec: TaskSpec) -> dict[str, list[str]] | None:
    cfg = spec.evaluation.get("linear_probe") or {}
    if "train_folds" in cfg or "test_folds" in cfg:
        raw = {"train": cfg.get("train_folds"), "validation": cfg.get("validation_folds"), "test": cfg.get("test_folds")}
    elif spec.dataset.get("splits"):
        s = spec.dataset["splits"]
        raw = {"train": s.get("train"), "validation": s.get("validation", s.get("val")), "test": s.get("test")}
    else:
        return None
    if not raw["train"] or not raw["test"]:
        raise TaskError(f"{spec.source_file}: a declared linear-probe split needs both train and test folds")
    return {role: [str(f) for f in (v if isinstance(v, list) else [v])] for role, v in raw.items() if v}


def make_probe(C: float, multilabel: bool, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    base = LogisticRegression(C=C, solver=SOLVER, tol=TOL, max_iter=MAX_ITER, random_state=seed)
    return OneVsRestClassifier(base) if multilabel else base


def fit_probe(X: np.ndarray, Y: np.ndarray, C: float, multilabel: bool, seed: int, where: str):
    if not multilabel and len(np.unique(Y)) < 2:
        raise TaskError(f"{where}: the training items hold a single class; a linear probe needs at least two")
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    probe = make_probe(C, multilabel, seed)
    # One BLAS/OpenMP thread: lbfgs makes many small BLAS calls, and extra threads made fits ~10x
    # slower on a shared machine (measured on 1600x512, 50 classes) for no gain on a free one.
    with threadpool_limits(limits=1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        probe.fit(X, Y)
    not_converged = sum(1 for w in caught if w.category.__name__ == "ConvergenceWarning")
    return probe, not_converged


def probe_scores(probe, X: np.ndarray, n_classes: int, multilabel: bool) -> np.ndarray:
    """(n, n_classes) class probabilities; a class absent from training scores 0."""
    proba = probe.predict_proba(X)
    if multilabel:
        return np.asarray(proba, dtype=np.float64)
    out = np.zeros((len(X), n_classes))
    out[:, probe.classes_] = proba
    return out


def carve_validation(train: np.ndarray, Y: np.ndarray, multilabel: bool, seed: int, where: str = "") -> np.ndarray:
    """A seeded validation subset of the training items, stratified by class when possible."""
    from sklearn.model_selection import train_test_split

    if len(train) < 5:
        raise TaskError(f"{where}: {len(train)} training item(s); too few to carve a validation split for choosing C")
    labels = None
    if not multilabel:
        counts = np.bincount(Y[train])
        if (counts[counts > 0] >= 2).all() and len(counts[counts > 0]) <= VALIDATION_FRACTION * len(train):
            labels = Y[train]
    _, validation = train_test_split(train, test_size=VALIDATION_FRACTION, random_state=seed, stratify=labels)
    return np.sort(validation)


def select_c(X, Y, fit_idx, val_idx, grid, n_classes, multilabel, selection: Metric, seed, where) -> tuple[float, dict[float, float], int]:
    """The smallest C (the strongest regularisation) whose validation score is within ``selection_tolerance``
    of the best: scores that differ by less than half of one validation item's weight are ties, so float
    noise in the embeddings never decides between two C."""
    scores: dict[float, float] = {}
    not_converged = 0
    identity = np.arange(len(val_idx))[None, :]
    for C in grid:
        probe, nc = fit_probe(X[fit_idx], Y[fit_idx], C, multilabel, seed, where)
        not_converged += nc
        value = float(selection(Y[val_idx], probe_scores(probe, X[val_idx], n_classes, multilabel), identity)[0])
        scores[C] = value if np.isfinite(value) else -np.inf
    top = max(scores.values())
    tol = selection_tolerance(len(val_idx))
    best = min(c for c in grid if scores[c] >= top - tol)
    return best, scores, not_converged


def selection_tolerance(n_validation: int) -> float:
    """Half of what one validation item can move a mean-over-items score (accuracy moves in steps of 1/n):
    for accuracy only exact ties, for a continuous score (mAP) the differences below one item's worth."""
    return 0.5 / max(n_validation, 1)


def fold_bootstrap(names, table, per_fold: list[tuple[np.ndarray, np.ndarray]], n_resamples: int, seed: int, confidence: float = 0.95):
    """Percentile intervals of the fold-mean metric, resampling items within each test fold."""
    if n_resamples <= 0:
        return None
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {n: [] for n in names}
    largest = max(len(y) for y, _ in per_fold)
    block = max(1, min(n_resamples, 20_000_000 // max(largest, 1)))  # bound the (B, n) index matrices
    done = 0
    while done < n_resamples:
        b = min(block, n_resamples - done)
        sums = {n: np.zeros(b) for n in names}
        for y, s in per_fold:
            idx = rng.integers(0, len(y), size=(b, len(y)))
            for n in names:
                sums[n] += table[n](y, s, idx)
        for n in names:
            draws[n].append(sums[n] / len(per_fold))
        done += b
    tail = (1 - confidence) / 2 * 100
    out = {}
    for n in names:
        lo, hi = np.nanpercentile(np.concatenate(draws[n]), [tail, 100 - tail])
        out[n] = [float(lo), float(hi)]
    return out


@evaluation("linear-probe")
def evaluate_linear_probe(ctx: TaskContext) -> Outcome:
    spec, dataset = ctx.spec, ctx.dataset
    multilabel = spec.multilabel
    table = MULTI_LABEL if multilabel else SINGLE_LABEL
    unknown = [m for m in spec.metrics if m not in table]
    if unknown:
        raise TaskError(f"{spec.source_file}: metric '{unknown[0]}' has no linear-probe implementation; known: {', '.join(table)}")
    cfg = spec.evaluation.get("linear_probe") or {}
    grid = [float(c) for c in cfg.get("c_grid", C_GRID)]
    seed = int(getattr(ctx.options, "probe_seed", 0))
    protocol, splits = probe_splits(spec, dataset)

    n_classes = len(dataset.classes)
    if multilabel:
        Y = np.zeros((len(dataset.items), n_classes), dtype=np.int8)
        for row, item in enumerate(dataset.items):
            Y[row, list(item.labels)] = 1
    else:
        Y = np.array([item.labels[0] for item in dataset.items])
    X = l2_normalize(ctx.audio_embeddings().astype(np.float64))

    scores = np.full((len(dataset.items), n_classes), np.nan)
    per_fold_data, fold_records = [], []
    for split in splits:
        where = f"task {spec.name}, test fold {','.join(split.test_folds)}"
        # Model selection sees only training items; the test fold enters after the final refit.
        validation = split.validation if split.validation is not None else carve_validation(split.train, Y, multilabel, seed, where)
        fit_idx = np.setdiff1d(split.train, validation)
        if not len(fit_idx) or not len(validation) or not len(split.test):
            raise TaskError(f"{where}: {len(fit_idx)} item(s) to fit, {len(validation)} to validate, {len(split.test)} to test; "
                            "each must be non-empty (is --limit too small?)")
        best_c, val_scores, not_converged = select_c(X, Y, fit_idx, validation, grid, n_classes, multilabel, table[spec.main_metric], seed, where)
        probe, nc = fit_probe(X[split.train], Y[split.train], best_c, multilabel, seed, where)
        fold_scores = probe_scores(probe, X[split.test], n_classes, multilabel)
        scores[split.test] = fold_scores
        y_test = Y[split.test]
        per_fold_data.append((y_test, fold_scores))
        identity = np.arange(len(split.test))[None, :]
        fold_records.append({
            "test_folds": split.test_folds,
            "train_folds": split.train_folds,
            "validation": split.validation_source,
            "n_train": int(len(split.train)),
            "n_selection_fit": int(len(fit_idx)),
            "n_validation": int(len(validation)),
            "n_test": int(len(split.test)),
            "C": best_c,
            "validation_scores": {_c_key(c): (None if not np.isfinite(v) else round(v, 6)) for c, v in val_scores.items()},
            "metrics": {m: float(table[m](y_test, fold_scores, identity)[0]) for m in spec.metrics},
            "not_converged_fits": not_converged + nc,
        })

    metrics = {m: float(np.mean([r["metrics"][m] for r in fold_records])) for m in spec.metrics}
    std = {m: (float(np.std([r["metrics"][m] for r in fold_records], ddof=1)) if len(fold_records) > 1 else None) for m in spec.metrics}
    ci95 = fold_bootstrap(spec.metrics, table, per_fold_data, ctx.options.n_resamples, ctx.options.seed) or {m: [v, v] for m, v in metrics.items()}
    tested = np.concatenate([s.test for s in splits])
    tested.sort()
    pooled = {m: float(table[m](Y[tested], scores[tested], np.arange(len(tested))[None, :])[0]) for m in spec.metrics}

    extra: dict[str, Any] = {
        "variant": "linear-probe",
        "protocol": {
            **ctx.loaded.preprocessing,
            "features": "frozen audio embeddings, L2-normalised",
        },
        "probe": {
            "classifier": ("one-vs-rest " if multilabel else "multinomial ") + f"logistic regression (scikit-learn LogisticRegression, {SOLVER}, tol={TOL:g}, max_iter={MAX_ITER})",
            "split_protocol": protocol,
            "c_grid": grid,
            "selection": f"C maximising validation {spec.main_metric} (ties, scores within half of one validation item's weight "
            "of the best: the smallest C) on a validation split from the training folds only; "
            "then refit on all training items with that C; the test fold is scored once",
            "validation_fraction_when_carved": VALIDATION_FRACTION,
            "seed": seed,
            "n_tested": int(len(tested)),
            "folds": fold_records,
        },
        "fold_std": std,
        "fold_std_ddof": 1,
        "per_fold": {m: [r["metrics"][m] for r in fold_records] for m in spec.metrics},
        "pooled_metrics": pooled,
        "bootstrap": {
            "resamples": ctx.options.n_resamples,
            "seed": ctx.options.seed,
            "method": "percentile; test items resampled with replacement within each test fold, each scored by its own fold's probe; "
            "metrics averaged over folds, as the point estimate is",
        },
    }
    if multilabel:
        extra["multilabel"] = True
        extra["classes_without_positives"] = [dataset.classes[c] for c in np.flatnonzero(Y[tested].sum(axis=0) == 0)]
    fold_of = np.empty(len(dataset.items), dtype=np.int64)
    for k, split in enumerate(splits):
        fold_of[split.test] = k
    paired = PairedItems(
        ids=[dataset.items[i].path for i in tested], kind="classification", metric=spec.main_metric,
        arrays={"y": Y[tested], "scores": scores[tested].astype(np.float32), "multilabel": np.array(multilabel),
                "f1_threshold": np.array(np.nan), "stratum": fold_of[tested]},
    )
    return Outcome(metrics, ci95, _prediction_frame(dataset, tested, Y, scores, multilabel), extra, paired=paired)


def _c_key(c: float) -> str:
    return f"{c:g}"


def _prediction_frame(dataset: Dataset, tested: np.ndarray, Y: np.ndarray, scores: np.ndarray, multilabel: bool):
    # The zero-shot tables, over the tested items, each scored by its own fold's probe.
    from clapbench.evaluations.zero_shot import _predictions

    subset = Dataset(dataset.root, dataset.classes, [dataset.items[i] for i in tested], dataset.folds)
    y = Y[tested]
    labels = ["|".join(dataset.classes[c] for c in np.flatnonzero(row)) for row in y] if multilabel else [dataset.classes[i] for i in y]
    return _predictions(subset, labels, y, scores[tested])
