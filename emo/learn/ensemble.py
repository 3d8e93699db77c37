"""The default audio model (issue 23): both features at once. Two trained audio hybrids, one per feature (each a
CNN times its SVM, emo.learn.hybrid), their class probabilities multiplied per run, the second's raised to a weight
(log-linear pooling, `emo.learn.hybrid.fuse`): `ensemble.mfcc_weight` in params.yaml (0.5).

`emo nested` machinery chose it (bench/feature_ensemble.py, metrics/emobox/nested_feature_ensemble.json): the
log-mel hybrid times the MFCC hybrid^0.5 won the inner cross-validation of 5 of 6 EmoBox folds (^1 the sixth)
over the log-mel hybrid alone, the weights fixed before any score was seen.

Run k of the ensemble is run k of every member (the same seed and fold: the members train on the same rows with
the same seeds); its seed ensemble is the mean of those fused runs, as every model's is. The ensemble trains
nothing: it is computed from its members' per-clip predictions (predictions/<member>.csv), so its scores follow
from theirs exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from emo.core import layout, metrics_detail
from emo.core.errors import EmoError
from emo.core.ravdess import EMOTIONS
from emo.learn import hybrid, predictions

NAME = layout.ENSEMBLE_MODEL
MEMBERS = ("audio_logmel_balanced", "audio_mfcc_balanced")
FIX = "re-run the stages that write it (`dvc repro ensemble`)"


@dataclass(frozen=True)
class FeatureEnsemble:
    """A named product of trained models' probabilities: `members` (model name, exponent), the first's exponent 1."""

    name: str
    members: tuple[tuple[str, float], ...]

    @property
    def models(self) -> list[str]:
        return [model for model, _ in self.members]

    @property
    def formula(self) -> str:
        """`audio_logmel_balanced x audio_mfcc_balanced^0.5`: what the metrics call its architecture."""
        return " x ".join(model + ("" if weight == 1 else f"^{weight:g}") for model, weight in self.members)

    def fuse(self, probabilities: Sequence[np.ndarray]) -> np.ndarray:
        """[clips, classes] of each member, in member order -> the normalised weighted product."""
        if len(probabilities) != len(self.members):
            raise ValueError(f"{self.name} fuses {len(self.members)} models' probabilities, got {len(probabilities)}")
        out = np.asarray(probabilities[0], np.float64)
        for proba, (_, weight) in zip(probabilities[1:], self.members[1:], strict=True):
            out = hybrid.fuse(out, proba, weight)
        return out

    def fuse_tables(self, tables: Sequence[predictions.Table], where: Sequence[str],
                    classes: Sequence[int] | None = None) -> predictions.Table:
        """The members' per-clip predictions (the same rows in the same order: split, clip, fold, run) fused run by
        run; each `ensemble` row is the mean of the fused runs of its split and clip (and fold, where it has one),
        as each member's is of its own runs. `predicted`: the most probable of `classes` (all when None)."""
        first = tables[0]
        for table, name in zip(tables[1:], where[1:], strict=True):
            for field in ("split", "clip", "fold", "run"):
                if len(table) != len(first) or not np.array_equal(getattr(table, field), getattr(first, field)):
                    raise EmoError(f"{name} and {where[0]} do not hold the same clips and runs row by row ({field} "
                                   f"differs), so {self.name} cannot pair them: the models were trained or scored "
                                   f"on different data; {FIX}")
        proba = self.fuse([t.proba for t in tables])
        runs = first.run != predictions.ENSEMBLE
        runs_of: dict[tuple[str, str], list[int]] = {}  # each clip's run rows, in row order
        for i in np.flatnonzero(runs):
            runs_of.setdefault((first.split[i], first.clip[i]), []).append(i)
        for i in np.flatnonzero(~runs):
            same = [j for j in runs_of.get((first.split[i], first.clip[i]), []) if first.fold[i] in ("", first.fold[j])]
            proba[i] = proba[same].mean(axis=0)
        shown = range(len(EMOTIONS)) if classes is None else classes
        predicted = np.array(EMOTIONS)[predictions.restricted_argmax(proba, list(shown))]
        return predictions.Table(first.split, first.clip, first.speaker, first.label, first.fold, first.run,
                                 predicted, proba)


def default(mfcc_weight: float) -> FeatureEnsemble:
    """The pipeline's default model: the log-mel balanced hybrid times the MFCC balanced hybrid^mfcc_weight."""
    return FeatureEnsemble(NAME, ((MEMBERS[0], 1.0), (MEMBERS[1], float(mfcc_weight))))


def _runs(table: predictions.Table, member_metrics: Sequence[dict]) -> tuple[list[dict], dict, list[np.ndarray]]:
    """The test split's trained runs as `emo.learn.evaluate` takes them: each run (seed, fold, the first member's
    best epoch, every member's training seconds added up), each fold's labels, each run's probabilities."""
    test = table.where((table.split == "test") & (table.run != predictions.ENSEMBLE))
    saved_runs, tests, probabilities = [], {}, []
    for fold, run in dict.fromkeys(zip(test.fold.tolist(), test.run.tolist(), strict=True)):
        rows = test.where((test.fold == fold) & (test.run == run))
        key = None if fold == "" else int(fold)
        seed = int(run[len("seed"):])
        trained = [next((r for r in m["per_seed"] if r["seed"] == seed and r.get("fold") == key), None)
                   for m in member_metrics]
        if any(r is None for r in trained):
            raise EmoError(f"a member's metrics lack seed {seed}" + ("" if key is None else f" of fold {key}")
                           + f" that its predictions hold; {FIX}")
        saved_runs.append({"seed": seed, "fold": key, "best_epoch": trained[0]["best_epoch"],
                           "seconds": sum(r["train_seconds"] for r in trained)})
        tests.setdefault(key, SimpleNamespace(y=np.array([EMOTIONS.index(e) for e in rows.label], np.int64)))
        probabilities.append(rows.proba)
    return saved_runs, tests, probabilities


def evaluate_ensemble(chosen: FeatureEnsemble, root: Path = Path("."), *, samples: int, seed: int
                      ) -> tuple[dict, np.ndarray, np.ndarray, predictions.Table]:
    """`emo.learn.evaluate.evaluate_model`'s four for the ensemble, from its members' per-clip predictions and
    metrics: the scores over runs with 95 % intervals, the seed ensemble's, and what it adds over its first member
    alone (paired differences on the same test clips)."""
    from emo.learn import evaluate  # scikit-learn's metrics: not for `emo predict`, which imports this module
    from emo.learn.uncertainty import paired_scores

    paths = [root / predictions.FOLDER / f"{model}.csv" for model in chosen.models]
    tables = [predictions.read(path, f"re-run `dvc repro evaluate@{model.removeprefix('audio_').replace('_', '-')}`")
              for path, model in zip(paths, chosen.models, strict=True)]
    member_metrics = []
    for model in chosen.models:
        found = metrics_detail.read(root / f"metrics/{model}.json")
        if found is None:
            raise EmoError(f"metrics/{model}.json: missing; run its evaluate stage first (`dvc repro ensemble`)")
        member_metrics.append(found)
    table = chosen.fuse_tables(tables, [str(p) for p in paths])
    runs, tests, probabilities = _runs(table, member_metrics)
    saved = {"runs": runs}
    metrics, actual, predicted = evaluate.evaluate_runs(saved, tests, None, probabilities)
    first = member_metrics[0]
    protocol = {k: first[k] for k in ("protocol", "test_actors", "fold_test_actors") if k in first}
    if None not in tests:
        metrics["per_fold"] = evaluate.per_fold(metrics["per_seed"], protocol["fold_test_actors"],
                                                {fold: len(test.y) for fold, test in tests.items()})
    evaluate.with_intervals(metrics, saved, tests, probabilities, samples=samples, seed=seed)
    _, alone_tests, alone = _runs(tables[0], member_metrics)
    labels, own, own_ensemble = evaluate.correct_runs(saved, alone_tests, alone)
    _, fused, fused_ensemble = evaluate.correct_runs(saved, tests, probabilities)
    gain = {"model": chosen.models[0], **paired_scores(own, fused, labels, samples=samples, seed=seed)}
    if own_ensemble is not None:
        gain["ensemble"] = paired_scores(own_ensemble, fused_ensemble, labels, samples=samples, seed=seed)
    members = [{"model": model, "weight": weight} for model, weight in chosen.members]
    return ({"model": chosen.name, "members": members, "device": first.get("device", "cpu"), "preset": first["preset"],
             "architecture": chosen.formula, **protocol, **metrics,
             "gain_over_first_member": gain}, actual, predicted, table)

