"""Training speed on the real features: one process after the other (the old path) against worker processes,
with a check that both give bit-identical models; and PaperCNN's literal layers against its fast path.

Needs the pipeline's split files in the project folder (`dvc repro split` there: the real mirror's features).
As the stage `train@F` does, each feature trains both balances x `--seeds` with the `train.ours` recipe of
params.yaml for `--epochs` epochs, first with workers: 1 (the old path: one run after the other), then with
`--workers`; the projection scales the measured time to the recipe's max_epochs.
Run: .venv/bin/python bench/train.py [--project DIR] [--features mfcc logmel] [--epochs 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

from emo.core import pins

pins.apply()  # before numpy, torch or librosa load: the kernels the pipeline computes with (emo.core.pins)

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emo.core import (
    layout,
    params,
)
from emo.data import datasets
from emo.learn import hybrid, parallel
from emo.learn.models import PaperCNN


def timed_stage(models: list[datasets.ModelInputs], settings: params.TrainSettings, seeds: tuple[int, ...],
                workers: int, threads: int) -> tuple[float, list]:
    """Seconds to train every seed of the models of one stage on `workers` processes, and all the results."""
    start = time.perf_counter()
    trained = parallel.train_models([(m, [None], f"{m.model} {m.balance}") for m in models], seeds, settings,
                                    torch.device("cpu"), workers=workers, threads=threads, progress=False)
    return time.perf_counter() - start, [r for results, _ in trained for r in results]


def identical(a: list, b: list) -> bool:
    """Same seeds, histories and weights, bit for bit."""
    return [(r.seed, r.history) for r in a] == [(r.seed, r.history) for r in b] and all(
        torch.equal(x.state[k], y.state[k]) for x, y in zip(a, b, strict=True) for k in x.state)


def step_ms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> list[float]:
    """Milliseconds of each of `steps` Adam training steps on one batch (after one warm-up step)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss = nn.functional.cross_entropy(model.train()(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(1000 * (time.perf_counter() - start))
    return times[1:]


def paper_cnn(inputs: datasets.ModelInputs, steps: int) -> None:
    """Per-epoch time of PaperCNN's literal layers and of its fast path on real training batches, interleaved."""
    train = inputs(None)["train"]
    x, y = torch.from_numpy(train.x[:32].copy()), torch.from_numpy(train.y[:32])
    batches = -(-len(train.y) // 32)
    torch.manual_seed(0)
    literal, fast = PaperCNN(train.shapes[0], reference=True), PaperCNN(train.shapes[0])
    times: dict[str, list[float]] = {"literal": [], "fast": []}
    for _ in range(3):  # interleaved, so that a load on the machine hits both alike
        times["literal"] += step_ms(literal, x, y, steps)
        times["fast"] += step_ms(fast, x, y, steps)
    median = {k: statistics.median(v) for k, v in times.items()}
    for name, ms in median.items():
        print(f"  PaperCNN {inputs.model} {name:7s}: {ms:6.1f} ms per batch of 32, {ms * batches / 1000:5.1f} s "
              f"per epoch of {len(train.y)} rows")
    print(f"  PaperCNN {inputs.model} speed-up per epoch: {median['literal'] / median['fast']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=REPO, help="folder with params.yaml and data/split")
    parser.add_argument("--features", nargs="+", default=list(layout.AUDIO_FEATURES), choices=layout.AUDIO_FEATURES)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (the projection scales them)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--paper-steps", type=int, default=4, help="PaperCNN steps per timing round (0: skip)")
    parser.add_argument("--no-svm", action="store_true", help="skip timing the hybrid SVMs (train.ours.hybrid_svm_c)")
    args = parser.parse_args()

    os.chdir(args.project)
    p = params.load()
    settings = dataclasses.replace(p.train.ours, max_epochs=args.epochs)
    seeds = tuple(int(s) for s in args.seeds.split(","))
    scale = p.train.ours.max_epochs / args.epochs
    totals = {"serial": 0.0, "parallel": 0.0}
    all_identical = True
    print(f"{len(seeds)} seeds x {args.epochs} epochs per row, train.ours ({p.train.ours.model}), "
          f"{p.train.threads} torch thread(s) per process, {os.cpu_count()} cores")
    for feature in args.features:
        models = [datasets.ModelInputs(feature, b, settings.speaker_norm, p.fusion) for b in layout.BALANCES]
        serial, one = timed_stage(models, settings, seeds, 1, p.train.threads)
        both, many = timed_stage(models, settings, seeds, args.workers, p.train.threads)
        same = identical(one, many)
        all_identical &= same
        totals["serial"] += serial
        totals["parallel"] += both
        print(f"train@{feature:7s} ({len(one)} models) serial {serial:6.1f} s, {args.workers} workers {both:6.1f} s: "
              f"{serial / both:.2f}x; identical models: {same}", flush=True)
        if args.paper_steps and feature == "logmel":
            paper_cnn(models[0], args.paper_steps)
    runs = len(seeds) * len(layout.BALANCES) * len(args.features)
    for name, seconds in totals.items():
        full = seconds * scale
        print(f"{name:8s}: {seconds:6.1f} s for {runs} models x {args.epochs} epochs; projected to "
              f"{p.train.ours.max_epochs} epochs (an upper bound: loading the arrays scales too): {full / 60:5.1f} "
              f"min, {3600 * runs / full:5.1f} models/hour")
    print(f"speed-up: {totals['serial'] / totals['parallel']:.2f}x; every model bit-identical: {all_identical}")
    if p.train.ours.hybrid_svm_c and not args.no_svm:
        rows = [(f, datasets.ModelInputs(f, b, settings.speaker_norm, p.fusion), [None])
                for f in args.features for b in layout.BALANCES]
        start = time.perf_counter()
        hybrid.fit_models(rows, p.train.ours.hybrid_svm_c, workers=args.workers)
        svms = time.perf_counter() - start
        print(f"hybrid SVMs (C={p.train.ours.hybrid_svm_c}, one per row, {args.workers} workers): {svms:6.1f} s for "
              f"{len(rows)} rows; the rows' training with them on {args.workers} workers: "
              f"{(totals['parallel'] * scale + svms) / 60:5.1f} min")


if __name__ == "__main__":
    main()
