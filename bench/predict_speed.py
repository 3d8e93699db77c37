"""Wall time of `emo predict` with the shipped model (issue 22's targets): one file from a cold start (a fresh
`emo predict` process in an empty folder, so no project: the shipped model), and a folder of N short generated
clips in one process. Each is run `--repeat` times; the best and the median are printed (other work on the machine
makes them noisy: the best is the machine's figure).

Targets: one file < 2 s, 1000 files < 30 s.
Run: .venv/bin/python bench/predict_speed.py [--file WAV] [--files 1000] [--seconds 1.5] [--repeat 3]
(--file: a recording to time, default a generated 3 s clip.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
RATE = 16000
TARGETS = {"one": 2.0, "many": 30.0}


def clip(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A voiced-sounding clip: a gliding harmonic tone with noise, at RATE."""
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = rng.uniform(100, 250) * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    wave = sum(np.sin(k * phase) / k for k in range(1, 6)) + 0.05 * rng.standard_normal(len(t))
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


def timed(argv: list[str], cwd: Path) -> float:
    """Seconds of wall time of one `emo predict` process (its output thrown away; a failure stops the bench)."""
    emo = Path(sys.executable).with_name("emo")
    start = time.perf_counter()
    done = subprocess.run([str(emo), "predict", *argv], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"emo predict {' '.join(argv)} failed:\n{done.stderr.decode()}")
    return seconds


def report(what: str, runs: list[float], target: float) -> None:
    best, median = min(runs), statistics.median(runs)
    verdict = "meets" if best < target else "MISSES"
    print(f"{what}: best {best:.2f} s, median {median:.2f} s over {len(runs)} runs "
          f"({verdict} the {target:.0f} s target)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="a recording to time (default: a generated 3 s clip)")
    parser.add_argument("--files", type=int, default=1000, help="how many short clips in the batch (default 1000)")
    parser.add_argument("--seconds", type=float, default=1.5, help="length of each batch clip (default 1.5)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (default 3)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        one = args.file.resolve() if args.file else root / "one.wav"
        if not args.file:
            soundfile.write(one, clip(rng, 3.0), RATE, subtype="PCM_16")
        batch = root / "batch"
        batch.mkdir()
        for i in range(args.files):
            soundfile.write(batch / f"clip{i:05d}.wav", clip(rng, args.seconds), RATE, subtype="PCM_16")
        empty = root / "empty"  # no models/ here: `emo predict` uses the shipped model
        empty.mkdir()
        print(f"emo predict with the shipped model, {os.cpu_count()} CPUs; cold start = a fresh process")
        report(f"one file ({one.name})", [timed([str(one)], empty) for _ in range(args.repeat)], TARGETS["one"])
        report(f"{args.files} files of {args.seconds} s", [timed(["--json", str(batch)], empty)
                                                           for _ in range(args.repeat)], TARGETS["many"])


if __name__ == "__main__":
    main()
