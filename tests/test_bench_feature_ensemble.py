"""bench/feature_ensemble.py: the two features' probabilities fused as the hybrid fuses, scored on nested's inner
clips."""

import importlib.util

import numpy as np
import pytest

from emo.data.arrays import Arrays
from emo.learn import hybrid
from project import REPO


def load_bench():
    spec = importlib.util.spec_from_file_location("feature_ensemble", REPO / "bench/feature_ensemble.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_hot(labels: np.ndarray, sure: float = 0.9) -> np.ndarray:
    out = np.full((len(labels), 8), (1 - sure) / 7)
    out[np.arange(len(labels)), labels] = sure
    return out


def run(index, y, proba, seed=0):
    return {"seed": seed, "seconds": 1.0, "best_epoch": 5, "test": Arrays(np.zeros((len(y), 2, 3)), y, index),
            "proba": proba}


def test_fused_is_the_hybrids_product_and_weight_zero_is_the_first_feature_alone():
    bench = load_bench()
    rng = np.random.default_rng(0)
    y, index = np.array([0, 1, 2]), np.array([4, 5, 6])
    a, b = rng.dirichlet(np.ones(8), 3), rng.dirichlet(np.ones(8), 3)
    (same,) = bench.fused([run(index, y, a)], [run(index, y, b)], 0.0)
    assert same["proba"] is a and same["seconds"] == 2.0
    (product,) = bench.fused([run(index, y, a)], [run(index, y, b)], 0.5)
    np.testing.assert_array_equal(product["proba"], hybrid.fuse(a, b, 0.5))
    with pytest.raises(ValueError, match="same clips"):
        bench.fused([run(index, y, a)], [run(index[::-1], y, b)], 0.5)
    with pytest.raises(ValueError, match="same clips"):
        bench.fused([run(index, y, a)], [run(index, y, b, seed=1)], 0.5)


def test_inner_scores_follow_the_better_feature_on_nesteds_inner_clips():
    bench = load_bench()
    folds = ((1,), (2,), (3,))
    actors = np.array([1, 1, 2, 2, 3, 3])
    labels = np.array([0, 1, 2, 3, 4, 5])
    predicted = {"logmel": [], "mfcc": []}
    for a, b in bench.nested.pairs(len(folds)):  # every pair model scores its two folds' clips
        rows = np.flatnonzero(np.isin(actors, folds[a] + folds[b]))
        predicted["logmel"].append([run(rows, labels[rows], one_hot((labels[rows] + 1) % 8, 0.4))])  # all wrong
        predicted["mfcc"].append([run(rows, labels[rows], one_hot(labels[rows], 0.99))])  # all right, sure
    alone = bench.inner_scores(predicted, actors, 0.0, folds=folds)
    both = bench.inner_scores(predicted, actors, 1.0, folds=folds)
    assert [s["accuracy"] for s in alone] == [0.0] * 3 and [s["accuracy"] for s in both] == [1.0] * 3
    assert [s["n"] for s in both] == [4, 4, 4]  # fold f is scored on the other two folds' clips
