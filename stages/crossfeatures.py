"""DVC stage `crossfeatures`: log-mel and MFCC of every clip of each corpus in `corpora.test`, as featurize
computes an original RAVDESS clip (data/crossfeatures/<corpus>.npz)."""

import logging

from emo.core import params
from emo.core.errors import reported
from emo.studies import crossfeatures

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
if __name__ == "__main__":  # worker processes import this file too
    with reported():
        p = params.load()
        crossfeatures.FEATURES.mkdir(parents=True, exist_ok=True)  # the stage's out, also with no corpus to test
        report = crossfeatures.featurize_corpora(p.corpora.test, p.audio, scheduler=p.compute.scheduler)
    print("crossfeatures: " + (", ".join(f"{name} {r['clips']} clips ({r['damaged']} damaged left out)"
                                         for name, r in report.items()) or "none (corpora.test is empty)"))
