"""Benchmark augment + featurize on the real mirror: ours (plan, one decode per clip, 2 processes) vs a
naive per-file librosa loop in the style of the paper's code (one process, decode again for every copy).

Run: .venv/bin/python bench/featurize.py [MIRROR] [--naive-rows N]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from emo.core import pins

pins.apply()  # before numpy, torch or librosa load: the kernels the pipeline computes with (emo.core.pins)

import librosa
import numpy as np

from emo.audio.featurize import featurize
from emo.core.params import AudioParams, AugmentParams, DataParams
from emo.core.ravdess import ActorSplit
from emo.data import augment
from emo.data.inventory import build
from emo.fetch.download import fetch

REPO = Path(__file__).resolve().parents[1]


def naive(rows: list[augment.PlannedClip], params: AudioParams, noise_amplitude: float) -> None:
    """The paper's way: for every planned row, librosa.load the file again, augment, compute the features."""
    for row in rows:
        wave, sr = librosa.load(row.path, sr=params.sample_rate, offset=params.offset, duration=params.duration)
        if row.op in ("pitch_up", "pitch_down"):
            wave = librosa.effects.pitch_shift(wave, sr=sr, n_steps=row.pitch)
        elif row.op == "shift":
            wave = np.roll(wave, row.shift)
        elif row.op == "noise":
            rng = np.random.default_rng(row.noise_seed)
            wave = wave + noise_amplitude * rng.uniform() * np.abs(wave).max() * rng.standard_normal(len(wave))
        mel = librosa.feature.melspectrogram(y=wave, sr=sr, n_mels=params.n_mels, n_fft=params.n_fft,
                                             hop_length=params.hop_length)
        librosa.util.normalize(librosa.power_to_db(mel))
        librosa.feature.mfcc(y=wave, sr=sr, n_mfcc=params.n_mfcc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mirror", nargs="?", default=str(REPO.parent / "shared" / "ravdess"))
    parser.add_argument("--naive-rows", type=int, default=300, help="plan rows timed for the naive loop")
    args = parser.parse_args()
    params, aug = AudioParams(), AugmentParams()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        fetch(DataParams(source=args.mirror), scratch / "raw", scratch / "archives", progress=False)
        start = time.perf_counter()
        plan = augment.plan(build(scratch / "raw", ActorSplit()), aug, params)
        planned = time.perf_counter() - start
        start = time.perf_counter()
        report = featurize(plan, params, aug.noise_amplitude, scratch / "features", progress=False)
        ours = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (scratch / "features").glob("*.npy")) / 2**20
        print(f"ours: plan {planned:.2f} s + featurize {ours:.1f} s for {report['rows']} rows from "
              f"{report['source_clips']} clips with {params.workers} processes = {len(plan) / (planned + ours):.1f} "
              f"rows/s; features {size:.0f} MB")
        sample = plan[::max(1, len(plan) // args.naive_rows)][:args.naive_rows]
        naive(sample[:3], params, aug.noise_amplitude)  # warm librosa's caches, as ours had its workers do
        start = time.perf_counter()
        naive(sample, params, aug.noise_amplitude)
        rate = len(sample) / (time.perf_counter() - start)
        print(f"naive loop: {rate:.1f} rows/s on {len(sample)} rows -> {len(plan) / rate:.0f} s projected for "
              f"all {len(plan)} rows; ours is {len(plan) / rate / (planned + ours):.1f}x faster")
    print(f"peak memory: this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, "
          f"largest worker {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
