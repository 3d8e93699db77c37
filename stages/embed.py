"""DVC stage `embed`: per-frame face embeddings of every plan row, augmented as the plan says (data/video)."""

import logging

from emo.core import layout, metrics_detail, params
from emo.core.errors import reported
from emo.data import datasets
from emo.vision.video_features import HEADLINE, embed_plan

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
with reported():
    p = params.load()
    report = embed_plan(datasets.read_plan(), layout.FACES, p.video, layout.EMBEDDINGS)
    metrics_detail.write(layout.metrics_file("embed"), report, HEADLINE)
print(f"embed: {report['rows_embedded']} of {report['rows']} plan rows, {report['dim']}-d {report['embedder']}")
