"""A classical second opinion beside the CNN (issue 23's hybrid): utterance functionals of the CNN's own input
features, an RBF support-vector machine on them, and the product of its class probabilities with the CNN's.

The two err on different clips (the CNN sees the time-frequency pattern, the functionals a clip's overall level,
spread and movement per band), so the product, with equal weights fixed before any score was seen, corrects
some of each one's mistakes. Whether it is kept is decided by `emo nested` (variants/nested.yaml `hybrid-svm`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: rows summarised at a time: the whole training set as float64 frames would be several hundred MB
CHUNK = 256


@dataclass(frozen=True)
class HybridSettings:
    """svm_c: the SVM's C (its gamma is scikit-learn's "scale"); the SVM trains on the CNN's training rows."""

    svm_c: float = 3.0

    def __post_init__(self):
        if not (isinstance(self.svm_c, (int, float)) and not isinstance(self.svm_c, bool) and self.svm_c > 0):
            raise ValueError(f"hybrid svm_c must be a number > 0, got {self.svm_c!r}")


def functionals(x: np.ndarray) -> np.ndarray:
    """[clips, bins, frames] -> [clips, 5 * bins]: per bin the mean, standard deviation, 10th and 90th
    percentiles over frames, and the standard deviation of the frame-to-frame difference."""
    if x.ndim != 3 or x.shape[2] < 2:
        raise ValueError(f"functionals need [clips, bins, frames >= 2] features, got shape {x.shape}")
    out = np.empty((len(x), 5 * x.shape[1]), np.float64)
    for start in range(0, len(x), CHUNK):
        part = np.asarray(x[start:start + CHUNK], np.float64)
        low, high = np.percentile(part, [10, 90], axis=2)
        out[start:start + CHUNK] = np.concatenate(
            [part.mean(2), part.std(2), low, high, np.diff(part, axis=2).std(2)], axis=1)
    return out


def fit(x: np.ndarray, y: np.ndarray, *, settings: HybridSettings):
    """The scaled RBF SVM on the clips' functionals, its scores made probabilities by Platt's sigmoid fitted on
    five unshuffled folds of the training rows (deterministic: no seed)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    svm = make_pipeline(StandardScaler(), SVC(C=settings.svm_c, gamma="scale"))
    return CalibratedClassifierCV(svm, method="sigmoid", cv=5, ensemble=False).fit(functionals(x), y)


def predict_proba(model, x: np.ndarray, classes: int) -> np.ndarray:
    """[clips, classes] probabilities, column k for label k (a label absent from training gets 0)."""
    out = np.zeros((len(x), classes))
    if len(x):
        out[:, model.classes_] = model.predict_proba(functionals(x))
    return out


def fuse(cnn: np.ndarray, svm: np.ndarray) -> np.ndarray:
    """The normalised product of the two models' probabilities, equal weights; a clip on which they share no
    class (the product is all zero) keeps the CNN's."""
    product = np.asarray(cnn, np.float64) * np.asarray(svm, np.float64)
    total = product.sum(1, keepdims=True)
    return np.where(total > 0, product / np.where(total > 0, total, 1.0), cnn)
