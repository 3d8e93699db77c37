"""DVC stage `inventory`: one CSV row per clip in data/raw, and clip counts in metrics/data.json."""

from pathlib import Path

from emo.core import layout, metrics_detail, params
from emo.core.errors import reported
from emo.data import datasets, inventory

with reported():
    split = params.load().split.actor_split()
    rows = datasets.require_rows(inventory.build(Path("data/raw"), split), Path("data/raw"), "download")
    inventory.write(rows, layout.INVENTORY)
    metrics_detail.write(layout.metrics_file("data"), inventory.summary(rows), inventory.HEADLINE)
print(f"inventory: {len(rows)} clips")
