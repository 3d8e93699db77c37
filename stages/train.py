"""DVC stage `train@FEATURE-BALANCE`: the `train.preset` recipe, one model per seed, best-validation weights."""

import logging
import sys
from pathlib import Path

import numpy as np
import torch

from emo import params, train
from emo.errors import reported

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
feature, balance = sys.argv[1], sys.argv[2]
with reported():
    p = params.load().train
settings = p.settings
if p.threads:
    torch.set_num_threads(p.threads)
features = np.load(f"data/features/{feature}.npy", mmap_mode="r")
arrays = train.load_arrays(features, Path(f"data/split/{feature}_{balance}.npz"), settings.speaker_norm)
device = train.resolve_device(p.device)
results = train.train_seeds(arrays, settings, p.seeds, device, desc=f"audio {feature} {balance}")
name = f"audio_{feature}_{balance}"
train.save(train.checkpoint(results, settings, arrays["train"].x.shape[1:], preset=p.preset, feature=feature,
                            balance=balance, device=str(device)), Path(f"models/{name}.pt"))
train.write_history(results[0].history, Path(f"plots/history/{name}.csv"))
print(f"train {name}: best epochs {[r.best_epoch for r in results]} on {device}")
