"""A classical second opinion beside each audio CNN (issue 23's hybrid): utterance functionals of the CNN's own
input rows, an RBF support-vector machine on them with Platt-scaled probabilities, and the normalised product of
the CNN's class probabilities with the SVM's raised to `hybrid_svm_weight` (log-linear pooling; train.ours: 0.5).

The two err on different clips (the CNN sees the time-frequency pattern, the functionals a clip's overall level,
spread and movement per band), so the product corrects some of each one's mistakes; `emo nested` chose it, with
equal weights fixed before any score was seen, over the CNN alone in 6 of 6 EmoBox folds
(metrics/emobox/nested_hybrid.json), and then the SVM at half weight over equal weights in 4 of 6
(metrics/emobox/nested_svm_weight.json). `train.<preset>.hybrid_svm_c` > 0 turns it on (train.ours: 3.0).

scikit-learn fits the SVM; the fitted machine is kept as tensors and plain values (`fit`'s dict, in the model's
checkpoint: read weights-only, no pickled object) and evaluated here in numpy (`probabilities`), the same
arithmetic as scikit-learn's (tests/test_hybrid.py compares them).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from emo.core import executor
from emo.core.errors import EmoError
from emo.core.layout import AUDIO_FEATURES

#: rows summarised at a time: the whole training set as float64 frames would be several hundred MB
CHUNK = 256
#: folds of the training rows on which the SVM's scores are mapped to probabilities (Platt's sigmoid)
CALIBRATION_FOLDS = 5


class HybridError(EmoError):
    """The SVM cannot be trained on these rows (too few clips of a class)."""


def applies(model: str, svm_c: float) -> bool:
    """Whether a model gets an SVM beside it: an audio CNN (the functionals summarise [bins, frames] features of
    one input; video and fusion models are not measured with it) of a recipe with hybrid_svm_c > 0."""
    return model in AUDIO_FEATURES and svm_c > 0


def functionals(x: np.ndarray) -> np.ndarray:
    """[clips, bins, frames] -> [clips, 5 * bins] float64 holding float32 values (so that the support rows are
    kept losslessly in float32): per bin the mean, standard deviation, 10th and 90th percentiles over frames, and
    the standard deviation of the frame-to-frame difference."""
    if x.ndim != 3 or x.shape[2] < 2:
        raise ValueError(f"functionals need [clips, bins, frames >= 2] features, got shape {x.shape}")
    out = np.empty((len(x), 5 * x.shape[1]), np.float32)
    for start in range(0, len(x), CHUNK):
        part = np.asarray(x[start:start + CHUNK], np.float64)
        low, high = np.percentile(part, [10, 90], axis=2)
        out[start:start + CHUNK] = np.concatenate(
            [part.mean(2), part.std(2), low, high, np.diff(part, axis=2).std(2)], axis=1)
    return out.astype(np.float64)


def fit(x: np.ndarray, y: np.ndarray, *, svm_c: float, fold: int | None = None, weight: float = 1.0) -> dict:
    """The scaled RBF SVM (C = svm_c, gamma scikit-learn's "scale") on the rows' functionals, its scores made
    probabilities by a sigmoid per class fitted on unshuffled folds of the rows (deterministic: no seed), as
    tensors and plain values. `fold`: the k-fold split it belongs to (None: the hold-out split); `weight`: its
    exponent in the product with the CNN's probabilities (`fuse`), kept with it so that every reader fuses alike."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    y = np.asarray(y, np.int64)
    labels, counts = np.unique(y, return_counts=True)
    if len(labels) < 2 or counts.min() < 2:
        found = dict(zip(labels.tolist(), counts.tolist(), strict=True))
        raise HybridError(f"the hybrid SVM needs at least 2 training clips of each of 2 or more classes, got {found} "
                          "(label: clips); set train.<preset>.hybrid_svm_c: 0 for the CNN alone")
    rows = functionals(x)
    model = CalibratedClassifierCV(make_pipeline(StandardScaler(), SVC(C=svm_c, gamma="scale")), method="sigmoid",
                                   cv=min(CALIBRATION_FOLDS, int(counts.min())), ensemble=False).fit(rows, y)
    (calibrated,) = model.calibrated_classifiers_
    scaler, svc = calibrated.estimator
    scaled = scaler.transform(rows)
    as64 = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float64))  # noqa: E731
    return {"fold": fold, "svm_c": float(svm_c), "weight": float(weight),
            "classes": torch.from_numpy(svc.classes_.astype(np.int64)),
            "n_support": torch.from_numpy(svc.n_support_.astype(np.int64)),
            "support_rows": torch.from_numpy(rows[svc.support_].astype(np.float32)),
            "mean": as64(scaler.mean_), "scale": as64(scaler.scale_),
            "gamma": float(1.0 / (scaled.shape[1] * scaled.var())) if scaled.var() > 0 else 1.0,  # "scale"
            "dual_coef": as64(svc.dual_coef_), "intercept": as64(svc.intercept_),
            "sigmoid_a": as64([c.a_ for c in calibrated.calibrators]),
            "sigmoid_b": as64([c.b_ for c in calibrated.calibrators])}


def _fit_fold(job: tuple[Callable, int | None, float, float]) -> dict:
    load, fold, svm_c, weight = job
    rows = load(fold)["train"]
    return fit(rows.x, rows.y, svm_c=svm_c, fold=fold, weight=weight)


def fit_models(models: list[tuple[str, Callable, list[int | None]]], svm_c: float, *, workers: int,
               scheduler: str = executor.LOCAL, weight: float = 1.0) -> list[list[dict]]:
    """Per (model, loader, folds): the SVMs (`fit`, with `weight`) of each fold's training rows where the model
    gets one (`applies`), else none; `workers` processes or a Dask cluster fit them (the same SVMs either way)."""
    jobs = [(index, (load, fold, svm_c, weight)) for index, (model, load, folds) in enumerate(models)
            if applies(model, svm_c) for fold in folds]
    out: list[list[dict]] = [[] for _ in models]
    results = executor.run_ordered(_fit_fold, [job for _, job in jobs], workers=workers, scheduler=scheduler,
                                   name=lambda job: f"hybrid SVM of fold {job[1]}")
    for (index, _), svm in zip(jobs, tqdm(results, total=len(jobs), desc="hybrid SVMs", unit="svm",
                                          disable=not jobs), strict=True):
        out[index].append(svm)
    return out


def _decision(svm: dict, z: np.ndarray) -> np.ndarray:
    """The SVM's scores of scaled rows `z`: one per class (scikit-learn's one-vs-rest shape: one-vs-one votes
    plus their summed confidences squashed into (-1/3, 1/3)), or one column for two classes."""
    support = (svm["support_rows"].numpy().astype(np.float64) - svm["mean"].numpy()) / svm["scale"].numpy()
    squared = (z * z).sum(1)[:, None] + (support * support).sum(1)[None, :] - 2.0 * (z @ support.T)
    kernel = np.exp(-svm["gamma"] * np.maximum(squared, 0.0))
    coef, intercept = svm["dual_coef"].numpy(), svm["intercept"].numpy()
    edges = np.concatenate([[0], np.cumsum(svm["n_support"].numpy())])
    n = len(edges) - 1
    of = [slice(edges[k], edges[k + 1]) for k in range(n)]
    pairs = list(itertools.combinations(range(n), 2))  # libsvm's order: (0, 1), (0, 2), ..., (1, 2), ...
    pairwise = np.stack([kernel[:, of[i]] @ coef[j - 1, of[i]] + kernel[:, of[j]] @ coef[i, of[j]] + intercept[p]
                         for p, (i, j) in enumerate(pairs)], axis=1)
    if n == 2:
        return pairwise  # scikit-learn's two-class attributes are signed so that > 0 means the second class
    votes, confidence = np.zeros((len(z), n)), np.zeros((len(z), n))
    for p, (i, j) in enumerate(pairs):
        votes[:, i] += pairwise[:, p] >= 0
        votes[:, j] += pairwise[:, p] < 0
        confidence[:, i] += pairwise[:, p]
        confidence[:, j] -= pairwise[:, p]
    return votes + confidence / (3 * (np.abs(confidence) + 1))


def probabilities(svm: dict, x: np.ndarray, classes: int) -> np.ndarray:
    """[clips, classes] probabilities of the SVM `fit` kept, column k for label k (a label absent from its
    training rows gets 0); rows sum to 1."""
    labels = svm["classes"].numpy()
    out = np.zeros((len(x), classes))
    if not len(x):
        return out
    z = (functionals(x) - svm["mean"].numpy()) / svm["scale"].numpy()
    scores = _decision(svm, z)
    sigmoid = 1.0 / (1.0 + np.exp(svm["sigmoid_a"].numpy() * scores + svm["sigmoid_b"].numpy()))
    if len(labels) == 2:
        proba = np.concatenate([1.0 - sigmoid, sigmoid], axis=1)
    else:
        total = sigmoid.sum(1, keepdims=True)
        proba = np.divide(sigmoid, total, out=np.full_like(sigmoid, 1.0 / len(labels)), where=total != 0)
    out[:, labels] = np.where((proba > 1.0) & (proba <= 1.0 + 1e-5), 1.0, proba)
    return out


def fuse(cnn: np.ndarray, svm: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """The normalised product of the CNN's probabilities and the SVM's raised to `weight` (1: equal weights); a
    clip on which they share no class (the product is all zero) keeps the CNN's."""
    svm = np.asarray(svm, np.float64)
    product = np.asarray(cnn, np.float64) * (svm if weight == 1.0 else svm ** weight)
    total = product.sum(1, keepdims=True)
    return np.where(total > 0, product / np.where(total > 0, total, 1.0), cnn)


def with_svm(saved: dict, run: dict, x, cnn: np.ndarray, memo: dict | None = None) -> np.ndarray:
    """A saved run's probabilities on rows `x`: its CNN's (`cnn`), fused with the SVM of its fold where the
    checkpoint holds one (a recipe with hybrid_svm_c > 0), else the CNN's unchanged. The seeds of a fold share
    its SVM: a caller scoring several runs on the same rows passes one `memo` dict, so that each fold's SVM
    scores them once."""
    for svm in saved.get("svms") or ():
        if svm["fold"] == run.get("fold"):
            memo = {} if memo is None else memo
            if svm["fold"] not in memo:
                memo[svm["fold"]] = probabilities(svm, x, cnn.shape[1])
            return fuse(cnn, memo[svm["fold"]], svm.get("weight", 1.0))  # older checkpoints: equal weights
    return cnn
