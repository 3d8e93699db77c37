"""The crossfeatures stage: the pipeline's own features (`featurize.file_features`) of every clip of each other
corpus in `corpora.test`, computed once per corpus on the executor's workers and kept as
data/crossfeatures/<corpus>.npz for the crosscorpus and multicorpus stages (emo.studies.crosscorpus, multicorpus).
"""

from __future__ import annotations

import logging
import os
from contextlib import closing
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from emo.audio import signal as audio
from emo.audio.featurize import file_features
from emo.core import executor
from emo.core.errors import EmoError
from emo.core.io import writing
from emo.core.params import AudioParams
from emo.corpora import Utterance, corpus, inventory

log = logging.getLogger(__name__)
CORPORA = Path("data/corpora")
FEATURES = Path("data/crossfeatures")


def features_file(name: str, folder: Path = FEATURES) -> Path:
    """Where one corpus's features are kept."""
    return folder / f"{name}.npz"


def clip_job(job: tuple[str, AudioParams]) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    """Worker: log-mel and MFCC of one clip, or the problem that stopped its decoding."""
    path, params = job
    try:
        logmel, mfcc = file_features(path, params)
    except audio.DamagedAudioError as err:
        return None, None, err.problem
    return logmel, mfcc, None


def corpus_features(name: str, utterances: list[Utterance], params: AudioParams, progress: bool = True,
                    scheduler: str = executor.LOCAL) -> dict[str, np.ndarray]:
    """Features and labels of every clip that decodes; a damaged clip stops the run naming the file, or with
    `audio.skip_damaged` (or one the corpus ships damaged) is left out and listed under `damaged`. The clips are
    spread over `params.workers` processes (or the Dask cluster of `scheduler`), one BLAS thread each, as featurize
    computes them."""
    known = set(corpus(name).known_damaged)
    kept, logmels, mfccs, damaged = [], [], [], []
    with closing(executor.run_ordered(clip_job, [(u.path, params) for u in utterances], threads=1,
                                      workers=max(1, min(params.workers, os.cpu_count() or 1)), scheduler=scheduler,
                                      name=lambda job: f"features {name} {job[0]}")) as results:
        for utterance, (logmel, mfcc, problem) in zip(utterances, tqdm(
                results, total=len(utterances), unit="clip", desc=f"features {name}", disable=not progress),
                strict=True):
            if problem is None:
                kept.append(utterance)
                logmels.append(logmel)
                mfccs.append(mfcc)
            elif params.skip_damaged or utterance.clip in known:
                log.warning("skipping damaged clip: %s: %s", utterance.path, problem)
                damaged.append(utterance.path)
            else:
                raise audio.DamagedAudioError(f"{utterance.path}: {problem}; fetch the corpus again (`dvc repro -f "
                                              "corpora`), or set audio.skip_damaged: true to leave it out", problem)
    if not kept:
        raise EmoError(f"no {corpus(name).title} clip decodes: {len(damaged)} damaged; fetch the corpus again")
    return {"logmel": np.stack(logmels).astype(np.float32), "mfcc": np.stack(mfccs).astype(np.float32),
            "clip": np.array([u.clip for u in kept]), "speaker": np.array([u.speaker for u in kept]),
            "emotion": np.array([u.emotion for u in kept]), "damaged": np.array(damaged, dtype=str)}


def save_features(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write a corpus's arrays as one .npz through a temporary file."""
    with writing(path) as temporary:
        np.savez(temporary, **arrays)


def load_features(path: Path) -> dict[str, np.ndarray]:
    """A corpus's arrays as `save_features` wrote them."""
    if not path.is_file():
        raise EmoError(f"{path}: missing; compute the corpus's features first (`dvc repro crossfeatures`)")
    with np.load(path) as saved:
        return dict(saved)


def featurize_corpora(names: tuple[str, ...], params: AudioParams, corpora: Path = CORPORA,
                      out: Path = FEATURES, progress: bool = True, scheduler: str = executor.LOCAL) -> dict[str, dict]:
    """out/<name>.npz for each corpus in corpora/<name>; per corpus the clips featurised and left out."""
    report = {}
    for name in names:
        arrays = corpus_features(name, inventory(corpora / name, corpus(name)), params, progress, scheduler)
        save_features(arrays, features_file(name, out))
        report[name] = {"clips": len(arrays["clip"]), "damaged": len(arrays["damaged"])}
    return report
