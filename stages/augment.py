"""DVC stage `augment`: the seeded plan of original clips, augmented copies and class-balancing copies."""

from pathlib import Path

from emo import augment, inventory, params
from emo.errors import reported
from emo.io import write_json

with reported():
    p = params.load()
    rows = inventory.read(Path("data/inventory.csv"))
plan = augment.plan(rows, p.augment, p.audio)
augment.write(plan, Path("data/augment/plan.csv"))
write_json(Path("metrics/augment.json"), augment.summary(plan))
print(f"augment: {len(plan)} planned rows from {sum(r.modality == 3 for r in rows)} audio and "
      f"{sum(r.modality == 2 for r in rows)} video-only clips")
