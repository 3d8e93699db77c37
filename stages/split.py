"""DVC stage `split@FEATURE-BALANCE` / `video_split@BALANCE`: rows by actor and normalisation statistics."""

import sys

from emo.core import layout, params
from emo.core.errors import reported
from emo.data import datasets, split

feature, balance = sys.argv[1], sys.argv[2]
with reported():
    protocol = params.load().split
    plan, features, valid = datasets.split_inputs(feature)
    counts = split.prepare(features, plan, valid, balance == "balanced", layout.split_file(feature, balance),
                           protocol.kfold, protocol.protocol)
print(f"split {feature} {balance}: {counts}")
