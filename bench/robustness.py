"""How a project's trained audio models hold up when its validation actors are heard through other devices.

A design choice for "any recording" has to be made without a test corpus: this scores the models of a finished
run (`dvc repro evaluate` in --project) on its VALIDATION actors only (params split.val; never the test actors),
once as recorded and once per simulated device below, each speaker normalised by its own clips as at test
time. The devices are fixed transformations of the decoded file, chosen to differ from the `chain`
augmentation's random stages (so a recipe is not scored on its own training distribution):

- phone: resampled to 8 kHz and back (the telephone band, 0-4 kHz);
- bright: +6 dB/octave tilt (a first-order pre-emphasis, a close small microphone);
- dark: a 2nd-order low-pass at 2.5 kHz (a muffled microphone or a heavy codec);
- noisy: white noise at 15 dB SNR;
- quiet: -30 dB (a far microphone without gain control).

Run: .venv/bin/python bench/robustness.py --project /tmp/run1 [--project /tmp/run2 ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emo.core import pins

pins.apply()  # before numpy, torch or librosa load: the kernels the pipeline computes with (emo.core.pins)

import librosa
import numpy as np
import soundfile
import torch
from scipy.signal import butter, lfilter, sosfilt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emo.audio import frontend
from emo.core import executor, layout
from emo.core.params import AudioParams
from emo.core.params import load as load_params
from emo.data import split
from emo.data.augment import read as read_plan
from emo.learn import ensemble
from emo.learn.checkpoints import load_checkpoint, rebuild
from emo.learn.hybrid import with_svm
from emo.learn.train import predict_proba


def phone(wave: np.ndarray, rate: int) -> np.ndarray:
    return librosa.resample(librosa.resample(wave, orig_sr=rate, target_sr=8000), orig_sr=8000, target_sr=rate)


def bright(wave: np.ndarray, rate: int) -> np.ndarray:
    return lfilter([1.0, -0.95], [1.0], wave)


def dark(wave: np.ndarray, rate: int) -> np.ndarray:
    return sosfilt(butter(2, 2500, fs=rate, output="sos"), wave)


def noisy(wave: np.ndarray, rate: int) -> np.ndarray:
    power = float(np.mean(wave ** 2)) or 1e-12
    noise = np.random.default_rng(len(wave)).standard_normal(len(wave)) * np.sqrt(power / 10 ** 1.5)
    return wave + noise


def quiet(wave: np.ndarray, rate: int) -> np.ndarray:
    return wave * 10 ** (-30 / 20)


DEVICES = {"as recorded": None, "phone": phone, "bright": bright, "dark": dark, "noisy": noisy, "quiet": quiet}


def clip_features(job: tuple[str, str, AudioParams]) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel and MFCC of a file heard through one device."""
    path, device, params = job
    block, rate = soundfile.read(path, dtype="float32", always_2d=True)
    wave = block.mean(axis=1)
    if DEVICES[device] is not None:
        wave = DEVICES[device](wave.astype(np.float64), rate).astype(np.float32)
    front = frontend.for_params(params)
    start, length = front.span(rate)  # what the pipeline's front end reads of the file, at the file's rate
    return front.features(front.hear(wave[start:start + length, None], rate, len(wave) / rate, path).wave)


def score(project: Path, workers: int) -> dict[str, dict[str, float]]:
    """Per model (the four audio models and the default ensemble of two) and device, the mean accuracy over the
    model's runs on the validation actors' original clips."""
    params = load_params(project / "params.yaml")
    plan = [r for r in read_plan(project / layout.PLAN) if r.split == "val" and r.op == "original" and r.path]
    speakers = np.array([r.actor for r in plan])
    labels = np.array([r.label for r in plan])
    results: dict[str, dict[str, float]] = {}
    both = ensemble.default(params.ensemble.mfcc_weight)  # the default model: two of the four, fused run by run
    for device in DEVICES:
        runs: dict[str, list[np.ndarray]] = {}
        pairs = list(executor.run_ordered(clip_features, [(str(project / r.path), device, params.audio)
                                                          for r in plan], workers=workers, threads=1))
        for feature in layout.AUDIO_FEATURES:
            x = np.stack([p[0] if feature == "logmel" else p[1] for p in pairs])
            for balance in layout.BALANCES:
                name = layout.model_name(feature, balance)
                saved = load_checkpoint(project / "models" / f"{name}.pt", "train it first")
                stats = dict(np.load(project / layout.split_file(feature, balance)))
                norm = bool(saved["settings"]["speaker_norm"])
                inputs = split.standardise(x, split.training_stats(stats, "", norm), speakers if norm else None)
                memo: dict = {}  # the seeds share the SVM
                runs[name] = [with_svm(saved, run, inputs, predict_proba(rebuild(saved, run), inputs,
                                                                         torch.device("cpu")), memo)
                              for run in saved["runs"]]
        runs[both.name] = [both.fuse(list(same)) for same in zip(*(runs[m] for m in both.models), strict=True)]
        for name, probabilities in runs.items():
            accuracy = [float(np.mean(p.argmax(1) == labels)) for p in probabilities]
            results.setdefault(name, {})[device] = float(np.mean(accuracy))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, action="append", required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for project in args.project:
        results = score(project, args.workers)
        print(f"\n{project}: validation actors, accuracy % (mean over runs)")
        print("| model | " + " | ".join(DEVICES) + " | mean of devices |")
        print("|---|" + "---:|" * (len(DEVICES) + 1))
        for name, row in results.items():
            devices = [row[d] for d in DEVICES if DEVICES[d] is not None]
            print(f"| {name} | " + " | ".join(f"{100 * row[d]:.1f}" for d in DEVICES)
                  + f" | {100 * np.mean(devices):.1f} |")


if __name__ == "__main__":
    main()
