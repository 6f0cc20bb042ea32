"""clapbench's metrics and bootstrap intervals against scikit-learn and a brute-force bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    top_k_accuracy_score,
)

from clapbench.evaluations.metrics import MULTI_LABEL, SINGLE_LABEL, evaluate_metrics, top1_decisions

N_CLASSES = 8
# resamples in which a class is predicted but absent are expected; sklearn warns about each
pytestmark = pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")


def single_label_case(n: int = 60, seed: int = 0):
    """Labels over 8 classes (class 7 never occurs), distinct scores tilted towards the truth."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES - 1, size=n)
    scores = rng.standard_normal((n, N_CLASSES))
    scores[np.arange(n), y] += 1.0
    return y, scores


def multi_label_case(n: int = 50, seed: int = 0, ties: bool = True):
    """Multi-hot labels (class 5 has no positive), scores rounded to one decimal so many tie."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 6)) < 0.3).astype(np.int8)
    y[:, 5] = 0
    y[y.sum(axis=1) == 0, 0] = 1
    scores = rng.random((n, 6)) + 0.4 * y
    if ties:
        scores = np.round(scores, 1)
    return y, scores


def sk_single(name: str, y: np.ndarray, scores: np.ndarray) -> float:
    pred = scores.argmax(axis=1)
    if name == "accuracy":
        return accuracy_score(y, pred)
    if name == "top5_accuracy":
        return top_k_accuracy_score(y, scores, k=5, labels=np.arange(scores.shape[1]))
    if name == "balanced_accuracy":
        return balanced_accuracy_score(y, pred)
    raise KeyError(name)


def sk_multi(name: str, y: np.ndarray, scores: np.ndarray) -> float:
    if name == "mAP":
        # classes without a positive have no defined AP and are left out
        aps = [average_precision_score(y[:, c], scores[:, c]) for c in range(y.shape[1]) if y[:, c].any()]
        return float(np.mean(aps))
    pred = top1_decisions(scores).astype(int)
    average = {"f1_micro": "micro", "f1_macro": "macro"}[name]
    return f1_score(y, pred, average=average, zero_division=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_label_point_estimates_equal_sklearn(seed):
    y, scores = single_label_case(seed=seed)
    values, _ = evaluate_metrics(list(SINGLE_LABEL), SINGLE_LABEL, y, scores, n_resamples=0)
    for name in SINGLE_LABEL:
        assert values[name] == pytest.approx(sk_single(name, y, scores), abs=1e-12), name
    # the case is not degenerate: the metrics disagree with each other and with 0 and 1
    assert 0 < values["accuracy"] < values["top5_accuracy"] < 1
    assert values["balanced_accuracy"] != values["accuracy"]


def test_top5_rank_ties_break_towards_the_lower_class_index():
    """With tied scores the top-5 list starts with the argmax prediction (lowest index), so the
    reported prediction is always inside the reported top 5. sklearn breaks ties the other way
    (highest index first); with distinct scores the two agree (test above)."""
    scores = np.array([[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0], [0.0, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]])
    y = np.array([0, 1])
    values, _ = evaluate_metrics(["accuracy", "top5_accuracy"], SINGLE_LABEL, y, scores, n_resamples=0)
    assert values["accuracy"] == 1.0
    assert values["top5_accuracy"] == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [True, False])
def test_multi_label_point_estimates_equal_sklearn(seed, ties):
    y, scores = multi_label_case(seed=seed, ties=ties)
    if ties:
        assert len(np.unique(scores)) < scores.size // 4  # heavy ties
    values, _ = evaluate_metrics(list(MULTI_LABEL), MULTI_LABEL, y, scores, n_resamples=0)
    for name in MULTI_LABEL:
        assert values[name] == pytest.approx(sk_multi(name, y, scores), abs=1e-6), name
    assert 0 < values["f1_micro"] < 1 and 0 < values["mAP"] < 1


def test_mAP_leaves_out_classes_without_positives():
    y, scores = multi_label_case(seed=3)
    values, _ = evaluate_metrics(["mAP"], MULTI_LABEL, y, scores, n_resamples=0)
    # counting the empty class as AP 0 would give 5/6 of the value
    assert values["mAP"] == pytest.approx(np.mean([average_precision_score(y[:, c], scores[:, c]) for c in range(5)]))


def brute_force_bootstrap(y, scores, reference, n_resamples, seed):
    """A plain loop: for each resample, draw n indices with replacement and call sklearn.

    Uses the same generator and draw shape as clapbench so the resamples are the same.
    """
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(n_resamples, len(y)))
    return np.array([reference(y[row], scores[row]) for row in idx])


@pytest.mark.parametrize("kind,n_resamples", [("single", 200), ("multi", 60)])
def test_bootstrap_matches_brute_force_percentiles(kind, n_resamples):
    seed = 7
    if kind == "single":
        y, scores = single_label_case(n=40)
        table, names, ref = SINGLE_LABEL, list(SINGLE_LABEL), sk_single
    else:
        y, scores = multi_label_case(n=40)
        table, names, ref = MULTI_LABEL, list(MULTI_LABEL), sk_multi
    values, ci = evaluate_metrics(names, table, y, scores, n_resamples=n_resamples, seed=seed)
    for name in names:
        samples = brute_force_bootstrap(y, scores, lambda a, b: ref(name, a, b), n_resamples, seed)
        lo, hi = np.percentile(samples, [2.5, 97.5])
        assert ci[name] == pytest.approx([lo, hi], abs=1e-6), name
        assert ci[name][0] <= values[name] <= ci[name][1], name
        assert ci[name][0] < ci[name][1], name


def test_bootstrap_is_seeded():
    y, scores = single_label_case(n=80)
    a = evaluate_metrics(list(SINGLE_LABEL), SINGLE_LABEL, y, scores, n_resamples=1000, seed=3)
    b = evaluate_metrics(list(SINGLE_LABEL), SINGLE_LABEL, y, scores, n_resamples=1000, seed=3)
    c = evaluate_metrics(list(SINGLE_LABEL), SINGLE_LABEL, y, scores, n_resamples=1000, seed=4)
    assert a == b
    assert a[0] == c[0]  # the point estimate does not depend on the seed
    assert a[1] != c[1]  # the interval does
    for name in SINGLE_LABEL:
        lo, hi = a[1][name]
        assert lo <= a[0][name] <= hi



def test_bootstrap_blocks_bound_memory_without_changing_intervals(monkeypatch):
    """Resamples are drawn in blocks so memory stays flat in the number of items; the split never changes
    the intervals (numpy draws the same stream whatever the block size)."""
    from clapbench.evaluations import metrics

    rng = np.random.default_rng(2)
    y = rng.integers(0, 5, 997)
    scores = rng.standard_normal((997, 5))
    whole = evaluate_metrics(list(SINGLE_LABEL), SINGLE_LABEL, y, scores, n_resamples=300, seed=1)
    monkeypatch.setattr(metrics, "BOOTSTRAP_BLOCK_ENTRIES", 997 * 7)  # blocks of 7 resamples, the last one short
    assert evaluate_metrics(list(SINGLE_LABEL), SINGLE_LABEL, y, scores, n_resamples=300, seed=1) == whole
