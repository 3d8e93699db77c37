"""Peak memory of `emo predict` against the number of files: a folder of N generated 1.5 s clips (one speaker
group, the case that held every clip's features until the end), scored by an untrained model of the default
recipe (params.yaml, audio_logmel_balanced) in a throwaway project; each run a fresh `emo predict --json`
process, its peak RSS read from the kernel (wait4), its output thrown away.

Run: .venv/bin/python bench/predict_memory.py [--files 200 2000] [--repo PATH]
(--repo: a checkout whose `emo` to run instead, e.g. an older commit, for a before/after.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import yaml

REPO = Path(__file__).resolve().parents[1]
RATE = 16000


def make_project(root: Path) -> None:
    """params.yaml, an untrained models/audio_logmel_balanced.pt and its split file's statistics."""
    import torch

    from emo.core import layout
    from emo.core.params import load
    from emo.learn import checkpoints, models
    from emo.learn.train import FitResult

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["audio"]["workers"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    p = load(root / "params.yaml")
    shape = (p.audio.n_mels, p.audio.frames)
    settings = p.train.ours
    torch.manual_seed(0)
    net = models.build(settings.model, shape, dropout=settings.dropout)
    saved = checkpoints.checkpoint([FitResult(seed=0, state=net.state_dict(), best_epoch=0, seconds=0.0)], settings,
                                   [shape], preset="ours", model="logmel", balance="balanced", fusion=None)
    checkpoints.save(saved, root / "models" / "audio_logmel_balanced.pt")
    rng = np.random.default_rng(0)
    split = root / layout.split_file("logmel", "balanced")
    split.parent.mkdir(parents=True, exist_ok=True)
    np.savez(split, actors=np.array([1, 2]), train_idx=np.array([0, 1]),
             speaker_mean=rng.normal(-20, 5, (3, shape[0])).astype(np.float32),
             speaker_std=rng.uniform(5, 10, (3, shape[0])).astype(np.float32),
             post_speaker_mean=np.zeros(shape, np.float32), post_speaker_std=np.ones(shape, np.float32),
             mean=np.zeros(shape, np.float32), std=np.ones(shape, np.float32))


def make_clips(folder: Path, count: int) -> None:
    """`count` different 1.5 s voiced-sounding clips."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(1.5 * RATE)) / RATE
    rng = np.random.default_rng(1)
    for k in range(count):
        pitch, rate = rng.uniform(100, 250), rng.uniform(2, 6)
        wave = (1 + 0.5 * np.sin(2 * np.pi * rate * t)) * np.sin(2 * np.pi * pitch * t)
        wave = 0.2 * wave + 0.01 * rng.standard_normal(len(t))
        soundfile.write(folder / f"clip{k:05d}.wav", wave.astype(np.float32), RATE, subtype="PCM_16")


def peak(repo: Path, project: Path, folder: Path) -> tuple[float, float]:
    """Peak RSS (MB) and seconds of one `emo predict --json FOLDER` process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])))
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "emo.cli", "predict", "--project", str(project), "--json",
                              str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                             cwd=project)  # not this checkout: `python -m` puts the working folder first
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status:
        raise SystemExit(f"emo predict failed: {child.stderr.read().decode(errors='replace')[-2000:]}")
    return usage.ru_maxrss / 1024, seconds  # ru_maxrss: kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose emo runs (default: this one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        make_project(project)
        print(f"emo predict --json FOLDER ({args.repo}): one folder of generated 1.5 s clips at {RATE} Hz")
        print(f"{'files':>7} {'peak RSS MB':>12} {'seconds':>8}")
        rows = []
        for count in sorted(args.files):
            clips = project / f"clips{count}"
            make_clips(clips, count)
            mb, seconds = peak(args.repo, project, clips)
            rows.append((count, mb))
            print(f"{count:>7} {mb:>12.0f} {seconds:>8.1f}")
        if len(rows) > 1:
            (n0, m0), (n1, m1) = rows[0], rows[-1]
            print(f"growth: {1024 * (m1 - m0) / (n1 - n0):.1f} kB per file")


if __name__ == "__main__":
    main()
