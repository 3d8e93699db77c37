"""DVC stage `download`: bring the RAVDESS parts in `data` into data/raw (canonical layout), from the source that
data.source means here (emo.fetch.source: 'auto' finds a local mirror, else Zenodo), said in one line first and
written to metrics/download_detail.json (the counts to metrics/download.json)."""

import dataclasses
import logging
import os
from pathlib import Path

from emo.core import layout, metrics_detail, params
from emo.core.errors import reported
from emo.fetch import download, source

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

#: metrics/download.json's counts (`dvc metrics show`); where the clips came from (strings) and the clips per part go
#: to metrics/download_detail.json (emo.core.metrics_detail).
HEADLINE = ("clips", "verified")
with reported():
    data = params.load().data
    where = source.resolve(data.source, record=data.record, root=Path.cwd(), environ=os.environ)
    print(where.reason, flush=True)
    report = download.fetch(dataclasses.replace(data, source=where.source), out=Path("data/raw"),
                            archive_dir=Path("data/archives"))
    metrics_detail.write(layout.metrics_file("download"), {**where.record(), "clips": sum(report.clips.values()),
                                                           "per_part": report.clips, "verified": report.verified},
                         HEADLINE)
print(f"download: {sum(report.clips.values())} clips {report.clips}, {report.verified} checksum-verified")
