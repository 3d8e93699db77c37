"""Reading the files given to `emo predict`: the audio the models read (the window, or the trimmed utterance),
checked, and video frames.

Every problem comes back as a MediaError whose message says what is wrong with the file and what to do,
worded for a user's own file (the pipeline's advice, fetching RAVDESS again, does not apply here).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from emo.audio import frontend
from emo.audio import signal as audio
from emo.core import reading
from emo.core.errors import EmoError
from emo.core.params import AudioParams
from emo.core.ravdess import RavdessNameError, parse_name
from emo.predict import decode

AUDIO_FIX = "the file is damaged or not audio: copy or export it again, or convert it (`ffmpeg -i FILE clip.wav`)"
UNDECODABLE_FIX = (f"the file is damaged or not audio: emo reads {decode.FORMATS}; convert it "
                   "(`ffmpeg -i FILE clip.wav`)")
VIDEO_FIX = "the file is damaged or not a video: copy or export it again, or convert it (`ffmpeg -i FILE clip.mp4`)"


class MediaError(EmoError):
    """A file `emo predict` cannot analyse; the message (without the file name) says why and what to do."""


REGULAR_FIX = "emo predict reads regular files only: save the recording to a file and give that"


def not_regular(path: Path) -> str | None:
    """What keeps a path from being read as a recording, or None for a regular file (or a link to one).

    Judged from its metadata alone (emo.core.reading, the rule every command that reads a named file follows):
    opening a FIFO blocks until something writes to it and a device such as /dev/zero never ends, so neither is
    ever opened; a symbolic link loop is named as one, not as a missing file.
    """
    problem = reading.not_regular(path)
    if problem is None:
        return None
    if problem == "does not exist":
        return "no such file or folder"
    return f"{problem.removeprefix('is ')}; {REGULAR_FIX}"


def _not_empty(path: Path) -> None:
    """MediaError for a missing, 0-byte or not regular file, which every reader would otherwise describe in its
    own words (or wait on, for a FIFO)."""
    if problem := not_regular(path):
        raise MediaError(problem)
    if path.stat().st_size == 0:
        raise MediaError("empty file (0 bytes): nothing to analyse; copy or export it again")


def _low_rate(rate: int, params: AudioParams) -> list[str]:
    """The warning for a recording at a lower sample rate than the models analyse: its top band is missing, which
    moves the features the models learnt from (RAVDESS, 48 kHz) and can flip the answer."""
    if rate >= params.sample_rate:
        return []
    return [f"recorded at {rate} Hz, below the {params.sample_rate} Hz the models were trained on: it holds nothing "
            f"above {rate / 2000:g} kHz of the 0-{params.sample_rate / 2000:g} kHz they listen to, so the prediction "
            f"is unreliable (give a recording at {params.sample_rate} Hz or more)"]


def read_audio(path: Path, params: AudioParams, from_video: bool = False) -> tuple[np.ndarray, list[str]]:
    """What the models hear of a recording in any format `decode` reads (or of an mp4's sound track) and the
    warnings about it: the window, or (front_end: utterance) the trimmed utterance; a recording longer than the
    models hear (FrontEnd.unheard) or at a lower sample rate than theirs is said."""
    _not_empty(path)
    front = frontend.for_params(params)
    try:  # FrontEnd.read, keeping the file's own rate and length, by whichever decoder reads the file
        block, rate, frames = decode.read_span(str(path), span=lambda native, _: front.span(native),
                                               container=from_video)
        window, seconds = front.hear(block, rate, frames / rate, str(path)), frames / rate
    except decode.UndecodableError as err:
        raise MediaError(f"{err.problem}; {UNDECODABLE_FIX}") from None
    except audio.DamagedAudioError as err:
        if from_video and err.problem == "no audio track":
            raise MediaError("no audio track; pass a video-only mp4 under a 02-... name, or its audio with "
                             "--pair") from None
        raise MediaError(f"{err.problem}; {VIDEO_FIX if from_video else AUDIO_FIX}") from None
    try:
        return window.wave, front.check(window) + front.unheard(seconds) + _low_rate(rate, params)
    except frontend.NothingToAnalyse as err:
        raise MediaError(str(err)) from None


def _quiet_opencv() -> None:
    """Silence OpenCV's and its FFmpeg's own log lines: a file that fails gets one line of ours instead."""
    import cv2

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET; read when OpenCV first opens a file
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def read_video(path: Path, frames: int) -> np.ndarray:
    """`frames` evenly spaced BGR frames of a video, read as the faces stage reads them."""
    from emo.vision.video import DamagedVideoError, read_frames

    _not_empty(path)
    _quiet_opencv()
    try:
        return read_frames(str(path), frames, threads=1)[0]
    except DamagedVideoError as err:
        raise MediaError(f"{err.problem}; {VIDEO_FIX}") from None


def mp4_streams(path: Path) -> tuple[bool, bool]:
    """(sound, picture) of an mp4: by its RAVDESS modality (01 both, 02 video only), else by its streams."""
    try:
        modality = parse_name(path).modality
        return modality in (1, 3), modality in (1, 2)
    except RavdessNameError:
        pass
    try:
        import av

        with av.open(str(path)) as container:
            return bool(container.streams.audio), bool(container.streams.video) or not container.streams.audio
    except Exception:  # no PyAV, or unreadable: the video reader names the problem
        return False, True
