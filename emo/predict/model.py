"""A trained model as `emo predict` uses it: the checkpoint with its inputs and normalisation statistics, the
pipeline's features of a file, and the class probabilities over the saved runs and a recording's parts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from emo.audio import frontend
from emo.core import layout
from emo.core.params import Params
from emo.data import split
from emo.learn.checkpoints import CheckpointError, load_checkpoint, rebuild
from emo.learn.train import predict_proba
from emo.predict import media
from emo.predict.jobs import Job, PredictError

#: A speaker group (one RAVDESS actor, or one folder) needs at least this many clips for its own per-bin
#: statistics; with fewer, one emotion's clips would dominate the mean, so the training actors' average is used.
MIN_OWN_CLIPS = 8
DEFAULT_MODELS = {"audio": "audio_logmel_balanced", "video": "video_balanced", "fusion": "fusion"}
REPRO = "train the models first with `make repro` (or `dvc repro`)"


@dataclass
class Model:
    """A checkpoint, the feature of each of its inputs, and each input's split file (normalisation statistics)."""

    name: str
    saved: dict
    inputs: list[str]  # mfcc | logmel | video, in the model's input order
    splits: list[dict[str, np.ndarray]]

    @property
    def speaker_norm(self) -> bool:
        """Whether the model was trained on speaker-normalised features."""
        return bool(self.saved["settings"]["speaker_norm"])


def load_model(root: Path, name: str) -> Model:
    """models/<name>.pt and the split files of its inputs, or a PredictError saying what to run."""
    path = root / "models" / f"{name}.pt"
    if not path.is_file():
        have = sorted(p.stem for p in (root / "models").glob("*.pt"))
        raise PredictError(f"{path}: model not found; {REPRO}" + (f" (models here: {', '.join(have)})" if have else ""))
    try:
        saved = load_checkpoint(path, REPRO)  # tensors and plain values only: a crafted file runs no code
    except CheckpointError as err:
        raise PredictError(str(err)) from None
    if saved.get("fusion"):
        inputs, balance = [saved["fusion"]["audio_feature"], layout.VIDEO], saved["fusion"]["balance"]
    else:
        inputs, balance = [saved["model"]], saved["balance"]
    splits = []
    for feature in inputs:
        split_path = root / layout.split_file(feature, balance)
        if not split_path.is_file():
            raise PredictError(f"{split_path}: missing (it holds {name}'s normalisation statistics); {REPRO}")
        with np.load(split_path) as stored:
            splits.append(dict(stored))
    return Model(name, saved, inputs, splits)


class Featurizer:
    """The pipeline's features of one file; the face detector and embedder load only when a video comes."""

    def __init__(self, params: Params, root: Path):
        self.params, self.root = params, root
        self._detector = self._embedder = None

    def audio(self, job: Job, parts: bool = False) -> dict[str, np.ndarray]:
        """{'logmel': [parts, n_mels, frames], 'mfcc': [parts, n_mfcc, frames]} of the job's audio, as `featurize`
        computes them; with `parts` (audio models) a long recording gives one part per model length where the front
        end cuts one (FrontEnd.parts: the utterance's), else one part."""
        front = frontend.for_params(self.params.audio)
        wave, warnings = media.read_audio(job.audio, self.params.audio, job.audio_from_video)
        job.warnings += [(str(job.audio), w) for w in warnings]
        pairs = [front.features(w) for w in (front.parts(wave) if parts else [wave])]
        return {"logmel": np.stack([a for a, _ in pairs]), "mfcc": np.stack([b for _, b in pairs])}

    def video(self, job: Job) -> tuple[np.ndarray, dict]:
        """Face embeddings [D, frames] of the job's video (frames -> Haar face crops -> embedder), and face counts."""
        from emo.vision.embedders import load_embedder
        from emo.vision.faces import FaceDetector, crop_clip

        p = self.params.video
        if self._embedder is None:  # both or neither: a failed load is tried again (and named) for the next video
            self._detector, self._embedder = FaceDetector(p), load_embedder(p.embedder, self.root / p.vgg19_weights)
        crops, counts = crop_clip(media.read_video(job.video, p.frames), self._detector, p, p.track_faces)
        if counts["detected"] == 0:
            job.warnings.append((str(job.video), "no face found in any frame; centre crops were used"))
        return self._embedder.embed(crops).T, counts  # stored [D, frames] like the audio's [bins, frames]


def own_stats(blocks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and std over a speaker's clips (their parts) and frames, computed as `split.speaker_stats` does."""
    mean, std = split.bin_stats(np.concatenate(blocks))
    return mean.astype(np.float32), std.astype(np.float32)


def _training_stats(stats: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """The average of the training actors' per-bin statistics: the fallback for a speaker with too few clips."""
    actors = np.unique(stats["actors"][stats[f"{prefix}train_idx"]])
    return stats["speaker_mean"][actors].mean(axis=0), stats["speaker_std"][actors].mean(axis=0)


def run_model(model: Model, jobs: list[Job], own: dict, sources: dict) -> np.ndarray:
    """Class probabilities [jobs, 8] from the model, averaged over its saved runs (seeds, folds) and over each
    job's parts (a long recording's)."""
    stacked = [np.concatenate([j.features[f] for j in jobs]) for f in model.inputs]
    owner = np.concatenate([np.full(len(j.features[model.inputs[0]]), k) for k, j in enumerate(jobs)])
    for feature, x, shape in zip(model.inputs, stacked, model.saved["input_shapes"], strict=True):
        if tuple(x.shape[1:]) != tuple(shape):
            raise PredictError(f"{model.name} takes {feature} inputs of shape {tuple(shape)}, but params.yaml gives "
                               f"{tuple(x.shape[1:])}; predict with the params the model was trained with")
    probabilities = []
    for run in model.saved["runs"]:
        prefix = "" if run.get("fold") is None else f"fold{run['fold']}_"  # k-fold: each run has its statistics
        inputs = []
        for feature, x, stats in zip(model.inputs, stacked, model.splits, strict=True):
            speakers = by_speaker = None
            if model.speaker_norm:  # each speaker group by its own statistics, or by the training actors' average
                fallback = _training_stats(stats, prefix)
                speakers = np.array([jobs[k].speaker for k in owner])
                by_speaker = {s: own[(s, feature)] if sources[(s, feature)] == "own" else fallback
                              for s in {job.speaker for job in jobs}}
            inputs.append(split.standardise(x, split.training_stats(stats, prefix, model.speaker_norm), speakers,
                                            by_speaker))
        net = rebuild(model.saved, run)
        probabilities.append(predict_proba(net, tuple(inputs) if len(inputs) > 1 else inputs[0], torch.device("cpu")))
    per_part = np.mean(probabilities, axis=0)
    return np.stack([per_part[owner == k].mean(axis=0) for k in range(len(jobs))])
