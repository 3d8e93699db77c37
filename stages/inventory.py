"""DVC stage `inventory`: one CSV row per clip in data/raw, and clip counts in metrics/data.json."""

from pathlib import Path

from emo import inventory, params
from emo.errors import reported
from emo.io import write_json

with reported():
    split = params.load().split.actor_split()
    rows = inventory.build(Path("data/raw"), split)
inventory.write(rows, Path("data/inventory.csv"))
write_json(Path("metrics/data.json"), inventory.summary(rows))
print(f"inventory: {len(rows)} clips")
