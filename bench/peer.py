"""The classical peer on the real data: eGeMAPS functionals + SVM, trained on RAVDESS actors, tested on RAVDESS's
last two actors (8-way) and on EmoDB's clips of the six emotions it shares with RAVDESS (argmax over those six).

Functionals are z-normalised per speaker over all that speaker's clips (no labels; EmoDB's boredom clips count
towards their speaker's statistics, and a second line normalises over the six-class clips only). The functionals
are cached in --cache (keyed by the clip list and the openSMILE version), so a rerun takes seconds.
Needs the extra: .venv/bin/pip install -e '.[peer]'
Run: .venv/bin/python bench/peer.py [--ravdess ../shared/ravdess] [--emodb ../shared/emodb] [--workers 2]
Issue 14's reference for this recipe: 66.7 % on RAVDESS 23-24, 35.7 % (UAR 37.0 %) on EmoDB.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from emo.core import pins

pins.apply()  # before numpy, torch or librosa load: the kernels the pipeline computes with (emo.core.pins)

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emo.core.errors import reported
from emo.core.ravdess import EMOTIONS
from emo.corpora import corpus, inventory
from emo.studies import peer

SHARED = ("neutral", "happy", "sad", "angry", "fearful", "disgust")  # EmoDB's emotions that RAVDESS has
TEST_ACTORS = (23, 24)


def cached_egemaps(name: str, paths: list[str], cache: Path, workers: int) -> tuple[np.ndarray, float]:
    """The functionals of `paths`, cached; and the seconds computing them took (0 when cached)."""
    key = hashlib.sha256("\n".join([version("opensmile"), *paths]).encode()).hexdigest()[:16]
    file = cache / f"egemaps-{name}-{key}.npy"
    if file.is_file():
        return np.load(file), 0.0
    start = time.perf_counter()
    features = peer.egemaps(paths, workers)
    seconds = time.perf_counter() - start
    cache.mkdir(parents=True, exist_ok=True)
    np.save(file, features)
    return features, seconds


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> str:
    """Accuracy and UAR in per cent."""
    return (f"accuracy {100 * accuracy_score(y_true, y_pred):5.1f} %  "
            f"UAR {100 * balanced_accuracy_score(y_true, y_pred):5.1f} %  (n={len(y_true)})")


def speaker_cv(x: np.ndarray, y: np.ndarray, actor: np.ndarray, c: float, seed: int) -> float:
    """Mean accuracy over 5 folds of 4 consecutive actors among actors 1-20, training on the other 16."""
    accuracies = []
    for fold in range(5):
        held = (actor - 1) // 4 == fold
        fit = (actor <= 20) & ~held
        model = peer.fit_svm(x[fit], y[fit], seed=seed, C=c)
        accuracies.append(accuracy_score(y[held], peer.decide(model, x[held])))
    return float(np.mean(accuracies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ravdess", type=Path, default=REPO.parent / "shared" / "ravdess")
    parser.add_argument("--emodb", type=Path, default=REPO.parent / "shared" / "emodb")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "emo-peer-cache")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--C", type=float, default=peer.SVM_C)
    args = parser.parse_args()
    start = time.perf_counter()
    peer.smile()  # the missing extra named before anything else

    ravdess = [u for u in inventory(args.ravdess, corpus("ravdess")) if u.part == "audio_speech"]
    emodb = inventory(args.emodb, corpus("emodb"))
    rav_x, rav_s = cached_egemaps("ravdess", [u.path for u in ravdess], args.cache, args.workers)
    emo_x, emo_s = cached_egemaps("emodb", [u.path for u in emodb], args.cache, args.workers)
    print(f"openSMILE {version('opensmile')}: eGeMAPSv02 functionals of {len(ravdess)} RAVDESS speech clips "
          f"({rav_s:.1f} s) and {len(emodb)} EmoDB clips ({emo_s:.1f} s) on {args.workers} workers"
          + ("" if rav_s or emo_s else f"; cached in {args.cache}"))

    actor = np.array([int(u.speaker.split(":")[1]) for u in ravdess])
    rav_y = np.array(peer.class_indices([u.emotion for u in ravdess]))
    rav_z = peer.speaker_znorm(rav_x, actor)
    six = np.array([u.emotion in SHARED for u in emodb])
    emo_y = np.array(peer.class_indices([u.emotion for u in emodb if u.emotion in SHARED]))
    speakers = np.array([u.speaker for u in emodb])
    emo_z_all = peer.speaker_znorm(emo_x, speakers)[six]
    emo_z_six = peer.speaker_znorm(emo_x[six], speakers[six])
    allowed = peer.class_indices(SHARED)
    test = np.isin(actor, TEST_ACTORS)

    for last in (20, 22):
        train = actor <= last
        fit_start = time.perf_counter()
        model = peer.fit_svm(rav_z[train], rav_y[train], seed=args.seed, C=args.C)
        fit_s = time.perf_counter() - fit_start
        print(f"\nSVM (C={args.C}) trained on RAVDESS actors 1-{last} ({train.sum()} clips, {fit_s:.1f} s)")
        print(f"  RAVDESS actors 23-24, 8-way:                 {scores(rav_y[test], peer.decide(model, rav_z[test]))}")
        print(f"  EmoDB, 6 shared classes (speaker z: all clips): "
              f"{scores(emo_y, peer.decide(model, emo_z_all, allowed))}")
        print(f"  EmoDB, 6 shared classes (speaker z: 6-class):   "
              f"{scores(emo_y, peer.decide(model, emo_z_six, allowed))}")
    print("\nC by 5-fold speaker CV on actors 1-20 (4 actors a fold; mean accuracy):", ", ".join(
        f"C={c:g} {100 * speaker_cv(rav_z, rav_y, actor, c, args.seed):.1f} %" for c in (1, 3, 10, 30)))
    print(f"\nclass order {EMOTIONS}; total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    with reported():
        main()
