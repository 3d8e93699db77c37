"""DVC stage `featurize`: log-mel and MFCC arrays for every planned clip (data/features/*.npy)."""

import logging
from pathlib import Path

from emo.audio.featurize import featurize
from emo.core import metrics_detail, params, pins
from emo.core.errors import reported
from emo.data import datasets

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

#: metrics/featurize.json's counts (`dvc metrics show`); the damaged and short clips' names and the kernels go to
#: metrics/featurize_detail.json (emo.core.metrics_detail).
HEADLINE = ("rows", "source_clips", "rows_without_audio", "damaged_clips", "short_clips", "rows_left_out")
if __name__ == "__main__":  # worker processes import this file too
    with reported():
        p = params.load()
        report = featurize(datasets.read_plan(), p.audio, p.augment.noise_amplitude, Path("data/features"),
                           source=p.data.source, scheduler=p.compute.scheduler)
        metrics_detail.write(Path("metrics/featurize.json"), {**report, "kernels": pins.kernels()}, HEADLINE)
    print(f"featurize: {report['rows']} rows from {report['source_clips']} clips, "
          f"{report['damaged_clips']} damaged clips left out, {report['short_clips']} short clips (named in "
          "metrics/featurize_detail.json)")
