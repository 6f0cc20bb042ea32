"""The tie-aware checks the tests use to compare decisions across computations (tests/conftest.py) can fail."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SCORE_TOL, assert_accuracy_within, assert_decisions_agree, topk_accuracy_bounds


def test_a_near_tie_allows_either_class_and_a_clear_loss_is_refused():
    scores = np.array([[0.50, 0.50 + SCORE_TOL / 2, 0.1], [0.9, 0.2, 0.1]])
    assert_decisions_agree(np.array([0, 0]), scores)
    assert_decisions_agree(np.array([1, 0]), scores)
    with pytest.raises(AssertionError, match="1 of 2 decisions"):
        assert_decisions_agree(np.array([0, 1]), scores)


def test_accuracy_bounds_are_exact_without_ties_and_widen_at_ties():
    scores = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.3], [0.4, 0.4 + SCORE_TOL / 2, 0.0]])
    truth = np.array([0, 2, 0])
    assert topk_accuracy_bounds(scores[:2], truth[:2], k=1) == (0.5, 0.5)
    assert topk_accuracy_bounds(scores, truth, k=1) == (1 / 3, 2 / 3)
    assert topk_accuracy_bounds(scores, truth, k=2) == (1.0, 1.0)
    assert_accuracy_within(2 / 3, scores, truth)
    with pytest.raises(AssertionError, match="outside"):
        assert_accuracy_within(1.0, scores, truth)
