"""DVC stage `split@FEATURE-BALANCE` / `video_split@BALANCE`: rows by actor and normalisation statistics."""

import sys

from emo import datasets, layout, params, split
from emo.errors import reported

feature, balance = sys.argv[1], sys.argv[2]
with reported():
    protocol = params.load().split
    plan, features, valid = datasets.split_inputs(feature)
    counts = split.prepare(features, plan, valid, balance == "balanced", layout.split_file(feature, balance),
                           protocol.kfold, protocol.protocol)
print(f"split {feature} {balance}: {counts}")
