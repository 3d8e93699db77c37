"""DVC stage `evaluate@FEATURE-BALANCE`, `video_evaluate@BALANCE`, `fusion_evaluate`: test metrics on the
original test clips (of every fold in k-fold mode), confusion data and PNG."""

import sys
from pathlib import Path

import torch

from emo import datasets, evaluate, params
from emo.errors import reported
from emo.io import write_json

model, balance = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
name = datasets.model_name(model, balance)
saved = torch.load(f"models/{name}.pt", weights_only=False)
with reported():
    fusion = params.FusionParams(**saved["fusion"]) if saved.get("fusion") else params.load().fusion
    tests = {fold: datasets.load_model_inputs(model, balance, saved["settings"]["speaker_norm"], fusion, ("test",),
                                              fold)["test"] for fold in {run["fold"] for run in saved["runs"]}}
metrics, actual, predicted = evaluate.evaluate_runs(saved, tests, torch.device("cpu"))
metrics = {"model": name, "preset": saved["preset"], "architecture": saved["settings"]["model"],
           **evaluate.provenance(saved), **metrics}
write_json(Path(f"metrics/{name}.json"), metrics)
evaluate.write_confusion_csv(actual, predicted, Path(f"plots/confusion/{name}.csv"))
first = metrics["per_seed"][0]
title = f"{name} ({saved['preset']}), seed {first['seed']}: accuracy {first['accuracy']:.3f}"
evaluate.plot_confusion(evaluate.normalised_confusion(actual, predicted), title, Path(f"plots/confusion/{name}.png"))
print(f"evaluate {name}: accuracy {metrics['accuracy']:.3f} ± {metrics['accuracy_std']:.3f} "
      f"(n_test {metrics['n_test']}, seeds {metrics['seeds']})")
