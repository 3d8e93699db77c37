"""Bootstrap intervals over test clips (emo.learn.uncertainty): the resamples, the statistics against sklearn, the
coverage of the truth in simulation, and the paired difference."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from emo.learn import uncertainty


def simulate(rng: np.random.Generator, n: int = 120, runs: int = 3, accuracy: float = 0.65,
             classes: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, predictions [clips, runs] and correctness of a model whose runs agree as seeds do: each clip has its
    own difficulty (the chance that a run gets it right), shared by the runs."""
    labels = rng.integers(0, classes, n)
    difficulty = rng.beta(2 * accuracy / (1 - accuracy), 2, n)  # mean `accuracy`, clips from easy to hard
    right = rng.random((n, runs)) < difficulty[:, None]
    wrong = (labels[:, None] + rng.integers(1, classes, (n, runs))) % classes
    predicted = np.where(right, labels[:, None], wrong)
    return labels, predicted, right


def test_resamples_draw_every_clip_count_and_do_not_depend_on_the_block_size(monkeypatch):
    counts = uncertainty.resample_counts(50, samples=300, seed=3)
    assert counts.shape == (300, 50) and (counts.sum(axis=1) == 50).all() and counts.min() >= 0
    assert (counts == uncertainty.resample_counts(50, samples=300, seed=3)).all()  # the seed fixes them
    assert (counts != uncertainty.resample_counts(50, samples=300, seed=4)).any()
    monkeypatch.setattr(uncertainty, "CHUNK", 50 * 7)  # 7 rows at a time instead of all 300
    assert (counts == uncertainty.resample_counts(50, samples=300, seed=3)).all()
    one = np.random.default_rng(3).integers(0, 50, (300, 50))[0]
    assert (counts[0] == np.bincount(one, minlength=50)).all()  # row i counts the clips of index row i


def test_accuracy_and_uar_match_sklearn_on_all_clips_and_on_a_resample():
    labels, predicted, right = simulate(np.random.default_rng(0))
    runs = range(predicted.shape[1])
    assert uncertainty.accuracy(right) == pytest.approx(np.mean([np.mean(right[:, r]) for r in runs]))
    assert uncertainty.uar(right, labels) == pytest.approx(
        np.mean([balanced_accuracy_score(labels, predicted[:, r]) for r in runs]))
    index = np.random.default_rng(1).integers(0, len(labels), len(labels))
    counts = np.bincount(index, minlength=len(labels))[None]
    assert uncertainty.uar(right, labels, counts)[0] == pytest.approx(
        np.mean([balanced_accuracy_score(labels[index], predicted[index, r]) for r in runs]))
    assert uncertainty.accuracy(right, counts)[0] == pytest.approx(right[index].mean())


def test_uar_leaves_out_a_class_a_resample_lacks():
    labels = np.array([0, 0, 1])
    right = np.array([1, 0, 1])
    assert uncertainty.uar(right, labels) == pytest.approx((0.5 + 1) / 2)
    only_zero = np.array([[2, 1, 0]])  # clip 0 twice, clip 1 once: class 1 absent
    assert uncertainty.uar(right, labels, only_zero)[0] == pytest.approx(2 / 3)


@pytest.mark.parametrize("statistic", ["accuracy", "uar"])
def test_the_interval_covers_the_truth_at_about_its_confidence(statistic):
    """200 simulated test sets drawn from one population of clips: the 95 % interval of each should hold the
    population's score about 95 % of the time (the percentile bootstrap runs a little short with 120 clips)."""
    rng = np.random.default_rng(2024)
    population_labels, _, population = simulate(rng, n=200_000, runs=3)
    truth = (uncertainty.accuracy(population) if statistic == "accuracy"
             else uncertainty.uar(population, population_labels))
    covered = 0
    for trial in range(200):
        labels, _, right = simulate(rng)
        low, high = uncertainty.bootstrap_interval(right, samples=500, seed=trial,
                                                   labels=None if statistic == "accuracy" else labels)
        covered += low <= truth <= high
    assert 0.9 <= covered / 200 <= 0.99, covered


def test_intervals_hold_the_point_estimate_and_narrow_with_more_clips():
    rng = np.random.default_rng(5)
    labels, _, right = simulate(rng, n=120)
    ci = uncertainty.intervals(right, labels, samples=2000, seed=0)
    assert ci["accuracy_ci95"][0] < uncertainty.accuracy(right) < ci["accuracy_ci95"][1]
    assert ci["uar_ci95"][0] < uncertainty.uar(right, labels) < ci["uar_ci95"][1]
    assert ci == uncertainty.intervals(right, labels, samples=2000, seed=0)  # reproducible
    width = ci["accuracy_ci95"][1] - ci["accuracy_ci95"][0]
    assert 0.08 < width < 0.25  # about 4 standard errors of a proportion near 0.65 over 120 clips
    labels, _, right = simulate(rng, n=1200)
    wide = uncertainty.intervals(right, labels, samples=2000, seed=0)["accuracy_ci95"]
    assert wide[1] - wide[0] < width / 2  # ten times the clips: about a third of the width


def test_a_one_dimensional_score_is_one_run():
    right = np.array([1, 0, 1, 1, 0, 1, 1, 1])
    assert uncertainty.bootstrap_interval(right, samples=300, seed=0) == \
        uncertainty.bootstrap_interval(right[:, None], samples=300, seed=0)


def test_identical_sides_differ_by_nothing_and_a_large_drop_is_significant():
    labels, _, right = simulate(np.random.default_rng(6))
    same = uncertainty.paired_difference(right, right, samples=1000, seed=0)
    assert (same.difference, same.low, same.high, same.p_value, same.clips) == (0.0, 0.0, 0.0, 1.0, 120)
    worse = right.copy()
    worse[:30] = False
    drop = uncertainty.paired_difference(right, worse, samples=1000, seed=0)
    assert drop.difference == pytest.approx(worse.mean() - right.mean())
    assert drop.high < 0 and drop.p_value < 0.01
    assert uncertainty.paired_difference(worse, right, samples=1000, seed=0).low > 0  # B minus A
    fewer_runs = uncertainty.paired_difference(right, worse[:, :1], samples=1000, seed=0, labels=labels)
    expected = uncertainty.uar(worse[:, :1], labels) - uncertainty.uar(right, labels)
    assert fewer_runs.difference == pytest.approx(expected)


def test_paired_scores_are_the_paired_differences_of_accuracy_and_uar_as_plain_mappings():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 80)
    a, b = rng.random((80, 2)) < 0.6, rng.random((80, 3)) < 0.7
    got = uncertainty.paired_scores(a, b, labels, samples=500, seed=1)
    assert got["accuracy"] == dataclasses.asdict(uncertainty.paired_difference(a, b, samples=500, seed=1))
    assert got["uar"] == dataclasses.asdict(uncertainty.paired_difference(a, b, samples=500, seed=1, labels=labels))
    assert json.loads(json.dumps(got)) == got  # fit for a metrics file


@pytest.mark.parametrize("call, message", [
    (lambda: uncertainty.resample_counts(0, samples=10, seed=0), "no clips"),
    (lambda: uncertainty.resample_counts(5, samples=0, seed=0), "samples must be at least 1"),
    (lambda: uncertainty.bootstrap_interval(np.ones(5), samples=10, seed=0, confidence=1.0), "confidence"),
    (lambda: uncertainty.paired_difference(np.ones(5), np.ones(6), samples=10, seed=0), "different clips"),
    (lambda: uncertainty.uar(np.ones(5), np.zeros(4)), "4 labels for 5 clips"),
    (lambda: uncertainty.accuracy(np.ones((2, 2, 2))), "expected scores"),
])
def test_misuse_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
