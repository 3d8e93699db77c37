"""What the pinned kernels cost (emo.core.pins): featurize and training, pinned (AVX2) against each library's own
choice (EMO_NATIVE_ISA=1: AVX-512 where the CPU has it), each in a fresh process, with a check of whether the two
compute the same numbers. Medians of alternating runs: the first run of a mode also compiles numba's code for its
CPU target, later ones read numba's cache.

Needs the pipeline's features and split files in the project folder (`dvc repro split` there).
Run: .venv/bin/python bench/pins.py [--project DIR] [--clips 120] [--epochs 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# One fresh interpreter per measurement: the pins hold only when set before numpy and torch load.
FEATURIZE = """
import emo, json, sys, time
from pathlib import Path
import numpy as np
from emo.audio.featurize import clip_features
from emo.core import pins
from emo.core.params import load
from emo.data.augment import read as read_plan
project, clips, out = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
p = load(project / "params.yaml")
groups = {}
for row in read_plan(project / "data/augment/plan.csv"):
    if row.path:
        groups.setdefault(row.path, []).append(row)
paths = sorted(groups)[:clips]
start = time.perf_counter()
done = [clip_features((str(project / path), groups[path], p.audio, p.augment.noise_amplitude)) for path in paths]
seconds = time.perf_counter() - start
np.savez(out, logmel=np.concatenate([d[2] for d in done]), mfcc=np.concatenate([d[3] for d in done]))
print(json.dumps({"seconds": seconds, "rows": sum(len(groups[path]) for path in paths), "kernels": pins.kernels()}))
"""
TRAIN = """
import emo, dataclasses, json, os, sys, time
import torch
from emo.core import pins
from emo.core.params import load
from emo.data.datasets import ModelInputs
from emo.learn import parallel
project, epochs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.chdir(project)
p = load("params.yaml")
settings = dataclasses.replace(p.train.ours, max_epochs=epochs)
inputs = ModelInputs("logmel", "balanced", settings.speaker_norm, p.fusion)
start = time.perf_counter()
results, _ = parallel.train_runs(inputs, [None], (0,), settings, torch.device("cpu"), workers=1, threads=1,
                                 progress=False)
seconds = time.perf_counter() - start
torch.save(results[0].state, out)
print(json.dumps({"seconds": seconds, "kernels": pins.kernels()}))
"""


def measure(code: str, args: list[str], native: bool) -> dict:
    """Run one measurement in a fresh interpreter, pinned or not; its JSON line."""
    env = {**os.environ, "EMO_NATIVE_ISA": "1" if native else ""}
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=REPO)
    parser.add_argument("--clips", type=int, default=120, help="source clips to featurize (all their planned rows)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of log-mel balanced, seed 0, one thread")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each mode; medians are printed")
    args = parser.parse_args()
    import numpy as np
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        tried: dict[str, list[dict]] = {"pinned": [], "native": []}
        for _ in range(args.repeat):  # alternating, so that a busy spell of the machine hits both modes
            for mode in tried:
                tried[mode].append({
                    "featurize": measure(FEATURIZE, [str(args.project.resolve()), str(args.clips),
                                                     f"{tmp}/{mode}.npz"], mode == "native"),
                    "train": measure(TRAIN, [str(args.project.resolve()), str(args.epochs), f"{tmp}/{mode}.pt"],
                                     mode == "native")})
        runs = {mode: {part: {**found[0][part], "seconds": statistics.median(r[part]["seconds"] for r in found)}
                       for part in ("featurize", "train")} for mode, found in tried.items()}
        a, b = np.load(f"{tmp}/pinned.npz"), np.load(f"{tmp}/native.npz")
        same_features = all(np.array_equal(a[k], b[k]) for k in a)
        wa, wb = torch.load(f"{tmp}/pinned.pt"), torch.load(f"{tmp}/native.pt")
        same_weights = all(torch.equal(wa[k], wb[k]) for k in wa)
    for mode, run in runs.items():
        f, t = run["featurize"], run["train"]
        print(f"{mode:6s}: featurize {f['rows']} rows in {f['seconds']:.1f} s ({f['rows'] / f['seconds']:.0f} rows/s); "
              f"train {args.epochs} epochs in {t['seconds']:.1f} s; kernels {t['kernels']}")
    cost_f = runs["pinned"]["featurize"]["seconds"] / runs["native"]["featurize"]["seconds"] - 1
    cost_t = runs["pinned"]["train"]["seconds"] / runs["native"]["train"]["seconds"] - 1
    print(f"pinned vs native: featurize {100 * cost_f:+.0f} %, training {100 * cost_t:+.0f} %; "
          f"features {'identical' if same_features else 'differ'}, weights {'identical' if same_weights else 'differ'}")


if __name__ == "__main__":
    main()
