"""RAVDESS file names, labels, dataset parts, actor splits and audio/video pairing."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from emo.core.errors import EmoError

EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
MODALITIES = {1: "audio-video", 2: "video-only", 3: "audio-only"}
CHANNELS = {1: "speech", 2: "song"}
INTENSITIES = {1: "normal", 2: "strong"}
ACTORS = tuple(range(1, 25))
MEDIA_SUFFIXES = {3: (".wav", ".flac"), 1: (".mp4",), 2: (".mp4",)}
SONG_EMOTIONS = (1, 2, 3, 4, 5, 6)  # song has no disgust (7) or surprised (8)
ACTORS_WITHOUT_SONG = (18,)

#: A dataset part: what kind of recording (audio / video) of which vocal channel.
PARTS = ("audio_speech", "audio_song", "video_speech", "video_song")

_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


class RavdessNameError(EmoError, ValueError):
    """A file name that does not follow the RAVDESS `MM-VV-EE-II-SS-RR-AA.ext` scheme."""


@dataclass(frozen=True, order=True)
class Clip:
    """The seven identifier fields of one RAVDESS clip, parsed from its file name."""

    modality: int
    channel: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    actor: int

    @property
    def stem(self) -> str:
        """File name without extension, as RAVDESS writes it."""
        fields = (self.modality, self.channel, self.emotion, self.intensity,
                  self.statement, self.repetition, self.actor)
        return "-".join(f"{f:02d}" for f in fields)

    @property
    def label(self) -> int:
        """Zero-based class index (0 = neutral ... 7 = surprised)."""
        return self.emotion - 1

    @property
    def emotion_name(self) -> str:
        return EMOTIONS[self.emotion - 1]

    @property
    def part(self) -> str:
        """The dataset part (see `PARTS`) this clip belongs to."""
        kind = "audio" if self.modality == 3 else "video"
        return f"{kind}_{CHANNELS[self.channel]}"

    @property
    def performance(self) -> str:
        """Key shared by the audio and the video of the same performance.

        RAVDESS cut its audio-only (03) files from the audio-video (01) recording, which was
        filmed together with the video-only (02) one, so all fields but the modality match.
        """
        return self.stem[3:]


def parse_name(name: str | Path) -> Clip:
    """Parse and validate a RAVDESS file name (a path or a bare name, with or without suffix)."""
    path = Path(name)
    match = _NAME.match(path.stem)
    if not match:
        raise RavdessNameError(
            f"{path}: not a RAVDESS file name; expected MM-VV-EE-II-SS-RR-AA.ext, "
            "e.g. 03-01-05-02-01-01-12.wav")
    clip = Clip(*(int(g) for g in match.groups()))
    problems = []
    if clip.modality not in MODALITIES:
        problems.append(f"modality {clip.modality:02d} (expected 01, 02 or 03)")
    if clip.channel not in CHANNELS:
        problems.append(f"vocal channel {clip.channel:02d} (expected 01 speech or 02 song)")
    if not 1 <= clip.emotion <= len(EMOTIONS):
        problems.append(f"emotion {clip.emotion:02d} (expected 01-08)")
    elif clip.channel == 2 and clip.emotion not in SONG_EMOTIONS:
        problems.append(f"emotion {clip.emotion:02d} does not exist in song (only 01-06)")
    if clip.intensity not in INTENSITIES:
        problems.append(f"intensity {clip.intensity:02d} (expected 01 or 02)")
    elif clip.emotion == 1 and clip.intensity == 2:
        problems.append("neutral has no strong intensity (02)")
    if clip.statement not in (1, 2):
        problems.append(f"statement {clip.statement:02d} (expected 01 or 02)")
    if clip.repetition not in (1, 2):
        problems.append(f"repetition {clip.repetition:02d} (expected 01 or 02)")
    if clip.actor not in ACTORS:
        problems.append(f"actor {clip.actor:02d} (expected 01-24)")
    if path.suffix and clip.modality in MODALITIES and path.suffix.lower() not in MEDIA_SUFFIXES[clip.modality]:
        problems.append(f"suffix {path.suffix!r} does not fit modality {clip.modality:02d} "
                        f"({MODALITIES[clip.modality]}: {', '.join(MEDIA_SUFFIXES[clip.modality])})")
    if problems:
        raise RavdessNameError(f"{path}: invalid RAVDESS name: " + "; ".join(problems))
    return clip


def is_media_file(path: str | Path) -> bool:
    """Whether a path looks like a RAVDESS media file (by suffix; hidden files excluded)."""
    path = Path(path)
    return (not path.name.startswith(".") and "__MACOSX" not in path.parts
            and path.suffix.lower() in {".wav", ".flac", ".mp4"})


def part_modalities(part: str, video_modalities: Sequence[int] = (2,)) -> tuple[int, ...]:
    """The modality codes a part consists of (video parts: those asked for)."""
    return (3,) if part.startswith("audio") else tuple(video_modalities)


def expected_clips(part: str, actors: Iterable[int] = ACTORS,
                   video_modalities: Sequence[int] = (2,)) -> list[Clip]:
    """Every clip RAVDESS holds for a part and a set of actors."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; expected one of {', '.join(PARTS)}")
    channel = 1 if part.endswith("speech") else 2
    emotions = range(1, 9) if channel == 1 else SONG_EMOTIONS
    clips = []
    for actor in actors:
        if channel == 2 and actor in ACTORS_WITHOUT_SONG:
            continue
        for modality in part_modalities(part, video_modalities):
            for emotion in emotions:
                for intensity in (1,) if emotion == 1 else (1, 2):
                    for statement in (1, 2):
                        for repetition in (1, 2):
                            clips.append(Clip(modality, channel, emotion, intensity,
                                              statement, repetition, actor))
    return clips


@dataclass(frozen=True)
class ActorSplit:
    """Which actors are held out for validation and test; every other actor trains."""

    val: tuple[int, ...] = (21, 22)
    test: tuple[int, ...] = (23, 24)

    def __post_init__(self) -> None:
        overlap = set(self.val) & set(self.test)
        if overlap:
            raise ValueError(f"actors {sorted(overlap)} are in both the val and the test split")
        unknown = (set(self.val) | set(self.test)) - set(ACTORS)
        if unknown:
            raise ValueError(f"split names unknown actors {sorted(unknown)}; actors are 1-24")

    def of(self, actor: int) -> str:
        """The split ('train', 'val' or 'test') an actor belongs to."""
        if actor in self.test:
            return "test"
        if actor in self.val:
            return "val"
        return "train"
