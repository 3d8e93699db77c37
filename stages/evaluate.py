"""DVC stage `evaluate@FEATURE-BALANCE`: test metrics (original test clips), confusion data and PNG."""

import sys
from pathlib import Path

import numpy as np
import torch

from emo import evaluate, train
from emo.io import write_json

feature, balance = sys.argv[1], sys.argv[2]
name = f"audio_{feature}_{balance}"
saved = torch.load(f"models/{name}.pt", weights_only=False)
features = np.load(f"data/features/{feature}.npy", mmap_mode="r")
test = train.load_arrays(features, Path(f"data/split/{feature}_{balance}.npz"),
                         saved["settings"]["speaker_norm"], splits=("test",))["test"]
metrics, predicted = evaluate.evaluate_runs(saved, test.x, test.y, torch.device("cpu"))
metrics = {"model": name, "preset": saved["preset"], "architecture": saved["settings"]["model"], **metrics}
write_json(Path(f"metrics/{name}.json"), metrics)
evaluate.write_confusion_csv(test.y, predicted, Path(f"plots/confusion/{name}.csv"))
first = metrics["per_seed"][0]
title = f"{name} ({saved['preset']}), seed {first['seed']}: accuracy {first['accuracy']:.3f}"
evaluate.plot_confusion(evaluate.normalised_confusion(test.y, predicted), title, Path(f"plots/confusion/{name}.png"))
print(f"evaluate {name}: accuracy {metrics['accuracy']:.3f} ± {metrics['accuracy_std']:.3f} "
      f"(n_test {metrics['n_test']}, seeds {metrics['seeds']})")
