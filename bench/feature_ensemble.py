"""Both features at once (issue 23), chosen by nested cross-validation: the default log-mel hybrid (CNN x SVM^0.5)
alone, or its probabilities times the MFCC balanced hybrid's raised to a weight (log-linear pooling, as
emo.learn.hybrid.fuse), each EmoBox fold choosing by the inner cross-validation over its own training actors exactly
as `emo nested` does (seed 0, inner accuracy, ties to the default), then scored on its test actors (3 seeds).

It runs on `emo nested`'s machinery and --work folder: the models' test probabilities kept there are reused, the
missing ones (the MFCC CNNs of the inner pairs and outer folds: about 30 minutes on 2 cores) are trained and kept.

    python bench/feature_ensemble.py --work W --weights 0.5 1 --out metrics/emobox/nested_feature_ensemble.json

prints every candidate's inner accuracy per fold, the choices, the nested outer scores, and each weight against the
default on all folds, paired over the 1440 clips; --out writes the JSON (`emo nested`'s shape plus `paired`).
The choice became the pipeline's default model at the weight 5 of 6 folds chose, 0.5 (emo.learn.ensemble; the
`ensemble` stage: metrics/audio_both_balanced.json, its EmoDB scores in metrics/crosscorpus.json). "default" below
is the log-mel hybrid, the default this run was measured against.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from emo.core import git
from emo.core.io import write_json
from emo.core.params import EMOBOX_FOLDS, load
from emo.experiments import candidates, nested, outer
from emo.learn import hybrid, uncertainty

FEATURES = ("logmel", "mfcc")  # the default model's feature, and its partner's
MODEL = "audio_logmel_balanced+audio_mfcc_balanced"  # the two-feature hybrid's name in the JSON


def name_of(weight: float) -> str:
    return "default" if weight == 0 else f"mfcc-{weight:g}"


def fused(runs_a: list[dict], runs_b: list[dict], weight: float) -> list[dict]:
    """Seed by seed, the first feature's runs with their probabilities times the second's to `weight` (0: the
    first's unchanged); both scored the same clips in the same order."""
    out = []
    for a, b in zip(runs_a, runs_b, strict=True):
        if a["seed"] != b["seed"] or not np.array_equal(a["test"].index, b["test"].index):
            raise ValueError("the two features' runs do not score the same clips with the same seeds")
        out.append({**a, "seconds": a["seconds"] + b["seconds"],
                    "proba": a["proba"] if weight == 0 else hybrid.fuse(a["proba"], b["proba"], weight)})
    return out


def inner_scores(predicted: dict[str, list], actors: np.ndarray, weight: float,
                 folds: tuple[tuple[int, ...], ...] = EMOBOX_FOLDS) -> list[dict]:
    """Per fold, the inner accuracy and UAR of the fusion at `weight` (`predicted`: per feature, the pair models'
    runs in nested.pairs' order), scored as `emo nested` scores a candidate."""
    both = zip(nested.pairs(len(folds)), predicted[FEATURES[0]], predicted[FEATURES[1]], strict=True)
    return nested.score_inner({pair: fused(a, b, weight) for pair, a, b in both}, actors, folds)


def as_json(differences: dict[str, uncertainty.Difference]) -> dict:
    return {key: {"difference": d.difference, "ci95": [d.low, d.high], "p_value": d.p_value, "clips": d.clips}
            for key, d in differences.items()}


def run(root: Path, work: Path, weights: tuple[float, ...], log=print) -> dict:
    start, revision = time.perf_counter(), git.revision(root)
    p = load(root / "params.yaml")
    settings = candidates.settings_of(p, candidates.Candidate("default"))
    project, cache = nested.featurize(root, candidates.Candidate("default"), work), work / "predictions"
    seed, workers, threads = p.train.seeds[0], p.train.workers, p.train.threads

    def loaders(feature: str, tests: list[tuple[int, ...]]) -> list[nested.FoldInputs]:
        return [nested.FoldInputs(str(project), feature, True, test, settings.speaker_norm,
                                  nested.split_path(project, feature, True, test)) for test in tests]

    def predict(tests: list[tuple[int, ...]], seeds: tuple[int, ...], desc: str) -> dict[str, list]:
        return {feature: nested.train_and_predict(loaders(feature, tests), seeds, settings, workers, threads,
                                                  f"{desc} {feature}", cache=cache) for feature in FEATURES}

    pair_tests = [EMOBOX_FOLDS[a] + EMOBOX_FOLDS[b] for a, b in nested.pairs(len(EMOBOX_FOLDS))]
    inner_predicted, actors = predict(pair_tests, (seed,), "inner"), nested.plan_actors(project)
    inner = {name_of(w): inner_scores(inner_predicted, actors, w) for w in (0.0, *weights)}
    for name, scores in inner.items():
        log(f"inner {name}: accuracy per fold {[round(100 * s['accuracy'], 1) for s in scores]}, "
            f"mean {100 * np.mean([s['accuracy'] for s in scores]):.2f}")
    chosen = nested.choose(inner)
    log(f"chosen per fold: {chosen}")
    tested = predict(list(EMOBOX_FOLDS), tuple(p.train.seeds), "outer")
    runs = {name_of(w): [{**r, "fold": f} for f in range(len(EMOBOX_FOLDS))
                         for r in fused(tested[FEATURES[0]][f], tested[FEATURES[1]][f], w)] for w in (0.0, *weights)}
    nested_runs = [r for name in inner for r in runs[name] if chosen[r["fold"]] == name]
    result = {"protocol": "emobox", "git_revision": revision, "features": list(FEATURES),
              "selection": {"by": MODEL, "seed": seed, "score": "accuracy",
                            "candidates": list(inner), "folds": [
                                {"fold": f, "test_actors": list(EMOBOX_FOLDS[f]),
                                 "scores": {name: inner[name][f] for name in inner}, "chosen": chosen[f]}
                                for f in range(len(EMOBOX_FOLDS))]},
              "models": {MODEL: nested.model_metrics(nested_runs, chosen)},
              "all_folds": {name: nested.model_metrics(runs[name], [name] * len(EMOBOX_FOLDS)) for name in runs},
              "paired": {name: as_json(outer.paired(runs["default"], runs[name]))
                         for name in runs if name != "default"}}
    summary = result["models"][MODEL]
    log(f"nested outer: accuracy {100 * summary['accuracy']:.2f} ± {100 * summary['accuracy_std']:.2f} (std over "
        f"folds and seeds), UAR {100 * summary['uar']:.2f}, seed ensemble {100 * summary['ensemble']['accuracy']:.2f}"
        f" (UAR {100 * summary['ensemble']['uar']:.2f})")
    for name, diff in result["paired"].items():
        for key, d in diff.items():
            log(f"{name} - default (all folds), {key}: {100 * d['difference']:+.2f} "
                f"[{100 * d['ci95'][0]:+.2f}, {100 * d['ci95'][1]:+.2f}] p {d['p_value']:.3f}")
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=Path("."))
    parser.add_argument("--work", type=Path, required=True, help="emo nested's --work folder")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.5, 1.0], help="the MFCC hybrid's exponents")
    parser.add_argument("--out", type=Path, help="write the result here (JSON)")
    args = parser.parse_args()
    if any(w <= 0 for w in args.weights):
        parser.error("--weights must be > 0 (0 is the default, always a candidate)")
    result = run(args.project.resolve(), args.work.resolve(), tuple(args.weights))
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
