"""Wall time of the paired metric gate and `emo compare` on four models, each a fresh process as CI runs it.

A scratch git repo holds two commits of predictions/*.csv: the project's own predictions (or, without them or with
--synthetic, generated ones of --clips test clips and --seeds seeds per model), then the same with one model's
correct test clips turned 10 % wrong. Times `emo check-metrics --paired --rev HEAD~1` (which must fail on that
model) and `emo compare HEAD~1 HEAD`, median of --runs runs, and prints the gate's lines. Target: under 5 s.
Run: .venv/bin/python bench/gate.py [--source FOLDER | --synthetic [--clips 120] [--seeds 3]] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
EMO = Path(sys.executable).parent / "emo"
MODELS = ("audio_mfcc_unbalanced", "audio_mfcc_balanced", "audio_logmel_unbalanced", "audio_logmel_balanced")

from emo.core.ravdess import EMOTIONS  # noqa: E402
from emo.learn import predictions  # noqa: E402


def synthetic(clips: int, seeds: int, seed: int) -> predictions.Table:
    """Validation and test rows of one model: each seed's and the ensemble's, about 65 % right."""
    rng = np.random.default_rng(seed)
    labels = np.array(EMOTIONS)[rng.integers(0, 8, clips)]
    blocks = []
    for split in ("val", "test"):
        probas = [rng.dirichlet(np.full(8, 0.3), clips).astype(np.float32) for _ in range(seeds)]
        rows = {"split": split, "clips": [f"{split}-{i:05d}" for i in range(clips)], "speakers": [1] * clips,
                "labels": labels}
        for s, proba in enumerate(probas):
            right = rng.random(clips) < 0.65
            proba[right, np.array([EMOTIONS.index(e) for e in labels[right]])] += 2
            proba /= proba.sum(axis=1, keepdims=True)
            blocks.append(predictions.block(run=predictions.run_name(s), proba=proba, **rows))
        blocks.append(predictions.block(run=predictions.ENSEMBLE, proba=np.mean(probas, axis=0), **rows))
    return predictions.concat(blocks)


def worse(table: predictions.Table, share: float = 0.1) -> predictions.Table:
    """10 % of the clips some run got right on the test split, wrong in every run."""
    right = predictions.correct(table) & (table.split == "test")
    clips = np.unique(table.clip[right])
    chosen = np.random.default_rng(0).choice(clips, max(1, int(share * len(clips))), replace=False)
    predicted = table.predicted.copy()
    flip = np.isin(table.clip, chosen) & right
    predicted[flip] = np.where(table.label[flip] == "neutral", "calm", "neutral")
    return predictions.Table(table.split, table.clip, table.speaker, table.label, table.fold, table.run, predicted,
                             table.proba)


def git(folder: Path, *args: str) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@emo.invalid",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@emo.invalid")
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, env=env)


def wall(folder: Path, args: list[str], runs: int, status: int) -> tuple[float, str]:
    """Median seconds of `emo ARGS` in `folder` (which must exit with `status`), and its output."""
    times, out = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([str(EMO), *args], cwd=folder, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        assert done.returncode == status, done.stdout + done.stderr
        out = done.stdout
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", action="store_true", help="generated predictions, not the project's")
    parser.add_argument("--source", type=Path, default=REPO / "predictions",
                        help="a folder of the four models' predictions CSV files (default: the project's)")
    parser.add_argument("--clips", type=int, default=120, help="test (and validation) clips per synthetic model")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    own = [args.source / f"{model}.csv" for model in MODELS]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "predictions").mkdir()
        if all(path.is_file() for path in own) and not args.synthetic:
            source = str(args.source)
            for path in own:
                shutil.copy2(path, folder / "predictions" / path.name)
        else:
            source = f"synthetic: {args.clips} test clips, {args.seeds} seeds"
            for i, model in enumerate(MODELS):
                predictions.write(folder / "predictions" / f"{model}.csv", synthetic(args.clips, args.seeds, i))
        shutil.copy2(REPO / "params.yaml", folder / "params.yaml")
        git(folder, "init", "-q")
        git(folder, "add", "-A")
        git(folder, "commit", "-q", "-m", "before")
        target = folder / "predictions" / f"{MODELS[-1]}.csv"
        predictions.write(target, worse(predictions.read(target)))
        git(folder, "commit", "-q", "-am", "after")
        size = sum(p.stat().st_size for p in (folder / "predictions").glob("*.csv"))
        print(f"{len(MODELS)} models ({source}), {size / 2**20:.1f} MiB of predictions per revision")
        gate, out = wall(folder, ["check-metrics", "--paired", "--rev", "HEAD~1"], args.runs, 1)
        compare, _ = wall(folder, ["compare", "HEAD~1", "HEAD"], args.runs, 0)
        print(out.split("\n\n", 1)[1], end="")
        print(f"emo check-metrics --paired --rev HEAD~1: {gate:.2f} s (median of {args.runs}; target < 5 s)")
        print(f"emo compare HEAD~1 HEAD: {compare:.2f} s (median of {args.runs})")


if __name__ == "__main__":
    main()
