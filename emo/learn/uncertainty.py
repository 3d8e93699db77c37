"""How sure a test score is: percentile bootstrap intervals over the test clips, and the paired difference of two
models on the clips both scored. Pure numpy; every random draw comes from an explicit seed (params.yaml `evaluate`).

A resample draws the clips with replacement and keeps each clip's runs (seeds) together: the statistic of a resample
is the mean over runs of the accuracy (or of the UAR) on the drawn clips, as the metrics average over seeds. The
interval is therefore the test set's sampling noise: how much the score would move on another draw of clips from
the same speakers, not how much it moves between seeds (the metrics' `_std`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
CHUNK = 2**22  # index cells drawn at once: bounds memory on large corpora; the draws do not depend on it


@dataclass(frozen=True)
class Difference:
    """B minus A on the shared clips: the point estimate, its interval and a two-sided bootstrap p-value."""

    difference: float
    low: float
    high: float
    p_value: float
    clips: int
    confidence: float = CONFIDENCE


def resample_counts(n: int, *, samples: int, seed: int) -> np.ndarray:
    """How often each of `n` clips is drawn in each of `samples` resamples with replacement: int [samples, n].

    One index matrix `rng.integers(0, n, (samples, n))`, drawn in row blocks (the same numbers either way) and
    counted per row, so a statistic of every resample is one matrix product."""
    if n < 1:
        raise ValueError("no clips to resample")
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    rng = np.random.default_rng(seed)
    rows = max(1, CHUNK // n)
    counts = np.empty((samples, n), np.int32)
    for start in range(0, samples, rows):
        block = min(rows, samples - start)
        index = rng.integers(0, n, (block, n)) + n * np.arange(block)[:, None]
        counts[start:start + block] = np.bincount(index.ravel(), minlength=block * n).reshape(block, n)
    return counts


def _matrix(correct: np.ndarray) -> np.ndarray:
    """Per-clip scores as float [clips, runs]; a 1-D array is one run."""
    values = np.asarray(correct, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] < 1 or values.shape[1] < 1:
        raise ValueError(f"expected scores [clips, runs], got shape {np.shape(correct)}")
    return values


def accuracy(correct: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray | float:
    """The mean over runs of the accuracy (mean per-clip score): on all clips, or per resample of `counts`."""
    values = _matrix(correct)
    if counts is None:
        return float(values.mean())
    return (counts @ values).mean(axis=1) / values.shape[0]


def uar(correct: np.ndarray, labels: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray | float:
    """The mean over runs of the UAR: recall averaged over the classes that have clips (in each resample), as
    sklearn's balanced accuracy; on all clips, or per resample of `counts`."""
    values = _matrix(correct)
    labels = np.asarray(labels)
    if labels.shape != values.shape[:1]:
        raise ValueError(f"{len(labels)} labels for {values.shape[0]} clips")
    classes = np.unique(labels)
    onehot = (labels[:, None] == classes[None, :]).astype(np.float64)  # [clips, classes]
    weights = np.ones((1, len(labels))) if counts is None else counts
    per_class = weights @ onehot  # [samples, classes]
    hits = (weights @ (onehot[:, :, None] * values[:, None, :]).reshape(len(labels), -1)).reshape(
        len(weights), len(classes), values.shape[1])
    present = per_class > 0
    recall = np.where(present[:, :, None], hits / np.maximum(per_class, 1)[:, :, None], 0.0)
    result = (recall.sum(axis=1) / present.sum(axis=1)[:, None]).mean(axis=1)
    return float(result[0]) if counts is None else result


def _statistic(correct: np.ndarray, labels: np.ndarray | None, counts: np.ndarray | None):
    return accuracy(correct, counts) if labels is None else uar(correct, labels, counts)


def _bounds(values: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    low, high = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def bootstrap_interval(correct: np.ndarray, *, samples: int, seed: int, confidence: float = CONFIDENCE,
                       labels: np.ndarray | None = None) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean over runs of the accuracy, or with `labels` (the clips'
    classes) of the UAR, from `correct` [clips, runs] (1 where a run got the clip right; or any per-clip score;
    1-D: one run). Clips are resampled with replacement, each clip's runs kept together."""
    counts = resample_counts(_matrix(correct).shape[0], samples=samples, seed=seed)
    return _bounds(_statistic(correct, labels, counts), confidence)


def intervals(correct: np.ndarray, labels: np.ndarray, *, samples: int, seed: int,
              confidence: float = CONFIDENCE) -> dict[str, list[float]]:
    """`accuracy_ci95` and `uar_ci95` (as [low, high]) of one model's runs, both from the same resamples."""
    counts = resample_counts(_matrix(correct).shape[0], samples=samples, seed=seed)
    return {"accuracy_ci95": list(_bounds(accuracy(correct, counts), confidence)),
            "uar_ci95": list(_bounds(uar(correct, labels, counts), confidence))}


def paired_difference(correct_a: np.ndarray, correct_b: np.ndarray, *, samples: int, seed: int,
                      confidence: float = CONFIDENCE, labels: np.ndarray | None = None) -> Difference:
    """B minus A (mean over each side's runs of the accuracy, or with `labels` of the UAR) on the same clips: row i
    of `correct_a` [clips, runs_a] and of `correct_b` [clips, runs_b] is the same clip. Both sides are scored on
    the same resamples (paired), so what the two models share (an easy clip, a hard one) cancels out.

    The p-value is two-sided, from the same resamples: twice the smaller share of resampled differences on either
    side of 0 (each count plus one, so it is never 0), at most 1. It agrees with the interval: p < 1 - confidence
    about when the interval leaves out 0."""
    a, b = _matrix(correct_a), _matrix(correct_b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"the two sides score different clips: {a.shape[0]} and {b.shape[0]} rows")
    counts = resample_counts(a.shape[0], samples=samples, seed=seed)
    differences = _statistic(b, labels, counts) - _statistic(a, labels, counts)
    point = _statistic(b, labels, None) - _statistic(a, labels, None)
    low, high = _bounds(differences, confidence)
    below, above = int(np.sum(differences <= 0)), int(np.sum(differences >= 0))
    p_value = min(1.0, 2 * (min(below, above) + 1) / (samples + 1))
    return Difference(difference=float(point), low=low, high=high, p_value=p_value, clips=int(a.shape[0]),
                      confidence=confidence)


def paired_scores(correct_a: np.ndarray, correct_b: np.ndarray, labels: np.ndarray, *, samples: int, seed: int,
                  confidence: float = CONFIDENCE) -> dict[str, dict]:
    """B minus A on the same clips for accuracy and UAR (`paired_difference`, from the same resamples), each as a
    plain mapping (difference, low, high, p_value, clips, confidence) for a metrics file."""
    from dataclasses import asdict

    return {"accuracy": asdict(paired_difference(correct_a, correct_b, samples=samples, seed=seed,
                                                 confidence=confidence)),
            "uar": asdict(paired_difference(correct_a, correct_b, samples=samples, seed=seed, confidence=confidence,
                                            labels=labels))}
