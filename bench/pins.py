"""The pinned kernels (emo.core.pins), checked and timed: featurize (all planned rows of `--clips` real clips) and
training (log-mel balanced, seed 0, `--epochs` epochs, one thread), each in a fresh process, in four environments:
pinned (the default), pinned while the shell asks for AVX-512 everywhere, unpinned in a shell limited to AVX2 by
hand, and unpinned (each library's own choice: AVX-512 where the CPU has it). Prints, per mode, the medians of
alternating runs (the first run of a mode also compiles numba's code for its CPU target) and whether its
features and weights equal the pinned ones bit for bit.

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
sys.path.insert(0, str(REPO))

from emo.core.pins import PINS  # noqa: E402  (emo sets the pins in this process: harmless, children get theirs)

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


#: Each mode's environment on top of this one's: with the pins (the default), with the pins while the shell asks
#: for AVX-512 everywhere, without the pins in a shell limited to AVX2 by hand, and without the pins (native).
SHELL_AVX512 = {"ATEN_CPU_CAPABILITY": "avx512", "NPY_DISABLE_CPU_FEATURES": "", "OPENBLAS_CORETYPE": "SkylakeX",
                "MKL_CBWR": "AUTO", "ONEDNN_MAX_CPU_ISA": "ALL", "NUMBA_CPU_NAME": "host"}
MODES = {"pinned": {"EMO_NATIVE_ISA": ""},
         "pinned, shell asks AVX-512": {"EMO_NATIVE_ISA": "", **SHELL_AVX512},
         "no pins, shell limited to AVX2": {"EMO_NATIVE_ISA": "1", **PINS},
         "no pins (native)": {"EMO_NATIVE_ISA": "1", **{name: None for name in PINS}}}  # None: unset


def measure(code: str, args: list[str], env: dict[str, str | None]) -> dict:
    """Run one measurement in a fresh interpreter under `env` (added to this one's; None removes a variable)."""
    full = {name: value for name, value in {**os.environ, **env}.items() if value is not None}
    done = subprocess.run([sys.executable, "-c", code, *args], env=full, capture_output=True, text=True, check=True)
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

    project = str(args.project.resolve())
    with tempfile.TemporaryDirectory() as tmp:
        tried: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for _ in range(args.repeat):  # alternating, so that a busy spell of the machine hits every mode
            for index, (mode, env) in enumerate(MODES.items()):
                tried[mode].append({"featurize": measure(FEATURIZE, [project, str(args.clips), f"{tmp}/{index}.npz"],
                                                         env),
                                    "train": measure(TRAIN, [project, str(args.epochs), f"{tmp}/{index}.pt"], env)})
        features = [np.load(f"{tmp}/{index}.npz") for index in range(len(MODES))]
        weights = [torch.load(f"{tmp}/{index}.pt") for index in range(len(MODES))]
        for index, (mode, found) in enumerate(tried.items()):
            seconds = {part: statistics.median(r[part]["seconds"] for r in found) for part in ("featurize", "train")}
            same_f = all(np.array_equal(features[0][k], features[index][k]) for k in features[0])
            same_w = all(torch.equal(weights[0][k], weights[index][k]) for k in weights[0])
            kernels = {k: v for k, v in found[0]["train"]["kernels"].items() if not k.endswith("version")}
            print(f"{mode:32s} featurize {found[0]['featurize']['rows']} rows {seconds['featurize']:5.1f} s, train "
                  f"{args.epochs} epochs {seconds['train']:5.1f} s; vs pinned: features "
                  f"{'identical' if same_f else 'DIFFER'}, weights {'identical' if same_w else 'DIFFER'}; {kernels}")


if __name__ == "__main__":
    main()
