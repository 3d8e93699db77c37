"""Benchmark the download stage on the real mirror: fetch throughput, a full `dvc repro`, a no-op `dvc repro`.

Run: make bench   (or .venv/bin/python bench/download.py [MIRROR])
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from emo.core.params import DataParams
from emo.fetch.download import fetch
from project import REPO, copy_project, dvc


def main() -> None:
    mirror = Path(sys.argv[1] if len(sys.argv) > 1 else REPO.parent / "shared" / "ravdess").resolve()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        start = time.perf_counter()
        report = fetch(DataParams(source=str(mirror)), scratch / "raw", scratch / "archives", progress=False)
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (scratch / "raw").rglob("*.*")) / 2**20
        clips = sum(report.clips.values())
        print(f"fetch from mirror: {clips} clips, {size:.0f} MB, {seconds:.2f} s "
              f"({clips / seconds:.0f} clips/s, {size / seconds:.0f} MB/s, {report.verified} sha256-verified)")

        project = copy_project(scratch / "project")
        start = time.perf_counter()
        dvc(project, "exp", "run", "-S", f"data.source={mirror}")
        print(f"dvc exp run (download + inventory), first run: {time.perf_counter() - start:.2f} s")
        for attempt in (1, 2, 3):
            start = time.perf_counter()
            result = dvc(project, "repro")
            assert "Running stage" not in result.stdout, result.stdout
            print(f"dvc repro, nothing changed (run {attempt}): {time.perf_counter() - start:.2f} s")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory of a dvc child process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
