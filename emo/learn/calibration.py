"""Whether a model's probabilities mean what they say, and one number that makes them: top-label expected
calibration error (ECE) over equal-width confidence bins, the reliability diagram's data, and temperature scaling
(Guo et al. 2017) of already averaged probabilities, softmax(log p / T), with T fitted by a deterministic bounded
search. Pure numpy; probabilities are [clips, classes] rows summing to 1, labels class indices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from emo.core.errors import EmoError

#: Where the calibrate stage leaves each model's temperature and `emo predict` finds it.
TEMPERATURES = Path("models/calibration.json")
#: Probabilities below this count as it before their log is taken (a 0 written to a CSV, float32 underflow).
FLOOR = 1e-12
#: The search range of T (in log T): far beyond any temperature a trained classifier needs.
LOG_T_BOUNDS = (-5.0, 5.0)
GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def _check(probabilities: np.ndarray, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise EmoError(f"calibration needs probabilities [clips, classes] of at least one clip, got shape {p.shape}")
    if labels is None:
        return p, None
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (p.shape[0],) or y.min() < 0 or y.max() >= p.shape[1]:
        raise EmoError(f"calibration needs one class index in [0, {p.shape[1]}) per clip, got {y.shape} labels")
    return p, y


def reliability(probabilities: np.ndarray, labels: np.ndarray, *, bins: int = 15) -> list[dict]:
    """Per equal-width bin of top-label confidence ((lower, upper], the first bin closed at 0): its edges, the
    clips' mean confidence and accuracy (None for an empty bin), and how many clips fall in it."""
    p, y = _check(probabilities, labels)
    confidence, correct = p.max(axis=1), (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        n = int(inside.sum())
        rows.append({"lower": float(edges[b]), "upper": float(edges[b + 1]), "count": n,
                     "confidence": float(confidence[inside].mean()) if n else None,
                     "accuracy": float(correct[inside].mean()) if n else None})
    return rows


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, *, bins: int = 15) -> float:
    """Top-label ECE: the clip-weighted mean over bins of |accuracy - mean confidence| (0 = calibrated)."""
    rows = reliability(probabilities, labels, bins=bins)
    total = sum(r["count"] for r in rows)
    return float(sum(r["count"] * abs(r["accuracy"] - r["confidence"]) for r in rows if r["count"]) / total)


def nll(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes (nats)."""
    p, y = _check(probabilities, labels)
    return float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], FLOOR))))


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) per row: T > 1 softens, T < 1 sharpens; a monotone map of each row, so its order (the
    prediction) is kept, and T = 1 gives the rows back (renormalised)."""
    if not temperature > 0:
        raise EmoError(f"a temperature must be > 0, got {temperature}")
    p, _ = _check(probabilities)
    logits = np.log(np.maximum(p, FLOOR)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray, *, tolerance: float = 1e-6) -> float:
    """The T > 0 that minimises the NLL of softmax(log p / T) on these rows: a golden-section search over log T in
    LOG_T_BOUNDS (the NLL is convex in 1/T, hence unimodal in log T); deterministic, no randomness."""
    p, y = _check(probabilities, labels)
    logp = np.log(np.maximum(p, FLOOR))
    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        z = logp / np.exp(log_t)
        top = z.max(axis=1)
        return float(np.mean(top + np.log(np.exp(z - top[:, None]).sum(axis=1)) - z[rows, y]))

    a, b = LOG_T_BOUNDS
    c, d = b - GOLDEN * (b - a), a + GOLDEN * (b - a)
    fc, fd = loss(c), loss(d)
    while b - a > tolerance:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - GOLDEN * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + GOLDEN * (b - a)
            fd = loss(d)
    return float(np.exp((a + b) / 2))


def summary(probabilities: np.ndarray, labels: np.ndarray, *, bins: int = 15) -> dict[str, float | int]:
    """ECE, NLL, accuracy and mean top-label confidence of one set of rows, and how many."""
    p, y = _check(probabilities, labels)
    return {"ece": expected_calibration_error(p, y, bins=bins), "nll": nll(p, y),
            "accuracy": float(np.mean(p.argmax(axis=1) == y)), "confidence": float(p.max(axis=1).mean()),
            "n": int(len(y))}


def load_temperatures(path: Path) -> dict[str, float]:
    """Model name -> T from a models/calibration.json; {} when the file is absent."""
    if not path.is_file():
        return {}
    try:
        found = {name: float(entry["temperature"]) for name, entry in json.loads(path.read_text())["models"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise EmoError(f"{path}: not a calibration file ({err}); run `dvc repro calibrate` to write it again") from None
    bad = [name for name, t in found.items() if not (np.isfinite(t) and t > 0)]
    if bad:
        raise EmoError(f"{path}: the temperature of {', '.join(bad)} is not a positive number; run `dvc repro "
                       "calibrate` to write it again")
    return found
