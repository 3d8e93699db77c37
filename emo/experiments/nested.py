"""Nested cross-validation on the EmoBox folds: in each fold the recipe is chosen among named candidates by
cross-validation over that fold's training actors alone, then trained on them and scored on its test actors.

The inner cross-validation leaves two folds out: for every pair {a, b} of folds one model trains on the other
folds' actors (16: four fifths of a fold's 20 training actors), and it scores fold b's clips in fold a's
inner cross-validation and fold a's in fold b's. Fold f's inner score of a candidate is therefore a five-fold
cross-validation over f's 20 training actors in which every clip is scored by a model that saw neither f nor
the clip's own fold; each pair model serves two folds, so six folds cost 15 models per candidate, not 30.
No model has validation rows (every actor but the held-out ones trains), so a candidate that early-stops
(`keep: best`) is refused: it would need actors to choose with.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from emo.core import executor, git, layout
from emo.core.params import EMOBOX_FOLDS, TrainSettings
from emo.data import arrays, augment, split
from emo.data.arrays import Arrays
from emo.experiments import memo, scratch, variants
from emo.experiments.candidates import Candidate, load_candidates, settings_of
from emo.learn import checkpoints, evaluate, hybrid, parallel, train

SELECTED_BY = "audio_logmel_balanced"  # the default model: its inner accuracy chooses every row's recipe
MODELS = tuple(variants.AUDIO_MODELS)
METRICS = Path("metrics/emobox/nested.json")


@dataclass(frozen=True)
class FoldInputs:
    """One training split of a featurised project (its test actors; all others train, no validation), as a
    loader for emo.learn.parallel: its split file is written by the first process that needs it, under a lock."""

    project: str
    feature: str
    balanced: bool
    test: tuple[int, ...]
    speaker_norm: bool
    split_file: str

    def __call__(self, fold: int | None = 0, splits: tuple[str, ...] = ("train", "val", "test")) -> dict[str, Arrays]:
        project, path = Path(self.project), Path(self.split_file)
        features = np.load(project / layout.feature_file(self.feature), mmap_mode="r")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.is_file():
                plan = augment.read(project / layout.PLAN)
                valid = np.load(project / layout.valid_file(self.feature))
                # fold 0 of a one-fold split: its test actors test, every other actor trains
                split.prepare(features, plan, valid, self.balanced, path, folds=(self.test,), protocol="emobox")
        return arrays.load_arrays(features, path, self.speaker_norm, splits, fold=0)


def pairs(folds: int) -> list[tuple[int, int]]:
    """Every pair of fold numbers a < b: the inner models."""
    return list(itertools.combinations(range(folds), 2))


def inner_clips(fold: int, folds: int) -> list[tuple[tuple[int, int], int]]:
    """For fold `fold`'s inner cross-validation: (pair model, the other fold whose clips it scores)."""
    return [((min(fold, other), max(fold, other)), other) for other in range(folds) if other != fold]


def featurize(root: Path, candidate: Candidate, work: Path) -> Path:
    """A scratch copy of the project with the candidate's audio settings on the EmoBox folds, featurised (kept
    in `work` and reused: features depend on the audio settings only)."""
    key = "-".join(f"{k}={v}" for k, v in sorted(candidate.audio.items())) or "default"
    project = work / "features" / key.replace("/", "_")
    if (project / layout.feature_file("logmel")).is_file() and (project / layout.feature_file("mfcc")).is_file():
        return project
    scratch.scratch_project(root, project, variants.overrides("emobox", {"audio": dict(candidate.audio)}, root))
    scratch.dvc(project, "repro", "featurize")
    return project


def train_and_predict(inputs: list[FoldInputs], seeds: tuple[int, ...], settings: TrainSettings, workers: int,
                      threads: int, desc: str, scheduler: str = executor.LOCAL,
                      cache: Path | None = None) -> list[list[dict]]:
    """Per loader and seed, the trained model's test probabilities, its test arrays, epochs and seconds; the
    models train on `workers` processes or the Dask cluster of `scheduler` (emo.learn.parallel: the same weights
    for any count and either). A recipe with hybrid_svm_c > 0 fuses each probability with an SVM's trained on the
    same rows, as the train stage does (emo.learn.hybrid; one SVM per loader: it has no seed).

    With a `cache` folder the CNNs' and the SVMs' test probabilities are kept apart, keyed by what each depends
    on (the split, the seeds and the recipe without its hybrid keys; the split and the SVM's C), so candidates
    that differ only in how the two are fused train nothing again; the fused result is the same either way."""
    cnn_key = {k: v for k, v in vars(settings).items() if not k.startswith("hybrid_")}
    kept = [memo.find(cache, "cnn", {"split": load.split_file, "test": load.test, "seeds": seeds,
                                     "settings": cnn_key}) for load in inputs]
    missing = [(load, path) for load, (path, found) in zip(inputs, kept, strict=True) if found is None]
    specs = [(load, [0], f"{desc} {load.feature} test {list(load.test)}") for load, _ in missing]
    trained = parallel.train_models(specs, seeds, settings, torch.device("cpu"), workers, threads,
                                    scheduler=scheduler) if specs else []
    test_rows = functools.cache(lambda load: load(0, ("test",))["test"])  # each loader's test arrays, read once
    made = {}
    for (load, path), (results, shapes) in zip(missing, trained, strict=True):
        saved, test = checkpoints.checkpoint(results, settings, shapes), test_rows(load)
        runs = saved["runs"]
        made[load] = {"seed": np.array([run["seed"] for run in runs]),
                      "seconds": np.array([run["seconds"] for run in runs], np.float64),
                      "best_epoch": np.array([run["best_epoch"] for run in runs]),
                      "proba": np.stack([train.predict_proba(checkpoints.rebuild(saved, run), test.x,
                                                             torch.device("cpu")) for run in runs])}
        memo.keep(path, **made[load])
    out = []
    for load, (_, found) in zip(inputs, kept, strict=True):
        cnn, test = found or made[load], test_rows(load)
        probabilities = list(cnn["proba"])
        if hybrid.applies(load.feature, settings.hybrid_svm_c):
            path, svm = memo.find(cache, "svm", {"split": load.split_file, "test": load.test,
                                                 "svm_c": settings.hybrid_svm_c})
            if svm is None:
                trained_on = load(0, ("train",))["train"]
                fitted = hybrid.fit(trained_on.x, trained_on.y, svm_c=settings.hybrid_svm_c, fold=0)
                svm = {"proba": hybrid.probabilities(fitted, test.x, cnn["proba"].shape[2])}
                memo.keep(path, **svm)
            probabilities = [hybrid.fuse(proba, svm["proba"], settings.hybrid_svm_weight) for proba in probabilities]
        out.append([{"seed": int(seed), "seconds": float(seconds), "best_epoch": int(epoch), "test": test,
                     "proba": proba}
                    for seed, seconds, epoch, proba in zip(cnn["seed"], cnn["seconds"], cnn["best_epoch"],
                                                           probabilities, strict=True)])
    return out


def split_path(project: Path, feature: str, balanced: bool, test: tuple[int, ...]) -> str:
    """Where a training split of a featurised project is kept (shared by every candidate of those features)."""
    name = f"{feature}_{layout.BALANCES[balanced]}_test{'-'.join(map(str, test))}"
    return str(project / "data" / "nested" / f"{name}.npz")


def _row(model: str) -> tuple[str, bool]:
    feature, balance = model.split("_")[1:]
    return feature, balance == "balanced"


def plan_actors(project: Path) -> np.ndarray:
    """The actor of every feature row of a featurised project."""
    return np.array([row.actor for row in augment.read(project / layout.PLAN)], np.int64)


def inner_scores(project: Path, settings: TrainSettings, seed: int, workers: int, threads: int,
                 folds: tuple[tuple[int, ...], ...] = EMOBOX_FOLDS, model: str = SELECTED_BY,
                 scheduler: str = executor.LOCAL, cache: Path | None = None) -> list[dict]:
    """Per fold, one seed's accuracy and UAR of the inner cross-validation over its training actors (`cache`:
    `train_and_predict`'s)."""
    feature, balanced = _row(model)
    loaders = [FoldInputs(str(project), feature, balanced, folds[a] + folds[b], settings.speaker_norm,
                          split_path(project, feature, balanced, folds[a] + folds[b]))
               for a, b in pairs(len(folds))]
    predicted = dict(zip(pairs(len(folds)), train_and_predict(loaders, (seed,), settings, workers, threads, "inner",
                                                                scheduler, cache), strict=True))
    return score_inner(predicted, plan_actors(project), folds)


def score_inner(predicted: dict[tuple[int, int], list[dict]], actors: np.ndarray,
                folds: tuple[tuple[int, ...], ...] = EMOBOX_FOLDS) -> list[dict]:
    """Per fold, the accuracy and UAR of its inner cross-validation from each pair model's (one) run on its test
    clips (`inner_clips`: a pair model scores the other fold's clips); `actors`: the actor of every feature row."""
    scores = []
    for fold in range(len(folds)):
        truth, guess = [], []
        for pair, other in inner_clips(fold, len(folds)):
            run = predicted[pair][0]
            scored = np.isin(actors[run["test"].index], folds[other])
            assert not np.isin(actors[run["test"].index][scored], folds[fold]).any()
            truth.append(run["test"].y[scored])
            guess.append(run["proba"][scored].argmax(1))
        score = evaluate.scores(np.concatenate(truth), np.concatenate(guess))
        scores.append({"accuracy": score["accuracy"], "uar": score["uar"], "n": int(sum(map(len, truth)))})
    return scores


def same_inputs(kept: dict | None, inputs: dict) -> bool:
    """Whether inner scores kept for `kept` inputs hold for `inputs`. A recipe key added to TrainSettings after they
    were kept matches at its field default: every key's default is the arithmetic from before it existed (off, or
    equal weights), so adding a key does not recompute 13 minutes of unchanged models per candidate."""
    if kept is None or kept.keys() != inputs.keys():
        return False
    defaults = {f.name: f.default for f in dataclasses.fields(TrainSettings)}
    added = {key for key in inputs["settings"].keys() - kept["settings"].keys()
             if key in defaults and json.loads(json.dumps(defaults[key])) == inputs["settings"][key]}
    return kept == {**inputs, "settings": {k: v for k, v in inputs["settings"].items() if k not in added}}


def choose(inner: dict[str, list[dict]]) -> list[str]:
    """Per fold, the candidate of highest inner accuracy (the first listed on a tie)."""
    names = list(inner)
    return [max(names, key=lambda name: (inner[name][fold]["accuracy"], -names.index(name)))
            for fold in range(len(inner[names[0]]))]


def outer_runs(project: Path, settings: TrainSettings, folds_chosen: list[int], models: list[str],
               seeds: tuple[int, ...], workers: int, threads: int,
               folds: tuple[tuple[int, ...], ...] = EMOBOX_FOLDS, scheduler: str = executor.LOCAL,
               cache: Path | None = None) -> dict[str, list[dict]]:
    """Per model, every (fold, seed) run of one candidate on the folds that chose it: fold f tests and the other
    20 actors train, as the pipeline's k-fold and EmoBox do."""
    jobs = [(model, fold) for model in models for fold in folds_chosen]
    loaders = []
    for model, fold in jobs:
        feature, balanced = _row(model)
        loaders.append(FoldInputs(str(project), feature, balanced, folds[fold], settings.speaker_norm,
                                  split_path(project, feature, balanced, folds[fold])))
    runs: dict[str, list[dict]] = {model: [] for model in models}
    for (model, fold), seeded in zip(jobs, train_and_predict(loaders, seeds, settings, workers, threads, "outer",
                                                             scheduler, cache), strict=True):
        runs[model].extend({**run, "fold": fold} for run in seeded)
    return runs


def model_metrics(runs: list[dict], chosen: list[str], folds: tuple[tuple[int, ...], ...] = EMOBOX_FOLDS) -> dict:
    """Test metrics over every fold and seed, per fold (with the recipe it chose), and of the seed ensemble."""
    per_run = sorted(({"seed": r["seed"], "fold": r["fold"], "recipe": chosen[r["fold"]], "best_epoch": r["best_epoch"],
                       "train_seconds": round(r["seconds"], 2), **evaluate.scores(r["test"].y, r["proba"].argmax(1))}
                      for r in runs), key=lambda r: (r["fold"], r["seed"]))
    tests = {r["fold"]: r["test"].y for r in runs}
    probabilities: dict[int, list[np.ndarray]] = {}
    for r in sorted(runs, key=lambda r: (r["fold"], r["seed"])):
        probabilities.setdefault(r["fold"], []).append(r["proba"])
    per_fold = evaluate.per_fold(per_run, [list(f) for f in folds], {fold: len(y) for fold, y in tests.items()})
    for entry in per_fold:
        entry["recipe"] = chosen[entry["fold"]]
    return {**evaluate.summarise(per_run), "n_test": int(sum(len(y) for y in tests.values())),
            "folds": len(tests), "seeds": sorted({r["seed"] for r in per_run}),
            "train_seconds": round(sum(r["train_seconds"] for r in per_run), 2),
            "per_fold": per_fold, "per_seed": per_run,
            **({"ensemble": evaluate.seed_ensemble(tests, probabilities)} if len({r["seed"] for r in runs}) > 1
               else {})}


def run(root: Path, work: Path, models: list[str], candidates: tuple[Candidate, ...] | None = None,
        log=print) -> dict:
    """The nested cross-validation of `models` on the EmoBox folds: each candidate's inner scores (kept in
    `work`, so an interrupted run resumes), each fold's choice, and the chosen recipes' test metrics. The
    candidates are all of the project's variants/nested.yaml unless given."""
    from emo.core import params as params_module
    from emo.core.io import write_json

    candidates = load_candidates(root) if candidates is None else candidates
    start, git_revision = time.perf_counter(), git.revision(root)  # the code that runs, before any edit
    p = params_module.load(root / "params.yaml")
    seed, workers, threads = p.train.seeds[0], p.train.workers, p.train.threads
    inner: dict[str, list[dict]] = {}
    for candidate in candidates:
        kept = work / "inner" / f"{candidate.name}.json"
        settings = settings_of(p, candidate)
        # what the scores depend on: reused only when all of it is unchanged (a changed train.ours recomputes)
        inputs = json.loads(json.dumps({"audio": candidate.audio, "settings": vars(settings), "seed": seed,
                                        "model": SELECTED_BY}))
        saved = json.loads(kept.read_text()) if kept.is_file() else {}
        if same_inputs(saved.get("inputs"), inputs):
            inner[candidate.name] = saved["scores"]
        else:
            project = featurize(root, candidate, work)
            inner[candidate.name] = inner_scores(project, settings, seed, workers, threads,
                                                 scheduler=p.compute.scheduler, cache=work / "predictions")
            write_json(kept, {"inputs": inputs, "scores": inner[candidate.name]})
        log(f"inner {candidate.name}: accuracy per fold "
            f"{[round(100 * s['accuracy'], 1) for s in inner[candidate.name]]}")
    chosen = choose(inner)
    log(f"chosen per fold: {chosen}")
    runs: dict[str, list[dict]] = {model: [] for model in models}
    by_name = {c.name: c for c in candidates}
    for name in dict.fromkeys(chosen):
        candidate = by_name[name]
        found = outer_runs(featurize(root, candidate, work), settings_of(p, candidate),
                           [f for f, c in enumerate(chosen) if c == name], models, tuple(p.train.seeds), workers,
                           threads, scheduler=p.compute.scheduler, cache=work / "predictions")
        for model in models:
            runs[model].extend(found[model])
    selection = {"by": SELECTED_BY, "seed": seed, "score": "accuracy",
                 "candidates": [{"name": c.name, "audio": c.audio, "train": c.train}
                                for c in candidates],
                 "folds": [{"fold": f, "test_actors": list(EMOBOX_FOLDS[f]),
                            "inner_actors": sorted(a for g, fold in enumerate(EMOBOX_FOLDS) if g != f for a in fold),
                            "scores": {name: inner[name][f] for name in inner}, "chosen": chosen[f]}
                           for f in range(len(EMOBOX_FOLDS))]}
    return {"protocol": "emobox", "fold_test_actors": [list(f) for f in EMOBOX_FOLDS],
            "git_revision": git_revision, "selection": selection,
            "models": {model: model_metrics(runs[model], chosen) for model in models},
            "seconds": round(time.perf_counter() - start, 1)}
