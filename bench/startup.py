"""Wall time of the quick `emo` commands, each a fresh process as a shell runs it: `emo --help`, `emo targets`
(`make repro` runs it first) and `emo check-metrics` (CI), on the project's params.yaml and committed metrics.

tests/test_cli_startup.py checks that they import no torch, scikit-learn, librosa or SciPy; this says how long
they take. Median of 5 runs each (--runs N for another count).
Run: .venv/bin/python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EMO = Path(sys.executable).parent / "emo"


def wall(args: list[str], runs: int) -> float:
    """Median seconds of `emo ARGS` in the project, which must succeed."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(EMO), *args], cwd=REPO, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        baseline = str(Path(folder) / "baseline.json")
        commands = {"emo --help": ["--help"], "emo targets": ["targets"],
                    "emo check-metrics": ["check-metrics", "--baseline", baseline]}
        subprocess.run([str(EMO), "check-metrics", "--write-baseline", baseline], cwd=REPO, check=True,
                       capture_output=True)
        for name, args in commands.items():
            print(f"{name}: {wall(args, runs):.2f} s (median of {runs})")


if __name__ == "__main__":
    main()
