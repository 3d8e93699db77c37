"""DVC stage `download`: bring the RAVDESS parts in `data` into data/raw (canonical layout)."""

import logging
from pathlib import Path

from emo.core import params
from emo.core.errors import reported
from emo.fetch import download

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
with reported():
    data = params.load().data
    report = download.fetch(data, out=Path("data/raw"), archive_dir=Path("data/archives"))
print(f"download: {sum(report.clips.values())} clips {report.clips}, {report.verified} checksum-verified")
