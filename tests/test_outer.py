"""emo.experiments.outer: outer runs as right or wrong per clip (folds, then seeds, in order), and two recipes' paired
differences."""

import numpy as np
import pytest

from emo.data.arrays import Arrays
from emo.experiments import outer


def run(fold, seed, y, guess, sure=0.9):
    proba = np.full((len(y), 8), (1 - sure) / 7)
    proba[np.arange(len(y)), guess] = sure
    return {"fold": fold, "seed": seed, "test": Arrays(np.zeros((len(y), 2, 3)), np.asarray(y), np.arange(len(y))),
            "proba": proba}


def test_correct_orders_folds_then_seeds_and_the_ensemble_averages_the_seeds():
    runs = [run(1, 1, [3, 4], [3, 0]), run(0, 0, [1, 2], [1, 2]), run(1, 0, [3, 4], [0, 4], sure=0.6),
            run(0, 1, [1, 2], [5, 2], sure=0.6)]
    correct, ensemble, labels = outer.correct(runs)
    np.testing.assert_array_equal(labels, [1, 2, 3, 4])
    np.testing.assert_array_equal(correct, [[True, False], [True, True], [False, True], [True, False]])
    # the surer seed wins the mean: fold 0's clip 1 (0.9 right over 0.6 wrong), fold 1's clip 3 (0.9 right over 0.6
    # wrong) but not its clip 4 (0.9 wrong over 0.6 right)
    np.testing.assert_array_equal(ensemble, [True, True, True, False])


def test_paired_is_b_minus_a_on_the_same_clips():
    y = list(range(8)) * 3
    wrong = [(label + 1) % 8 for label in y]
    a = [run(0, seed, y, wrong) for seed in (0, 1)]
    b = [run(0, seed, y, y) for seed in (0, 1)]
    diff = outer.paired(a, b)
    assert set(diff) == {"accuracy", "uar", "ensemble_accuracy"}
    assert diff["accuracy"].difference == pytest.approx(1.0) and diff["accuracy"].low > 0
    assert diff["uar"].difference == pytest.approx(1.0) and diff["ensemble_accuracy"].clips == len(y)
    assert outer.paired(b, a)["accuracy"].difference == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="same clips"):
        outer.paired(a, [run(0, seed, wrong, y) for seed in (0, 1)])
