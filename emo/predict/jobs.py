"""What `emo predict` is asked: the files and folders given, as jobs (an audio file, a video file, or an audio-video
pair for the fusion model), each with its speaker group (`speakers` names it), and what came of it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emo.core.errors import EmoError
from emo.core.ravdess import RavdessNameError, parse_name
from emo.predict import decode, media

#: What a folder is searched for; a file given by name is judged by its content (`decode`), whatever its name.
AUDIO_SUFFIXES = decode.AUDIO_SUFFIXES


VIDEO_SUFFIXES = (".mp4",)
FOLDER_NOTE = "a folder is searched for .wav, .flac, .mp3, .m4a, .ogg, .opus, .webm, .mp4, .mov, .mkv and the like"


class PredictError(EmoError):
    """A file, model or split file that `emo predict` cannot use; the message says which and why."""


@dataclass
class Job:
    """One prediction: an audio file, a video file, or both for the fusion model, and what came of it."""

    audio: Path | None = None
    video: Path | None = None
    audio_from_video: bool = False  # the audio is the sound track of the (audio-video) mp4
    label: str = ""  # what the output calls it
    speaker: str = ""  # its speaker group, as `speakers` names it
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


def collect(paths: list[str], pairs: list[tuple[str, str]] = (), pair: bool = True) -> list[Job]:
    """Jobs for the files, folders (every supported file under them) and explicit (audio, video) pairs given."""
    jobs: list[Job] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        files = [path]
        if path.is_dir():
            # Not only regular files: a FIFO or a link loop named .wav gets its line (never opened, see media).
            files = sorted(f for f in path.rglob("*") if not f.name.startswith(".") and not f.is_dir()
                           and f.suffix.lower() in AUDIO_SUFFIXES + VIDEO_SUFFIXES)
            problem = "" if files else f"no recording under this folder ({FOLDER_NOTE})"
        else:
            problem = media.not_regular(path) or (
                "" if path.suffix.lower() in AUDIO_SUFFIXES + VIDEO_SUFFIXES or decode.is_media(str(path))
                else f"unsupported file type {path.suffix!r}; expected a recording: {decode.FORMATS}")
        if problem:
            jobs.append(Job(label=given, error=(given, problem)))
            continue
        for file in files:
            if (special := media.not_regular(file)) is not None:
                jobs.append(Job(label=str(file), error=(str(file), special)))
                continue
            if file.resolve() in seen:
                continue
            seen.add(file.resolve())
            sound, picture = media.mp4_streams(file) if file.suffix.lower() in VIDEO_SUFFIXES else (True, False)
            jobs.append(Job(audio=file if sound else None, video=file if picture else None,
                            audio_from_video=sound and file.suffix.lower() in VIDEO_SUFFIXES, label=str(file)))
    if pair:
        jobs = _pair_by_performance(jobs)
    for audio_file, video_file in pairs:
        job = Job(audio=Path(audio_file), video=Path(video_file), label=f"{audio_file} + {video_file}")
        for file, suffixes in ((job.audio, AUDIO_SUFFIXES), (job.video, VIDEO_SUFFIXES)):
            if file.suffix.lower() not in suffixes:
                job.fail(file, f"--pair AUDIO VIDEO: expected {' or '.join(suffixes)} here")
            elif (special := media.not_regular(file)) is not None:
                job.fail(file, special)
        jobs.append(job)
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


def short_error(err: BaseException, path: Path | str) -> str:
    """One line for a file that failed: without the file name the message may repeat or pipeline-only advice."""
    text = (str(err).splitlines() or [""])[0] or type(err).__name__
    text = re.split(r"(?:;| —) fetch the data again", text)[0].removeprefix(f"{path}: ")
    return text if isinstance(err, EmoError) else f"{type(err).__name__}: {text}"
