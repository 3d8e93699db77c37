"""Two recipes' outer runs on the same folds compared clip by clip: each run's right or wrong per test clip, the seed
ensemble's, and the paired differences (accuracy, UAR, seed-ensemble accuracy) with their 95 % intervals. The runs are
`emo nested`'s (emo.experiments.nested.outer_runs: dicts with `fold`, `seed`, `test` and `proba`)."""

from __future__ import annotations

import numpy as np

from emo.learn import uncertainty

#: resamples of the paired bootstrap, and its seed (fixed: the same runs, the same interval)
SAMPLES = 10_000
SEED = 0


def correct(runs: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[clips, seeds] whether each run got each clip right, [clips] whether the seed ensemble (the seeds' mean
    probabilities, as nested.model_metrics') did, and the [clips] labels: folds in order, then the fold's clips."""
    columns, ensemble, labels = [], [], []
    for fold in sorted({r["fold"] for r in runs}):
        seeded = sorted((r for r in runs if r["fold"] == fold), key=lambda r: r["seed"])
        y = seeded[0]["test"].y
        columns.append(np.stack([r["proba"].argmax(1) == y for r in seeded], axis=1))
        ensemble.append(np.mean([r["proba"] for r in seeded], axis=0).argmax(1) == y)
        labels.append(y)
    return np.concatenate(columns), np.concatenate(ensemble), np.concatenate(labels)


def paired(runs_a: list[dict], runs_b: list[dict]) -> dict[str, uncertainty.Difference]:
    """B minus A on every fold's clips: "accuracy", "uar" and "ensemble_accuracy"."""
    (a, ensemble_a, labels), (b, ensemble_b, labels_b) = correct(runs_a), correct(runs_b)
    if not np.array_equal(labels, labels_b):
        raise ValueError("the two recipes' runs do not test the same clips in the same order")
    return {"accuracy": uncertainty.paired_difference(a, b, samples=SAMPLES, seed=SEED),
            "uar": uncertainty.paired_difference(a, b, samples=SAMPLES, seed=SEED, labels=labels),
            "ensemble_accuracy": uncertainty.paired_difference(ensemble_a[:, None], ensemble_b[:, None],
                                                               samples=SAMPLES, seed=SEED)}
