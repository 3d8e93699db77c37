"""The clip inventory: one row per clip in the canonical layout, with labels, split and duration."""

from __future__ import annotations

import csv
import logging
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import soundfile

from emo.core.errors import EmoError
from emo.core.io import write_csv
from emo.core.ravdess import ActorSplit, is_media_file, parse_name

log = logging.getLogger(__name__)
COLUMNS = ("path", "part", "modality", "channel", "emotion", "label", "intensity", "statement",
           "repetition", "actor", "split", "performance", "duration")


class DamagedClipError(EmoError, RuntimeError):
    """A clip's file cannot be read as audio or video."""


@dataclass(frozen=True)
class Row:
    """One inventory row."""

    path: str
    part: str
    modality: int
    channel: int
    emotion: str
    label: int
    intensity: int
    statement: int
    repetition: int
    actor: int
    split: str
    performance: str
    duration: float  # NaN when the file cannot be read: featurize / faces stop on it or leave it out


def media_duration(path: Path) -> float:
    """Duration in seconds of an audio (wav/flac) or video (mp4) file, read from its header."""
    if path.suffix.lower() == ".mp4":
        capture = cv2.VideoCapture(str(path))
        try:
            frames = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            fps = capture.get(cv2.CAP_PROP_FPS)
        finally:
            capture.release()
        if not frames or not fps or frames <= 0 or fps <= 0:
            raise DamagedClipError(f"{path}: cannot read video frame count / rate (empty or damaged file)")
        return frames / fps
    try:
        return soundfile.info(str(path)).duration
    except (RuntimeError, soundfile.LibsndfileError) as err:
        raise DamagedClipError(f"{path}: cannot read audio ({err})") from None


def _duration(path: Path) -> float:
    """The clip's duration, or NaN and a warning when the file cannot be read."""
    # Not an error here: one place decides whether a damaged clip stops the run, the stage that decodes it
    # (featurize: audio.skip_damaged, faces: video.skip_damaged), and it knows the fix for the data source.
    try:
        return round(media_duration(path), 4)
    except DamagedClipError as err:
        log.warning("%s; duration left empty, %s decides (%s.skip_damaged)", err,
                    *(("faces", "video") if path.suffix.lower() == ".mp4" else ("featurize", "audio")))
        return math.nan


def build(raw: Path, split: ActorSplit) -> list[Row]:
    """Inventory every clip under `raw` (the canonical layout)."""
    rows = []
    for path in sorted(p for p in raw.rglob("*") if is_media_file(p)):
        clip = parse_name(path)
        rows.append(Row(path=path.as_posix(), part=clip.part, modality=clip.modality, channel=clip.channel,
                        emotion=clip.emotion_name, label=clip.label, intensity=clip.intensity,
                        statement=clip.statement, repetition=clip.repetition, actor=clip.actor,
                        split=split.of(clip.actor), performance=clip.performance,
                        duration=_duration(path)))
    return rows


def write(rows: Iterable[Row], path: Path) -> None:
    """Write rows as CSV through a temporary file; an unreadable clip's duration is an empty cell."""
    write_csv(path, COLUMNS, ({**asdict(r), "duration": "" if math.isnan(r.duration) else r.duration}
                              for r in rows))


def read(path: Path) -> list[Row]:
    """Read an inventory CSV back into rows."""
    ints = {"modality", "channel", "label", "intensity", "statement", "repetition", "actor"}
    with open(path, newline="") as handle:
        return [Row(**{k: int(v) if k in ints else float(v or "nan") if k == "duration" else v
                       for k, v in record.items()}) for record in csv.DictReader(handle)]


def unreadable(rows: list[Row]) -> list[str]:
    """Paths of the clips whose duration could not be read."""
    return [r.path for r in rows if math.isnan(r.duration)]


#: metrics/data.json's numbers (`dvc metrics show`): clips, actors, hours, clips per split, unreadable clips; clips per
#: part and per emotion and the unreadable clips' names go to metrics/data_detail.json (emo.core.metrics_detail).
HEADLINE = ("clips", "per_split.*", "actors", "hours", "unreadable_clips")


def summary(rows: list[Row]) -> dict:
    """Counts for metrics/data.json: clips per part, per split and per emotion."""
    return {
        "clips": len(rows),
        "per_part": dict(sorted(Counter(r.part for r in rows).items())),
        "per_split": dict(sorted(Counter(r.split for r in rows).items())),
        "per_emotion": dict(sorted(Counter(r.emotion for r in rows).items())),
        "actors": len({r.actor for r in rows}),
        "hours": round(sum(r.duration for r in rows if not math.isnan(r.duration)) / 3600, 4),
        "unreadable_clips": len(unreadable(rows)),
        "unreadable": unreadable(rows),
    }


def video_only_clips(rows: list[Row]) -> list[tuple[str, str]]:
    """(performance, path) of each video-only (02) clip, the input of the face stage; an error when none."""
    clips = sorted((r.performance, r.path) for r in rows if r.modality == 2)
    if not clips:
        raise EmoError("data/inventory.csv lists no video-only (02) clips: the video and fusion models need "
                       "video_speech in data.parts (with network). For the audio models alone run "
                       "`dvc repro evaluate` (see README)")
    return clips
