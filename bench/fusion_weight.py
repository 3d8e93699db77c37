"""The hybrid's SVM weight on every EmoBox fold, paired: the outer models `emo nested` kept in its --work folder,
fused at weight A and at weight B (train.ours.hybrid_svm_weight), scored on the same 1440 clips x 3 seeds.

Nothing trains: the CNNs' and SVMs' test probabilities come from --work/predictions (emo nested keeps them), and
the script stops if one is missing. Run after `emo nested --work W ...` has trained the outer models of every
fold with the default recipe's CNN keys:

    python bench/fusion_weight.py --work W --weights 1 0.5

prints each weight's accuracy per seed, UAR and seed-ensemble accuracy, and B - A with a 95 % paired bootstrap
interval (emo.learn.uncertainty.paired_difference, 10 000 resamples, seed 0).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from emo.core.params import EMOBOX_FOLDS, load
from emo.experiments import candidates, nested, outer
from emo.learn import uncertainty


def _refuse(*args, **kwargs):
    raise SystemExit("a model of these folds is not kept in --work/predictions: run `emo nested` with that --work "
                     "first")


def runs_per_weight(root: Path, work: Path, weights: tuple[float, ...], model: str) -> dict[float, list[dict]]:
    """Per weight, every fold's outer runs of `model` fused at that weight."""
    nested.parallel.train_models = _refuse  # this script only re-fuses what is kept
    p = load(root / "params.yaml")
    settings = candidates.settings_of(p, candidates.Candidate("default"))
    return {weight: nested.outer_runs(nested.featurize(root, candidates.Candidate("default"), work),
                                      dataclasses.replace(settings, hybrid_svm_weight=weight),
                                      list(range(len(EMOBOX_FOLDS))), [model], tuple(p.train.seeds), p.train.workers,
                                      p.train.threads, cache=work / "predictions")[model]
            for weight in weights}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=Path("."))
    parser.add_argument("--work", type=Path, required=True, help="emo nested's --work folder")
    parser.add_argument("--weights", type=float, nargs=2, default=(1.0, 0.5), metavar=("A", "B"))
    parser.add_argument("--model", default=nested.SELECTED_BY)
    args = parser.parse_args()
    a, b = args.weights
    runs = runs_per_weight(args.project, args.work, (a, b), args.model)
    for weight in (a, b):
        correct, ensemble, labels = outer.correct(runs[weight])
        print(f"weight {weight:g}: accuracy per seed {np.round(100 * correct.mean(0), 2).tolist()}, mean "
              f"{100 * correct.mean():.2f} %; UAR {100 * uncertainty.uar(correct, labels):.2f}; seed ensemble "
              f"{100 * ensemble.mean():.2f}")
    names = {"accuracy": "accuracy", "uar": "UAR", "ensemble_accuracy": "seed-ensemble accuracy"}
    for key, d in outer.paired(runs[a], runs[b]).items():
        print(f"{b:g} - {a:g}, {names[key]}: {100 * d.difference:+.2f} [{100 * d.low:+.2f}, {100 * d.high:+.2f}] "
              f"p {d.p_value:.3f} over {d.clips} clips")

if __name__ == "__main__":
    main()
