"""DVC stage `faces`: evenly spaced frames of every video-only clip, Haar face boxes, uint8 crops (data/faces)."""

import logging

from emo.core import layout, metrics_detail, params
from emo.core.errors import reported
from emo.data import datasets, inventory
from emo.vision import faces

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
if __name__ == "__main__":  # worker processes import this file too
    with reported():
        p = params.load()
        clips = inventory.video_only_clips(datasets.read_rows(layout.INVENTORY, "inventory", inventory.read))
        report = faces.extract(clips, p.video, layout.FACES, track=p.video.track_faces, source=p.data.source,
                               scheduler=p.compute.scheduler)
        metrics_detail.write(layout.metrics_file("faces"), report, faces.HEADLINE)
    print(f"faces: {report['clips']} clips, face found in {report['detection_rate']:.1%} of frames")
