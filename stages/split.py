"""DVC stage `split@FEATURE-BALANCE`: train/val/test rows by actor and normalisation statistics."""

import sys
from pathlib import Path

import numpy as np

from emo import augment, split

feature, balance = sys.argv[1], sys.argv[2]
plan = augment.read(Path("data/augment/plan.csv"))
features = np.load(f"data/features/{feature}.npy", mmap_mode="r")
valid = np.load("data/features/valid.npy")
counts = split.prepare(features, plan, valid, balance == "balanced", Path(f"data/split/{feature}_{balance}.npz"))
print(f"split {feature} {balance}: {counts}")
