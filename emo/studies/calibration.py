"""The `calibrate` stage: each audio model's (and the two-feature ensemble's) temperature, fitted on its seed ensemble's
probabilities of the validation actors' original clips (the evaluate stage's predictions/<model>.csv), and its
calibration (ECE, NLL, accuracy, mean confidence) before and after scaling on the test actors and on every corpus the
crosscorpus stage scored (predictions/crosscorpus/<model>_<corpus>.csv).

The rule, fixed before any test number was seen: `emo predict` always applies the validation-fitted temperature;
the test actors and the other corpora only judge it afterwards (`helped`), they never choose it. Another corpus is
scored over the classes it shares with RAVDESS, the probabilities renormalised over them (what a user who knows the
corpus's classes would read); its clips of other classes (EmoDB's boredom) are left out and counted. Restricting
and temperature scaling commute: p_i^(1/T) / sum over the shared classes is the same either way round."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from emo.core import layout, metrics_detail
from emo.core.errors import EmoError
from emo.core.io import write_csv, write_json
from emo.core.ravdess import EMOTIONS
from emo.corpora import CORPORA
from emo.learn import calibration, ensemble, predictions
from emo.learn.predictions import ENSEMBLE, Table

PREDICTIONS, CROSS = predictions.FOLDER, predictions.CROSSCORPUS
FIT_SPLIT, TEST_SPLIT = "val", "test"
METRICS = Path("metrics/calibration.json")
#: What metrics/calibration.json holds (`dvc metrics show`): each model's temperature and its expected calibration
#: error before and after on the test actors; the validation actors, other corpora, NLL, confidence, the rule and the
#: bins go to metrics/calibration_detail.json (emo.core.metrics_detail).
HEADLINE = ("models.*.temperature", f"models.*.{TEST_SPLIT}.before.ece", f"models.*.{TEST_SPLIT}.after.ece")
RELIABILITY = Path("plots/calibration.csv")
RELIABILITY_COLUMNS = ("model", "split", "scaling", "bin", "lower", "upper", "confidence", "accuracy", "count")
BINS = 15
FIX = "run the evaluate and crosscorpus stages first (`dvc repro calibrate`)"
RULE = ("emo predict always applies the temperature fitted on the validation actors' seed-ensemble probabilities; "
        "the test actors and the other corpora only judge it (helped: ECE after < ECE before)")


def models() -> list[str]:
    """The audio models the evaluate and crosscorpus stages write predictions of, and the default two-feature
    ensemble (the ensemble and crosscorpus stages')."""
    return [layout.model_name(f, b) for f in layout.AUDIO_FEATURES for b in layout.BALANCES] + [ensemble.NAME]


def ensemble_rows(table: Table, split: str, where: Path) -> Table:
    """The rows of one split that `emo predict` would answer: the seed ensemble's, or the only run's."""
    rows = table.where(table.split == split)
    runs = sorted(set(rows.run.tolist()))
    if ENSEMBLE in runs:
        return rows.where(rows.run == ENSEMBLE)
    if len(runs) <= 1:
        return rows
    raise EmoError(f"{where}: split {split!r} has runs {runs} but no {ENSEMBLE!r} rows to calibrate; {FIX}")


def arrays(rows: Table, classes: list[str]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Probabilities over `classes` (renormalised) and class indices of the rows labelled with one of them, and
    how many rows of each other label were left out."""
    keep = np.isin(rows.label, classes)
    p = rows.proba[keep][:, [EMOTIONS.index(c) for c in classes]].astype(np.float64)
    p /= np.maximum(p.sum(axis=1, keepdims=True), calibration.FLOOR)
    y = np.array([classes.index(label) for label in rows.label[keep]], dtype=np.int64)
    return p, y, dict(sorted(Counter(rows.label[~keep].tolist()).items()))


def judged(p: np.ndarray, y: np.ndarray, temperature: float) -> tuple[dict, dict[str, list[dict]]]:
    """Scores before and after scaling, whether it lowered the ECE, and the reliability bins of both."""
    if not len(y):
        raise EmoError("no clip to score the calibration on")
    scaled = calibration.apply_temperature(p, temperature)
    before, after = calibration.summary(p, y, bins=BINS), calibration.summary(scaled, y, bins=BINS)
    bins = {"before": calibration.reliability(p, y, bins=BINS), "after": calibration.reliability(scaled, y, bins=BINS)}
    return {"before": before, "after": after, "helped": after["ece"] < before["ece"]}, bins


def shared(name: str) -> list[str]:
    """The RAVDESS emotions corpus `name` has, in RAVDESS's order."""
    return [e for e in EMOTIONS if e in CORPORA[name].labels]


def calibrate_model(model: str, root: Path) -> tuple[dict, dict[str, dict[str, list[dict]]]]:
    """One model's temperature and scores per split (val, test, each corpus), and its reliability bins."""
    path = root / PREDICTIONS / f"{model}.csv"
    rows = predictions.read(path, FIX)
    fit = ensemble_rows(rows, FIT_SPLIT, path)
    fit_p, fit_y, _ = arrays(fit, list(EMOTIONS))
    if not len(fit_y):
        raise EmoError(f"{path}: no validation rows to fit a temperature on (split.val must name actors); {FIX}")
    temperature = calibration.fit_temperature(fit_p, fit_y)
    entry = {"temperature": temperature,
             "fitted_on": {"split": FIT_SPLIT, "run": str(fit.run[0]), "n": int(len(fit_y))}}
    bins = {}
    for split in (FIT_SPLIT, TEST_SPLIT):
        p, y, _ = arrays(ensemble_rows(rows, split, path), list(EMOTIONS))
        if len(y):
            entry[split], bins[split] = judged(p, y, temperature)
    for name in CORPORA:
        path = root / CROSS / f"{model}_{name}.csv"
        if name == "ravdess" or not path.is_file():
            continue
        classes = shared(name)
        p, y, left = arrays(ensemble_rows(predictions.read(path, FIX), name, path), classes)
        entry[name], bins[name] = judged(p, y, temperature)
        entry[name].update(classes=classes, not_scored=left)
    return entry, bins


def evaluate(root: Path) -> tuple[dict, list[dict], dict]:
    """metrics/calibration.json's content, the reliability rows (non-empty bins) and models/calibration.json's."""
    metrics = {"rule": RULE, "bins": BINS, "models": {}}
    records = []
    for model in models():
        entry, bins = calibrate_model(model, root)
        metrics["models"][model] = entry
        for split, kinds in bins.items():
            for scaling, rows in kinds.items():
                records += [{"model": model, "split": split, "scaling": scaling, "bin": i, **row}
                            for i, row in enumerate(rows) if row["count"]]
    temperatures = {"rule": RULE, "fitted_on": "the validation actors' original clips, seed ensemble (split.val)",
                    "models": {m: {"temperature": e["temperature"]} for m, e in metrics["models"].items()}}
    return metrics, records, temperatures


def write_outputs(root: Path, metrics: dict, records: list[dict], temperatures: dict) -> None:
    """metrics/calibration.json and its detail file, plots/calibration.csv and models/calibration.json."""
    metrics_detail.write(root / METRICS, metrics, HEADLINE)
    write_csv(root / RELIABILITY, RELIABILITY_COLUMNS, records)
    write_json(root / calibration.TEMPERATURES, temperatures)
