"""DVC stage `split@FEATURE-BALANCE` / `video_split@BALANCE`: rows by actor and normalisation statistics."""

import sys

import numpy as np

from emo import augment, layout, params, split
from emo.errors import reported

feature, balance = sys.argv[1], sys.argv[2]
plan = augment.read(layout.PLAN)
features = np.load(layout.feature_file(feature), mmap_mode="r")
valid = np.load(layout.valid_file(feature))
with reported():
    folds = params.load().split.folds
counts = split.prepare(features, plan, valid, balance == "balanced", layout.split_file(feature, balance), folds)
print(f"split {feature} {balance}: {counts}")
