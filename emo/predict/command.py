"""`emo predict` as the command line runs it: the model source chosen once (`shipped.source`), the card
(--about), then the table or JSON printed as the results come; exit 1 if any file failed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emo.core.errors import reported
from emo.predict import output, run, shipped


def main(args: argparse.Namespace) -> None:
    """Run `emo predict` with the parsed arguments."""
    if args.about:
        with reported():
            print(shipped.about(shipped.load()), end="")
        return
    if not args.files and not args.pair:
        sys.exit("error: emo predict: give at least one FILE or folder, or --pair AUDIO VIDEO (--about: the "
                 "shipped model's card)")
    failed: list[str] = []
    with reported():
        project = shipped.source(project=args.project, models=args.model)
        default = shipped.load() if project is None else None
        if default is not None:
            print(default.banner, file=sys.stderr)
        work = run.plan(args.files, [tuple(p) for p in args.pair], project or Path("."), args.model,
                        args.speaker_stats, pair=not args.no_pair, speakers=args.speakers, shipped=default)
        sizes = None if args.json else output.widths(jobs=work.jobs, models=work.models)
        jobs = output.telling(run.score(work), failed)
        del work  # the scored jobs are let go of once printed: memory stays flat in the number of files
        for text in output.json_chunks(jobs) if args.json else output.table_lines(jobs, sizes=sizes):
            print(text, end="", flush=True)
    if failed:
        sys.exit(1)
