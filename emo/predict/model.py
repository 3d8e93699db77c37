"""A trained model as `emo predict` uses it: the checkpoint with its inputs and normalisation statistics, the
pipeline's features of a file, and the class probabilities over the saved runs and a recording's parts."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from emo.audio import frontend
from emo.core import layout
from emo.core.params import Params
from emo.data import split
from emo.learn import ensemble
from emo.learn.checkpoints import CheckpointError, load_checkpoint, rebuild
from emo.learn.hybrid import with_svm
from emo.learn.train import predict_proba
from emo.predict import media
from emo.predict.jobs import Job, PredictError

#: A speaker group (one RAVDESS actor, or one folder) needs at least this many clips for its own per-bin
#: statistics; with fewer, one emotion's clips would dominate the mean, so the training actors' average is used.
MIN_OWN_CLIPS = 8
#: Rows (clips, or a long recording's parts) the models score at once: `predict_proba`'s batch.
SCORE_ROWS = 256
DEFAULT_MODELS = {"audio": layout.ENSEMBLE_MODEL, "video": "video_balanced", "fusion": "fusion"}
REPRO = "train the models first with `make repro` (or `dvc repro`)"


@dataclass
class Model:
    """A checkpoint, the feature of each of its inputs, and each input's split file (normalisation statistics)."""

    name: str
    saved: dict
    inputs: list[str]  # mfcc | logmel | video, in the model's input order
    splits: list[dict[str, np.ndarray]]
    nets: list = field(default_factory=list, repr=False)  # each saved run's network, built on first use

    @property
    def speaker_norm(self) -> bool:
        """Whether the model was trained on speaker-normalised features."""
        return bool(self.saved["settings"]["speaker_norm"])

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(shape) for shape in self.saved["input_shapes"]]

    @property
    def seeds(self) -> list[int]:
        return [run["seed"] for run in self.saved["runs"]]

    def run_probabilities(self, x: list[np.ndarray], speakers: np.ndarray, own: dict[str, list]) -> list[np.ndarray]:
        """Each saved run's class probabilities [rows, 8] of rows of the model's inputs (`x`, in input order); each
        speaker group standardised by its own statistics (`own`: speaker -> per input (mean, std) or None), or by the
        training actors' average."""
        if not self.nets:
            self.nets = [rebuild(self.saved, run) for run in self.saved["runs"]]
        probabilities, memo = [], {}  # memo: each fold's SVM probabilities, shared by its seeds (same rows)
        for run, net in zip(self.saved["runs"], self.nets, strict=True):
            prefix = "" if run.get("fold") is None else f"fold{run['fold']}_"  # k-fold: each run has its statistics
            inputs = []
            for i, (block, stats) in enumerate(zip(x, self.splits, strict=True)):
                by_speaker = None
                if self.speaker_norm:
                    fallback = _training_stats(stats, prefix)
                    by_speaker = {s: fallback if found[i] is None else found[i] for s, found in own.items()}
                inputs.append(split.standardise(block, split.training_stats(stats, prefix, self.speaker_norm),
                                                speakers if self.speaker_norm else None, by_speaker))
            rows = tuple(inputs) if len(inputs) > 1 else inputs[0]
            probabilities.append(with_svm(self.saved, run, rows, predict_proba(net, rows, torch.device("cpu"),
                                                                               batch_size=SCORE_ROWS), memo))
        return probabilities

    def probabilities(self, x: list[np.ndarray], speakers: np.ndarray, own: dict[str, list]) -> np.ndarray:
        """The runs' probabilities (`run_probabilities`) averaged: the seed ensemble."""
        return np.mean(self.run_probabilities(x, speakers, own), axis=0)


@dataclass
class EnsembleModel:
    """Trained models of one input each, their probabilities fused run by run (emo.learn.ensemble) and the fused
    runs averaged: the default audio model. It reads what `Model` reads, one member per input."""

    name: str
    members: list[Model]
    fusion: ensemble.FeatureEnsemble

    def __post_init__(self) -> None:
        runs = [[(run["seed"], run.get("fold")) for run in m.saved["runs"]] for m in self.members]
        if any(len(m.inputs) != 1 for m in self.members) or any(r != runs[0] for r in runs):
            raise PredictError(f"{self.name}: its members {', '.join(m.name for m in self.members)} must be models of "
                               f"one input each with the same runs (seeds, folds); {REPRO}")

    @property
    def inputs(self) -> list[str]:
        return [m.inputs[0] for m in self.members]

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        return [m.input_shapes[0] for m in self.members]

    @property
    def speaker_norm(self) -> bool:
        return any(m.speaker_norm for m in self.members)

    @property
    def seeds(self) -> list[int]:
        return self.members[0].seeds

    def probabilities(self, x: list[np.ndarray], speakers: np.ndarray, own: dict[str, list]) -> np.ndarray:
        """Member i's runs on input i, run k of every member fused, the fused runs averaged."""
        runs = [m.run_probabilities([x[i]], speakers, {s: [found[i]] for s, found in own.items()})
                for i, m in enumerate(self.members)]
        return np.mean([self.fusion.fuse(list(same)) for same in zip(*runs, strict=True)], axis=0)


def load_model(root: Path, name: str, params: Params | None = None) -> Model | EnsembleModel:
    """models/<name>.pt and the split files of its inputs, or a PredictError saying what to run; the default
    ensemble (layout.ENSEMBLE_MODEL) is its members' files, weighted as `params` (params.yaml's ensemble) says."""
    if name == layout.ENSEMBLE_MODEL:
        chosen = ensemble.default((params or Params()).ensemble.mfcc_weight)
        return EnsembleModel(name, [load_model(root, member) for member in chosen.models], chosen)
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


def _training_stats(stats: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """The average of the training actors' per-bin statistics: the fallback for a speaker with too few clips."""
    actors = np.unique(stats["actors"][stats[f"{prefix}train_idx"]])
    return stats["speaker_mean"][actors].mean(axis=0), stats["speaker_std"][actors].mean(axis=0)


@dataclass
class _Queued:
    """A job's rows waiting in a Scorer, and what was scored of them."""

    job: Job
    x: list[np.ndarray]  # per model input, [parts, bins, frames]
    own: list  # per model input, the speaker group's own (mean, std), or None: the training actors' average
    note: object  # the caller's, handed back with the probabilities
    taken: int = 0
    scored: list[np.ndarray] = field(default_factory=list)


class Scorer:
    """One model's class probabilities for the rows (clips, a long recording's parts) of the jobs queued, averaged
    over its saved runs (seeds, folds) and over each job's parts.

    Rows are scored in the order they are queued, SCORE_ROWS at a time whichever jobs and speaker groups they
    come from: the batches a run that stacks all of a model's rows gets from `predict_proba`, as `emo predict`
    did before it streamed. A job's probabilities are thus the same to the bit whether it is scored among ten
    or ten thousand files (the network's kernels may round differently for another batch size)."""

    def __init__(self, model: Model | EnsembleModel):
        self.model = model
        self._queue: deque[_Queued] = deque()
        self._rows = 0

    def add(self, job: Job, features: dict[str, np.ndarray], own: dict[str, tuple | None],
            note: object = None) -> list[tuple[Job, np.ndarray, object]]:
        """Queue a job's rows (`own`: per input, its group's own statistics or None); (job, probabilities [8],
        note) of each job whose rows are all scored now, in the order queued. A job whose features do not fit the
        model fails here."""
        model = self.model
        for feature, shape in zip(model.inputs, model.input_shapes, strict=True):
            if tuple(features[feature].shape[1:]) != tuple(shape):
                job.fail(job.label, f"{model.name} takes {feature} inputs of shape {tuple(shape)}, but params.yaml "
                         f"gives {tuple(features[feature].shape[1:])}; predict with the params the model was "
                         "trained with")
                return []
        queued = _Queued(job, [features[f] for f in model.inputs], [own.get(f) for f in model.inputs], note)
        self._queue.append(queued)
        self._rows += len(queued.x[0])
        done = []
        while self._rows >= SCORE_ROWS:
            done += self._batch(SCORE_ROWS)
        return done

    def flush(self) -> list[tuple[Job, np.ndarray, object]]:
        """Score the rows still queued (fewer than SCORE_ROWS): the jobs they complete, as `add` gives them."""
        return self._batch(self._rows) if self._rows else []

    def _batch(self, size: int) -> list[tuple[Job, np.ndarray, object]]:
        """Score the first `size` rows queued (a job's parts may span two batches)."""
        cut, need = [], size
        for queued in self._queue:
            n = min(need, len(queued.x[0]) - queued.taken)
            cut.append((queued, queued.taken, queued.taken + n))
            need -= n
            if not need:
                break
        x = [np.concatenate([q.x[i][lo:hi] for q, lo, hi in cut]) for i in range(len(self.model.inputs))]
        speakers = np.array([q.job.speaker for q, lo, hi in cut for _ in range(hi - lo)])
        per_part = self.model.probabilities(x, speakers, {q.job.speaker: q.own for q, _, _ in cut})
        at = 0
        for queued, lo, hi in cut:
            queued.scored.append(per_part[at:at + hi - lo])
            queued.taken, at = hi, at + hi - lo
        self._rows -= size
        done = []
        while self._queue and self._queue[0].taken == len(self._queue[0].x[0]):
            queued = self._queue.popleft()
            done.append((queued.job, np.concatenate(queued.scored).mean(axis=0), queued.note))
        return done
