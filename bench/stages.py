"""Wall time and peak memory of every pipeline stage on the real mirror, in a scratch copy of the project.

Peak memory is the stage process's own (featurize's worker processes are not included).

Runs the commands `dvc repro --dry` lists, in order, each as a child process, with any parameter
overrides given, e.g. `--set train.preset=paper --only mfcc`.
Run: .venv/bin/python bench/stages.py [--set KEY=VALUE ...] [--only TEXT]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from emo.core import metrics_detail
from emo.experiments.scratch import sections
from project import BIN, REPO, copy_project, dvc, set_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--only", default="", help="run train/evaluate stages whose name contains this")
    args = parser.parse_args()
    mirror = (REPO.parent / "shared" / "ravdess").resolve()
    with tempfile.TemporaryDirectory() as scratch:
        project = copy_project(Path(scratch) / "project")
        set_params(project, data={"source": str(mirror)}, **sections(args.set))
        dry = dvc(project, "repro", "--dry", "--force").stdout
        stages = re.findall(r"Running stage '([^']+)':\n> (.+)", dry)
        env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
        print(f"{'stage':32} {'wall s':>8} {'peak MB':>8}")
        for name, command in stages:
            if args.only and name.startswith(("train", "evaluate")) and args.only not in name:
                continue
            start = time.perf_counter()
            # stderr to a file, not a pipe: progress bars would fill a pipe and block the stage
            with tempfile.TemporaryFile("w+") as log:
                child = subprocess.Popen(command.split(), cwd=project, env=env, stdout=subprocess.DEVNULL,
                                         stderr=log)
                _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS, not the largest so far
                if status:
                    log.seek(0)
                    raise SystemExit(f"{name} failed:\n{log.read()[-3000:]}")
            print(f"{name:32} {time.perf_counter() - start:8.1f} {usage.ru_maxrss / 1024:8.0f}", flush=True)
            for metrics in sorted((project / "metrics").glob("audio_*.json")):
                model = f"audio_{name.split('@')[-1].replace('-', '_')}"
                if name.startswith("evaluate") and metrics.stem == model:
                    score = metrics_detail.read(metrics)  # best epoch and preset: in its detail file
                    print(f"    {metrics.name}: accuracy {score['accuracy']:.3f}, uar {score['uar']:.3f}, "
                          f"best epoch {score['best_epoch']}, preset {score['preset']}")


if __name__ == "__main__":
    main()
