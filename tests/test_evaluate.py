"""emo.learn.evaluate: the scores of a checkpoint's runs on their test clips, and what a hybrid's SVMs add."""

import numpy as np
import pytest
import torch

from emo.data.arrays import Arrays
from emo.learn import evaluate, hybrid, models

CPU = torch.device("cpu")


def _hybrid_checkpoint(seeds=(0, 1)) -> tuple[dict, dict]:
    """A checkpoint of untrained temporal CNNs (one per seed) with an SVM trained on clips whose class is
    plain in their functionals, and its test clips."""
    rng = np.random.default_rng(0)

    def clips(n):
        y = np.resize(np.arange(4), n)
        x = rng.normal(size=(n, 6, 20)).astype(np.float32)
        x[np.arange(n), y] += 2.0  # class k: band k louder
        return x, y

    runs = []
    for seed in seeds:
        torch.manual_seed(seed)
        net = models.build("temporal", (6, 20), dropout=0.3)
        runs.append({"seed": seed, "fold": None, "state": net.state_dict(), "best_epoch": 1, "seconds": 0.0,
                     "history": []})
    x, y = clips(80)
    saved = {"settings": {"model": "temporal", "dropout": 0.3}, "input_shapes": [(6, 20)], "runs": runs,
             "svms": [hybrid.fit(x, y, svm_c=3.0)]}
    tx, ty = clips(60)
    return saved, {None: Arrays(tx, ty, np.arange(len(ty)))}


def test_svm_gain_gives_the_cnns_own_scores_and_the_paired_difference_on_the_same_clips():
    saved, tests = _hybrid_checkpoint()
    fused = evaluate.run_probabilities(saved, tests, CPU)
    gain = evaluate.svm_gain(saved, tests, CPU, fused, samples=500, seed=0)
    alone, _, _ = evaluate.evaluate_runs({**saved, "svms": []}, tests, CPU)
    both, _, _ = evaluate.evaluate_runs(saved, tests, CPU, fused)
    assert gain["cnn_alone"]["accuracy"] == alone["accuracy"] and gain["cnn_alone"]["uar"] == alone["uar"]
    assert gain["cnn_alone"]["ensemble"]["accuracy"] == alone["ensemble"]["accuracy"]
    difference = gain["hybrid_minus_cnn_alone"]
    assert difference["accuracy"]["difference"] == pytest.approx(both["accuracy"] - alone["accuracy"])
    assert difference["ensemble"]["uar"]["difference"] == pytest.approx(both["ensemble"]["uar"] -
                                                                        alone["ensemble"]["uar"])
    # untrained CNNs are near chance; the SVM sees the class: the gain is large and its interval says so
    assert difference["accuracy"]["difference"] > 0.4 and difference["accuracy"]["low"] > 0.2
    assert difference["accuracy"]["clips"] == 60


def test_one_seed_has_no_ensemble_gain_and_a_cnn_checkpoint_none():
    saved, tests = _hybrid_checkpoint(seeds=(0,))
    gain = evaluate.svm_gain(saved, tests, CPU, evaluate.run_probabilities(saved, tests, CPU), samples=200, seed=0)
    assert "ensemble" not in gain["cnn_alone"] and set(gain["hybrid_minus_cnn_alone"]) == {"accuracy", "uar"}
    cnn = evaluate.run_probabilities({**saved, "svms": []}, tests, CPU)
    assert all(np.array_equal(a, b) for a, b in zip(cnn, evaluate.run_probabilities({**saved, "svms": None}, tests,
                                                                                      CPU), strict=True))
