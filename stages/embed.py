"""DVC stage `embed`: per-frame face embeddings of every plan row, augmented as the plan says (data/video)."""

import logging

from emo.core import layout, params
from emo.core.errors import reported
from emo.core.io import write_json
from emo.data import datasets
from emo.vision.video_features import embed_plan

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
with reported():
    p = params.load()
    report = embed_plan(datasets.read_plan(), layout.FACES, p.video, layout.EMBEDDINGS)
    write_json(layout.metrics_file("embed"), report)
print(f"embed: {report['rows_embedded']} of {report['rows']} plan rows, {report['dim']}-d {report['embedder']}")
