"""The classical peer: eGeMAPS functionals (openSMILE), z-normalised per speaker, classified by an SVM.

openSMILE comes under a research licence, so it is the optional extra `peer` (`pip install -e '.[peer]'`);
everything else here uses the project's own dependencies. Classes are indices into emo.core.ravdess.EMOTIONS.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import soundfile
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from emo.audio.signal import DamagedAudioError, rate_problem
from emo.core import executor
from emo.core.errors import EmoError
from emo.core.ravdess import EMOTIONS

FEATURES = 88  # eGeMAPSv02 functionals per clip
# The SVM's C of issue 14's reference run (66.7 % on RAVDESS actors 23-24, 35.7 % on EmoDB's six classes);
# 5-fold speaker CV on actors 1-20 is flat over C = 1..10 (60.1, 60.6, 59.2 %).
SVM_C = 10.0
INSTALL = "pip install -e '.[peer]'"

_SMILE: dict = {}  # this process's openSMILE extractor, built once


def smile():
    """This process's eGeMAPSv02 Functionals extractor, or an EmoError naming the install when openSMILE is missing."""
    if "smile" not in _SMILE:
        try:
            import opensmile
        except ImportError:
            raise EmoError("the eGeMAPS peer needs openSMILE, the optional extra `peer` (research licence): "
                           f"{INSTALL}") from None
        _SMILE["smile"] = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                          feature_level=opensmile.FeatureLevel.Functionals)
    return _SMILE["smile"]


def read_mono(path: str) -> tuple[np.ndarray, int]:
    """A whole clip as mono float32 at its own rate (soundfile: wav and flac), or the error naming the file."""
    try:
        block, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, ValueError, OSError) as err:
        why = str(err).replace(f"Error opening {path!r}: ", "")
        raise DamagedAudioError(f"{path}: cannot decode audio ({why})", f"cannot decode audio ({why})") from None
    if problem := rate_problem(rate):
        raise DamagedAudioError(f"{path}: {problem}", problem)
    if len(block) == 0:
        raise DamagedAudioError(f"{path}: holds no audio samples", "holds no audio samples")
    if not np.isfinite(block).all():
        raise DamagedAudioError(f"{path}: holds NaN or infinite samples", "holds NaN or infinite samples")
    return block.mean(axis=1), rate


def functionals(path: str) -> np.ndarray:
    """The 88 eGeMAPSv02 functionals of one clip, at its own sample rate."""
    wave, rate = read_mono(str(path))
    row = smile().process_signal(wave, rate).to_numpy(dtype=np.float64).reshape(-1)
    if row.shape != (FEATURES,) or not np.isfinite(row).all():
        raise DamagedAudioError(f"{path}: openSMILE gave no finite eGeMAPS functionals (too short or silent?)",
                                "no finite eGeMAPS functionals")
    return row


def egemaps(paths: Sequence[str], workers: int = 1, scheduler: str = executor.LOCAL) -> np.ndarray:
    """eGeMAPSv02 functionals [clips, 88] of the clips in order, spread over `workers` processes (at most the CPUs)
    or the Dask cluster of `scheduler`."""
    smile()  # the missing-extra error here, in the caller's process
    paths = [str(p) for p in paths]
    rows = list(executor.run_ordered(functionals, paths, workers=min(workers, os.cpu_count() or 1),
                                     scheduler=scheduler, name=lambda path: f"eGeMAPS {path}"))
    return np.stack(rows) if rows else np.zeros((0, FEATURES))


def speaker_znorm(features: np.ndarray, speakers: Sequence) -> np.ndarray:
    """Each speaker's rows z-scored by that speaker's own mean and standard deviation (no labels used)."""
    speakers = np.asarray(speakers)
    out = np.empty(features.shape, dtype=np.float64)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        mean, std = features[rows].mean(axis=0), features[rows].std(axis=0)
        out[rows] = (features[rows] - mean) / np.where(std > 0, std, 1.0)
    return out


def fit_svm(x: np.ndarray, y: np.ndarray, seed: int = 0, C: float = SVM_C) -> Pipeline:
    """StandardScaler + RBF SVC (one-vs-one, seeded) fitted on features `x` and class indices `y`."""
    svc = SVC(C=C, kernel="rbf", gamma="scale", decision_function_shape="ovo", random_state=seed)
    return make_pipeline(StandardScaler(), svc).fit(x, np.asarray(y))


def class_indices(names: Sequence[str]) -> list[int]:
    """The indices into EMOTIONS of emotion names."""
    unknown = [n for n in names if n not in EMOTIONS]
    if unknown:
        raise EmoError(f"unknown emotions {unknown}; expected names from {', '.join(EMOTIONS)}")
    return [EMOTIONS.index(n) for n in names]


def decide(model: Pipeline, x: np.ndarray, allowed_classes: Sequence[int] | None = None) -> np.ndarray:
    """Class indices predicted among `allowed_classes` only: one-vs-one votes of the allowed pairs alone.

    This is the decision a model trained on the allowed classes alone would take (each one-vs-one machine sees
    only its two classes), with scikit-learn's tie-break by summed confidences.
    """
    classes = [int(c) for c in model.classes_]
    allowed = classes if allowed_classes is None else [int(c) for c in allowed_classes]
    missing = sorted(set(allowed) - set(classes))
    if missing:
        raise EmoError(f"the SVM was not trained on {', '.join(EMOTIONS[c] for c in missing)}")
    pairwise = model.decision_function(x).reshape(len(x), -1)  # [clips, pairs]: >= 0 votes for the pair's first
    if len(classes) == 2:
        pairwise = -pairwise  # scikit-learn turns the sign of a two-class SVM (> 0: the second class)
    votes = np.zeros((len(x), len(classes)))
    confidence = np.zeros((len(x), len(classes)))
    keep = set(allowed)
    pair = 0
    for i, first in enumerate(classes):
        for j in range(i + 1, len(classes)):
            if first in keep and classes[j] in keep:
                score = pairwise[:, pair]
                votes[:, i] += score >= 0
                votes[:, j] += score < 0
                confidence[:, i] += score
                confidence[:, j] -= score
            pair += 1
    total = votes + confidence / (3 * (np.abs(confidence) + 1))
    total[:, [k for k, c in enumerate(classes) if c not in keep]] = -np.inf
    return np.asarray(classes)[total.argmax(axis=1)]


NAME = "egemaps_svm"  # the peer's row in every table


def evaluate(rows: Sequence, corpora: dict[str, Sequence], workers: int = 1, seed: int = 0,
             scheduler: str = executor.LOCAL) -> dict:
    """The peer trained on RAVDESS's training actors, scored on its test actors (8-way) and on each other corpus
    over the emotions both share (argmax among them): the shape of metrics/crosscorpus.json, plus RAVDESS.

    `rows` are the inventory's rows (emo.data.inventory.Row); `corpora` maps a corpus name to its
    utterances (emo.corpora.Utterance). Every speaker is z-normalised by its own clips (all of them: no labels).
    The functionals are computed on `workers` processes, or the Dask cluster of `scheduler`.
    """
    from emo.studies.crosscorpus import shared_classes, shared_scores

    audio = [r for r in rows if r.path and r.part == "audio_speech" and r.split in ("train", "test")
             and r.duration == r.duration]  # a NaN duration: unreadable, counted by the inventory
    x = speaker_znorm(egemaps([r.path for r in audio], workers, scheduler), [r.actor for r in audio])
    y = np.array([r.label for r in audio])
    train = np.array([r.split == "train" for r in audio])
    model = fit_svm(x[train], y[train], seed)
    test = ~train
    everything = list(range(len(EMOTIONS)))
    result = {"trained_on": ["ravdess"],
              "ravdess": {**shared_scores(y[test], decide(model, x[test]), everything), "n": int(test.sum()),
                          "classes": list(EMOTIONS),
                          "test_actors": sorted({int(r.actor) for r, t in zip(audio, test, strict=True) if t})}}
    for name, utterances in corpora.items():
        classes = shared_classes(name)
        features = speaker_znorm(egemaps([u.path for u in utterances], workers, scheduler),
                                 [u.speaker for u in utterances])
        labels = np.array([EMOTIONS.index(u.emotion) if u.emotion in EMOTIONS else -1 for u in utterances])
        keep = np.isin(labels, classes)
        scores = shared_scores(labels[keep], decide(model, features[keep], classes), classes)
        result[name] = {**scores, "n": int(keep.sum()), "classes": [EMOTIONS[c] for c in classes]}
    return {NAME: result}
