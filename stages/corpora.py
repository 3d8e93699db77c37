"""DVC stage `corpora`: the corpora in `corpora.test` brought into data/corpora/<name> (verified copies of
folders, or official downloads), each all or nothing."""

import logging
from pathlib import Path

from emo.core import params
from emo.core.errors import reported
from emo.corpora.bring import bring

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
with reported():
    corpora = params.load().corpora
    report = bring(corpora.test, {name: corpora.source(name) for name in corpora.test}, Path("data/corpora"),
                   Path("data/archives"))
print("corpora: " + (", ".join(f"{name} {r['clips']} clips ({r['verified']} checksum-verified)"
                               for name, r in report.items()) or "none tested (corpora.test is empty)"))
