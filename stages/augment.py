"""DVC stage `augment`: the seeded plan of original clips, augmented copies and class-balancing copies."""

from emo.core import layout, params
from emo.core.errors import reported
from emo.core.io import write_json
from emo.data import augment, datasets, inventory

with reported():
    p = params.load()
    rows = datasets.read_rows(layout.INVENTORY, "inventory", inventory.read)
    plan = augment.plan(rows, p.augment, p.audio)
    augment.write(plan, layout.PLAN)
    write_json(layout.metrics_file("augment"), augment.summary(plan))
print(f"augment: {len(plan)} planned rows from {sum(r.modality == 3 for r in rows)} audio and "
      f"{sum(r.modality == 2 for r in rows)} video-only clips")
