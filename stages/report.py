"""DVC stages `report` (`python stages/report.py all`) and `report_audio` (`... audio`): reports/**/report.md
with Table 1 beside the paper, confusion matrices, learning curves, data summary and provenance."""

import sys
from pathlib import Path

from emo.core import params
from emo.core.errors import reported
from emo.reporting import report

scope = sys.argv[1] if len(sys.argv) > 1 else "all"
with reported():
    params.load()  # a bad params.yaml stops every stage before any work
    path = report.build_report(Path.cwd(), scope)
print(f"report: wrote {path.relative_to(Path.cwd())}")
