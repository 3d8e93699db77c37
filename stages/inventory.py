"""DVC stage `inventory`: one CSV row per clip in data/raw, and clip counts in metrics/data.json."""

from pathlib import Path

from emo import datasets, inventory, layout, params
from emo.errors import reported
from emo.io import write_json

with reported():
    split = params.load().split.actor_split()
    rows = datasets.require_rows(inventory.build(Path("data/raw"), split), Path("data/raw"), "download")
    inventory.write(rows, layout.INVENTORY)
    write_json(layout.metrics_file("data"), inventory.summary(rows))
print(f"inventory: {len(rows)} clips")
