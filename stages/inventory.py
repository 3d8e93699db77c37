"""DVC stage `inventory`: one CSV row per clip in data/raw, and clip counts in metrics/data.json."""

from pathlib import Path

from emo.core import layout, params
from emo.core.errors import reported
from emo.core.io import write_json
from emo.data import datasets, inventory

with reported():
    split = params.load().split.actor_split()
    rows = datasets.require_rows(inventory.build(Path("data/raw"), split), Path("data/raw"), "download")
    inventory.write(rows, layout.INVENTORY)
    write_json(layout.metrics_file("data"), inventory.summary(rows))
print(f"inventory: {len(rows)} clips")
