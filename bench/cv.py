"""Choose a training recipe without the test set: actor-grouped k-fold CV over the actors that are not tested.

Runs the pipeline's own k-fold code (emo.data.split.prepare with folds, emo.data.arrays.load_arrays,
emo.learn.train.fit) on the pipeline's features (data/features and data/augment/plan.csv: `dvc repro featurize`
first). The test actors (params.yaml split.test) are dropped before anything else, so nothing here sees them. Fold k is
scored, fold k + 1 validates (early stopping when keep: best), the others train with their augmented copies.
Prints accuracy per fold and seed, and the mean over all of them; with several seeds, also the accuracy of
their averaged class probabilities per fold (the seed ensemble). `--json FILE` keeps the numbers.
Run: .venv/bin/python bench/cv.py mfcc unbalanced [--set lr=0.003 --set mixup=0.4] [--seeds 0,1] [--fold-size 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from emo.core import pins

pins.apply()  # before numpy, torch or librosa load: the kernels the pipeline computes with (emo.core.pins)

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emo.core import layout, params
from emo.data import arrays, augment, split
from emo.learn import (
    evaluate,
    train,
)
from emo.learn.models import build


def folds_of(actors: list[int], size: int) -> tuple[tuple[int, ...], ...]:
    """Consecutive groups of `size` actors (odd male, even female, so an even size keeps both sexes)."""
    return tuple(tuple(actors[i:i + size]) for i in range(0, len(actors), size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("feature", choices=layout.AUDIO_FEATURES)
    parser.add_argument("balance", choices=layout.BALANCES)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change one key of the train.ours recipe (YAML value), e.g. --set mixup=0.4")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--fold-size", type=int, default=4, help="actors per fold (default 4)")
    parser.add_argument("--json", type=Path, help="write the per-fold numbers here")
    args = parser.parse_args()

    p = params.load(REPO / "params.yaml")
    changes = {k: yaml.safe_load(v) for k, v in (pair.split("=", 1) for pair in args.set)}
    settings = params.from_dict(params.TrainSettings, changes, "train.ours", base=p.train.ours)
    if p.train.threads:
        torch.set_num_threads(p.train.threads)
    plan = augment.read(REPO / layout.PLAN)
    # The plan stays whole (split files index their rows by position); the test actors' rows are made invalid,
    # which every selection and statistic honours.
    tested = np.array([row.actor in p.split.test for row in plan])
    valid = np.load(REPO / layout.valid_file(args.feature)) & ~tested
    folds = folds_of(sorted({row.actor for row in plan} - set(p.split.test)), args.fold_size)
    features = np.load(REPO / layout.feature_file(args.feature), mmap_mode="r")
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"recipe: {settings}\nfolds (test actors {list(p.split.test)} left out): {[list(f) for f in folds]}",
          flush=True)

    start, rows, ensembles = time.perf_counter(), [], []
    with tempfile.TemporaryDirectory() as tmp:
        split_file = Path(tmp) / "cv.npz"
        split.prepare(features, plan, valid, args.balance == "balanced", split_file, folds)
        saved_actors = np.load(split_file)["actors"]
        for fold in range(len(folds)):
            fold_arrays = arrays.load_arrays(features, split_file, settings.speaker_norm, fold=fold)
            probabilities = []
            for seed in seeds:
                result = train.fit(fold_arrays["train"], fold_arrays["val"], settings, seed, torch.device("cpu"),
                                   progress=False)
                model = build(settings.model, fold_arrays["train"].shapes, dropout=settings.dropout)
                model.load_state_dict(result.state)
                assert not any(set(saved_actors[a.index]) & set(p.split.test) for a in arrays.values())
                probabilities.append(train.predict_proba(model, fold_arrays["test"].x, torch.device("cpu")))
                predicted = probabilities[-1].argmax(1)
                score = evaluate.scores(fold_arrays["test"].y, predicted)
                rows.append({"fold": list(folds[fold]), "seed": seed, "accuracy": score["accuracy"],
                             "uar": score["uar"], "best_epoch": result.best_epoch, "seconds": round(result.seconds, 1)})
                print(f"fold {list(folds[fold])} seed {seed}: accuracy {score['accuracy']:.3f} uar {score['uar']:.3f}"
                      f" (epoch {result.best_epoch}, {result.seconds:.0f} s)", flush=True)
            if len(seeds) > 1:
                score = evaluate.seed_ensemble({fold: fold_arrays["test"].y}, {fold: probabilities})
                ensembles.append({"fold": list(folds[fold]), "accuracy": score["accuracy"], "uar": score["uar"]})
                print(f"fold {list(folds[fold])} ensemble of seeds {seeds}: accuracy {score['accuracy']:.3f} "
                      f"uar {score['uar']:.3f}", flush=True)
    accuracy = np.array([r["accuracy"] for r in rows])
    spread = float(accuracy.std(ddof=1)) if len(rows) > 1 else 0.0
    summary = {"feature": args.feature, "balance": args.balance, "settings": vars(settings), "folds": rows,
               "accuracy": float(accuracy.mean()), "accuracy_std": spread,
               "uar": float(np.mean([r["uar"] for r in rows])), "seconds": round(time.perf_counter() - start, 1)}
    print(f"CV accuracy {summary['accuracy']:.3f} ± {summary['accuracy_std']:.3f} (UAR {summary['uar']:.3f}) over "
          f"{len(rows)} runs, {summary['seconds']:.0f} s")
    if ensembles:
        summary["ensemble"] = {"folds": ensembles, "accuracy": float(np.mean([e["accuracy"] for e in ensembles])),
                               "uar": float(np.mean([e["uar"] for e in ensembles]))}
        print(f"CV accuracy of the seed ensemble (mean probability) {summary['ensemble']['accuracy']:.3f} "
              f"(UAR {summary['ensemble']['uar']:.3f}) over {len(ensembles)} folds")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
