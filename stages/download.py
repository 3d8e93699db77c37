"""DVC stage `download`: bring the RAVDESS parts in `data` into data/raw (canonical layout), from the source that
data.source means here (emo.fetch.source: 'auto' finds a local mirror, else Zenodo), said in one line first and
written to metrics/download.json."""

import dataclasses
import logging
import os
from pathlib import Path

from emo.core import layout, params
from emo.core.errors import reported
from emo.core.io import write_json
from emo.fetch import download, source

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
with reported():
    data = params.load().data
    where = source.resolve(data.source, record=data.record, root=Path.cwd(), environ=os.environ)
    print(where.reason, flush=True)
    report = download.fetch(dataclasses.replace(data, source=where.source), out=Path("data/raw"),
                            archive_dir=Path("data/archives"))
    write_json(layout.metrics_file("download"), {**where.record(), "clips": sum(report.clips.values()),
                                                 "per_part": report.clips, "verified": report.verified})
print(f"download: {sum(report.clips.values())} clips {report.clips}, {report.verified} checksum-verified")
