"""DVC stage `train@FEATURE-BALANCE`, `video_train@BALANCE`, `fusion_train`: the `train.preset` recipe, one
model per seed (and per fold in k-fold mode): best-validation or final weights, as `keep` says."""

import logging
import sys
from pathlib import Path

import torch

from emo import datasets, params, train
from emo.errors import reported

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
model, balance = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
name = datasets.model_name(model, balance)
with reported():
    p = params.load()
    settings = p.train.settings
    folds = datasets.model_folds(model, balance, p.fusion)
if p.train.threads:
    torch.set_num_threads(p.train.threads)
device = train.resolve_device(p.train.device)
results = []
for fold in folds:
    with reported():
        arrays = datasets.load_model_inputs(model, balance, settings.speaker_norm, p.fusion, fold=fold)
    desc = name if fold is None else f"{name} fold {fold}"
    results += train.train_seeds(arrays, settings, p.train.seeds, device, desc=desc, fold=fold)
train.save(train.checkpoint(results, settings, arrays["train"].shapes, preset=p.train.preset, model=model,
                            balance=balance, fusion=vars(p.fusion) if model == datasets.FUSION else None,
                            device=str(device)), Path(f"models/{name}.pt"))
train.write_history(results[0].history, Path(f"plots/history/{name}.csv"))
print(f"train {name}: best epochs {[r.best_epoch for r in results]} on {device}")
