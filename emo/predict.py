"""`emo predict`: the trained models applied to new audio and video files, with the pipeline's own preprocessing.

A wav/flac (or an mp4 with sound only) goes to an audio model, a video-only mp4 to the video model, an audio-video
pair (or an audio-video mp4) to the fusion model. Files are read by `emo.media`; features are computed by the
pipeline's functions with params.yaml's `audio` and `video` sections, and normalised with the statistics in the
model's split file, as at training.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from emo import media
from emo.audio import featurize, frontend
from emo.core import layout
from emo.core.errors import EmoError
from emo.core.params import Params
from emo.core.params import load as load_params
from emo.core.ravdess import EMOTIONS, RavdessNameError, parse_name
from emo.data.split import bin_stats
from emo.learn.checkpoints import CheckpointError, load_checkpoint, rebuild
from emo.learn.train import predict_proba

#: A speaker group (one RAVDESS actor, or one folder) needs at least this many clips for its own per-bin
#: statistics; with fewer, one emotion's clips would dominate the mean, so the training actors' average is used.
MIN_OWN_CLIPS = 8
AUDIO_SUFFIXES = (".wav", ".flac")
VIDEO_SUFFIXES = (".mp4",)
DEFAULT_MODELS = {"audio": "audio_logmel_balanced", "video": "video_balanced", "fusion": "fusion"}
SPEAKER_STATS = ("auto", "own", "training")
REPRO = "train the models first with `make repro` (or `dvc repro`)"


class PredictError(EmoError):
    """A file, model or split file that `emo predict` cannot use; the message says which and why."""


@dataclass
class Job:
    """One prediction: an audio file, a video file, or both for the fusion model, and what came of it."""

    audio: Path | None = None
    video: Path | None = None
    audio_from_video: bool = False  # the audio is the sound track of the (audio-video) mp4
    label: str = ""  # what the output calls it
    speaker: str = ""
    model: str = ""  # the checkpoint it goes to
    features: dict[str, np.ndarray] = field(default_factory=dict)
    faces: dict | None = None
    error: tuple[str, str] | None = None  # (the file it is about, one-line message)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (the file it is about, one line) each
    result: dict | None = None

    @property
    def kind(self) -> str:
        """Which kind of model this job needs: audio, video or fusion."""
        return "fusion" if self.audio and self.video else "audio" if self.audio else "video"

    def fail(self, where: str | Path, message: str) -> None:
        """Record the job's error (only the first one counts)."""
        self.error = self.error or (str(where), message)


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
        computes them; with `parts` (audio models, front_end utterance) a long recording gives one part per model
        length (frontend.segments), else one part."""
        p = self.params.audio
        wave, warnings = media.read_audio(job.audio, p, job.audio_from_video)
        job.warnings += [(str(job.audio), w) for w in warnings]
        waves = frontend.segments(wave, p) if parts and p.front_end == "utterance" else [wave]
        pairs = [featurize.features(w, p) for w in waves]
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


def speaker_of(path: Path) -> str:
    """The speaker group of a file: its RAVDESS actor when the name parses, else its folder."""
    try:
        return f"actor {parse_name(path).actor:02d}"
    except RavdessNameError:
        return f"folder {path.parent}"


def collect(paths: list[str], pairs: list[tuple[str, str]] = (), pair: bool = True) -> list[Job]:
    """Jobs for the files, folders (every supported file under them) and explicit (audio, video) pairs given."""
    jobs: list[Job] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        files = [path]
        if path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith(".")
                           and f.suffix.lower() in AUDIO_SUFFIXES + VIDEO_SUFFIXES)
            problem = "" if files else "no .wav, .flac or .mp4 file under this folder"
        elif not path.is_file():
            problem = "no such file or folder"
        elif path.suffix.lower() not in AUDIO_SUFFIXES + VIDEO_SUFFIXES:
            problem = f"unsupported file type {path.suffix!r}; expected .wav or .flac (audio), .mp4 (video)"
        else:
            problem = ""
        if problem:
            jobs.append(Job(label=given, error=(given, problem)))
            continue
        for file in files:
            if file.resolve() in seen:
                continue
            seen.add(file.resolve())
            sound, picture = (True, False) if file.suffix.lower() in AUDIO_SUFFIXES else media.mp4_streams(file)
            jobs.append(Job(audio=file if sound else None, video=file if picture else None,
                            audio_from_video=sound and file.suffix.lower() in VIDEO_SUFFIXES, label=str(file)))
    if pair:
        jobs = _pair_by_performance(jobs)
    for audio_file, video_file in pairs:
        job = Job(audio=Path(audio_file), video=Path(video_file), label=f"{audio_file} + {video_file}")
        for file, suffixes in ((job.audio, AUDIO_SUFFIXES), (job.video, VIDEO_SUFFIXES)):
            if file.suffix.lower() not in suffixes:
                job.fail(file, f"--pair AUDIO VIDEO: expected {' or '.join(suffixes)} here")
        jobs.append(job)
    for job in jobs:
        job.speaker = speaker_of(job.audio or job.video) if not job.error else ""
    return jobs


def _performance(path: Path | None, modality: int) -> str | None:
    """The RAVDESS performance key of a file of the given modality, else None."""
    try:
        clip = parse_name(path) if path else None
    except RavdessNameError:
        return None
    return clip.performance if clip and clip.modality == modality else None


def _pair_by_performance(jobs: list[Job]) -> list[Job]:
    """Audio-only (03) and video-only (02) files of the same RAVDESS performance merged into one fusion job."""
    videos: dict[str, Job] = {}
    for job in jobs:
        if job.kind == "video" and not job.error and (key := _performance(job.video, 2)):
            videos.setdefault(key, job)
    merged: set[int] = set()
    for job in jobs:
        partner = videos.get(_performance(job.audio, 3) or "") if job.kind == "audio" and not job.error else None
        if partner is not None and id(partner) not in merged:
            merged.add(id(partner))
            job.video, job.label = partner.video, f"{job.audio} + {partner.video}"
    return [j for j in jobs if id(j) not in merged]


def _short(err: BaseException, path: Path | str) -> str:
    """One line for a file that failed: without the file name the message may repeat or pipeline-only advice."""
    text = (str(err).splitlines() or [""])[0] or type(err).__name__
    text = re.split(r"(?:;| —) fetch the data again", text)[0].removeprefix(f"{path}: ")
    return text if isinstance(err, EmoError) else f"{type(err).__name__}: {text}"


def _own_stats(blocks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and std over a speaker's clips (their parts) and frames, computed as `split.speaker_stats` does."""
    mean, std = bin_stats(np.concatenate(blocks))
    return mean.astype(np.float32), std.astype(np.float32)


def _training_stats(split: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """The average of the training actors' per-bin statistics: the fallback for a speaker with too few clips."""
    actors = np.unique(split["actors"][split[f"{prefix}train_idx"]])
    return split["speaker_mean"][actors].mean(axis=0), split["speaker_std"][actors].mean(axis=0)


def _normalise(x: np.ndarray, split: dict[str, np.ndarray], prefix: str,
               speaker: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Features [clips, bins, frames] normalised as `train.load_arrays` does: per speaker (if given), then globally."""
    if speaker is not None:
        x = (x - speaker[0][:, :, None]) / speaker[1][:, :, None]
        mean, std = split[f"{prefix}post_speaker_mean"], split[f"{prefix}post_speaker_std"]
    else:
        mean, std = split[f"{prefix}mean"], split[f"{prefix}std"]
    return ((x - mean) / std).astype(np.float32)


def _run_model(model: Model, jobs: list[Job], own: dict, sources: dict) -> np.ndarray:
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
        for feature, x, split in zip(model.inputs, stacked, model.splits, strict=True):
            speaker = None
            if model.speaker_norm:
                fallback = _training_stats(split, prefix)
                rows = [own[(jobs[k].speaker, feature)] if sources[(jobs[k].speaker, feature)] == "own" else fallback
                        for k in owner]
                speaker = (np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows]))
            inputs.append(_normalise(x, split, prefix, speaker))
        net = rebuild(model.saved, run)
        probabilities.append(predict_proba(net, tuple(inputs) if len(inputs) > 1 else inputs[0], torch.device("cpu")))
    per_part = np.mean(probabilities, axis=0)
    return np.stack([per_part[owner == k].mean(axis=0) for k in range(len(jobs))])


def predict(paths: list[str], pairs: list[tuple[str, str]] = (), root: Path = Path("."), models: list[str] = (),
            speaker_stats: str = "auto", pair: bool = True, progress: bool | None = None) -> list[Job]:
    """Every job's probabilities (`job.result`) or one-line error (`job.error`); a failed file never stops the rest."""
    if speaker_stats not in SPEAKER_STATS:
        raise PredictError(f"--speaker-stats {speaker_stats!r}: expected one of {', '.join(SPEAKER_STATS)}")
    params = load_params(root / "params.yaml")
    chosen = dict(DEFAULT_MODELS)
    for name in models:
        kind = "fusion" if name.startswith("fusion") else name.split("_")[0]
        if kind not in chosen:
            raise PredictError(f"--model {name}: expected a name of models/*.pt: audio_<feature>_<balance>, "
                               "video_<balance> or fusion")
        chosen[kind] = name
    jobs = collect(paths, pairs, pair)
    loaded: dict[str, Model | PredictError] = {}
    featurizer = Featurizer(params, root)
    todo = [j for j in jobs if not j.error]
    # No bar for a single file; tqdm's own default (None) hides it when stderr is not a terminal.
    for job in tqdm(todo, desc="predict", unit="file", disable=True if len(todo) < 2 else progress):
        name = job.model = chosen[job.kind]
        if name not in loaded:
            try:
                loaded[name] = load_model(root, name)
            except PredictError as err:
                loaded[name] = err
        model = loaded[name]
        if isinstance(model, PredictError):
            job.fail(job.label, str(model))
            continue
        for feature in model.inputs:
            path = job.video if feature == layout.VIDEO else job.audio
            try:
                if feature == layout.VIDEO:
                    embeddings, job.faces = featurizer.video(job)
                    job.features[feature] = embeddings[None]  # one part, as an audio file's features
                else:
                    job.features[feature] = featurizer.audio(job, parts=job.kind == "audio")[feature]
            except Exception as err:  # any unreadable file: name it and go on with the batch
                job.fail(path, _short(err, path))
                break
    return _finish(jobs, loaded, speaker_stats)


def _finish(jobs: list[Job], loaded: dict, mode: str) -> list[Job]:
    """Speaker statistics from the jobs' own features, then each model's probabilities for its jobs."""
    ok = [j for j in jobs if not j.error]
    blocks: dict[tuple[str, str], list[np.ndarray]] = {}
    for job in ok:
        for feature, x in job.features.items():
            blocks.setdefault((job.speaker, feature), []).append(x)
    own = {key: _own_stats(found) for key, found in blocks.items()}
    sources = {key: ("own" if len(found) >= MIN_OWN_CLIPS else "training") if mode == "auto" else mode
               for key, found in blocks.items()}
    for name, model in loaded.items():
        mine = [j for j in ok if j.model == name]
        if not mine or not isinstance(model, Model):
            continue
        try:
            probabilities = _run_model(model, mine, own, sources)
        except PredictError as err:
            for job in mine:
                job.fail(job.label, str(err))
            continue
        for job, row in zip(mine, probabilities, strict=True):
            stats = {f: {"source": sources[(job.speaker, f)], "clips": len(blocks[(job.speaker, f)])}
                     for f in model.inputs} if model.speaker_norm else None
            job.result = {"file": job.label, "audio": str(job.audio) if job.audio else None,
                          "video": str(job.video) if job.video else None, "model": name,
                          "seeds": [r["seed"] for r in model.saved["runs"]], "speaker": job.speaker,
                          "speaker_stats": stats, "faces": job.faces, "warnings": _warnings(job),
                          "prediction": EMOTIONS[int(row.argmax())],
                          "probabilities": {e: float(p) for e, p in zip(EMOTIONS, row, strict=True)}}
    return jobs


def _stats_text(stats: dict | None) -> str:
    """The table's speaker-statistics cell: which statistics standardised each input."""
    if stats is None:
        return "not used"
    parts = {f"{s['source']} ({s['clips']} clip{'s' * (s['clips'] != 1)})" for s in stats.values()}
    if len(parts) == 1:
        return parts.pop()
    return ", ".join(f"{f}: {s['source']} ({s['clips']})" for f, s in stats.items())


def _warnings(job: Job) -> list[dict[str, str]]:
    """The job's warnings as JSON records, like the errors'."""
    return [{"file": file, "warning": text} for file, text in job.warnings]


def table(jobs: list[Job]) -> str:
    """The results as an aligned text table, one row per prediction; a warnings column when there are any."""
    results = [j.result for j in jobs if j.result]
    flagged = any(r["warnings"] for r in results)
    header = ["file", "model", "prediction", *EMOTIONS, "speaker", "speaker stats", *["warnings"] * flagged]
    rows = [[r["file"], r["model"], r["prediction"], *(f"{r['probabilities'][e]:.3f}" for e in EMOTIONS),
             r["speaker"], _stats_text(r["speaker_stats"]),
             *["; ".join(w["warning"] for w in r["warnings"]) or "-"] * flagged] for r in results]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    numeric = range(3, 3 + len(EMOTIONS))
    lines = ["  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                                strict=True)))
             for row in [header, *rows]]
    note = ("speaker stats: 'own' = the speaker group's own per-bin statistics, 'training' = the training actors' "
            f"average (--speaker-stats auto: own from {MIN_OWN_CLIPS} clips up)")
    return "\n".join(line.rstrip() for line in lines) + ("\n" + note if rows else "") + "\n"


def to_json(jobs: list[Job]) -> str:
    """The results and errors as JSON."""
    return json.dumps({"emotions": list(EMOTIONS), "min_own_clips": MIN_OWN_CLIPS,
                       "results": [j.result for j in jobs if j.result],
                       "errors": [{"file": j.error[0], "error": j.error[1]} for j in jobs if j.error]}, indent=2) + "\n"


def error_lines(jobs: list[Job]) -> list[str]:
    """One `error: FILE: message` line per failed job, then one `warning: FILE: message` line per warning."""
    lines = [f"error: {j.error[0]}: {j.error[1]}" for j in jobs if j.error]
    return lines + [f"warning: {file}: {text}" for j in jobs if j.result for file, text in j.warnings]
