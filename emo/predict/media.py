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

AUDIO_FIX = "the file is damaged or not audio: copy or export it again, or convert it (`ffmpeg -i FILE clip.wav`)"
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


def _pyav():
    """The PyAV module, or a MediaError saying how to do without it."""
    try:
        import av
    except ImportError:
        raise MediaError("reading the audio of an mp4 needs PyAV (`av` in requirements.txt): install it, or pass "
                         "the audio and the video as separate files") from None
    return av


def mp4_window(path: Path, params: AudioParams) -> tuple[audio.Window, int, float]:
    """What the models hear of an mp4's sound track: the front end's span (FrontEnd.span: the analysis window, or
    at most utterance.MAX_READ_SECONDS of the track for the utterance), decoding no further than its end; with
    the track's sample rate and length in seconds (from the container: the rest is never decoded).

    The samples are counted from the first decoded one, as a decode of the whole track written to a wav and
    read by `FrontEnd.read` would count them; the span is then mixed and resampled by `FrontEnd.hear`.
    """
    av = _pyav()
    front = frontend.for_params(params)
    blocks, seen = [], 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError("no audio track; pass a video-only mp4 under a 02-... name, or its audio with "
                                 "--pair")
            stream = container.streams.audio[0]
            rate = stream.rate
            seconds = (float(stream.duration * stream.time_base) if stream.duration
                       else container.duration / av.time_base if container.duration else None)
            start, length = front.span(rate)
            end = start + length
            planar = av.AudioResampler(format="fltp")  # float [channels, samples] whatever the codec's format
            for frame in container.decode(stream):
                for out in planar.resample(frame):
                    block = out.to_ndarray()
                    lo, hi = max(start - seen, 0), min(end - seen, block.shape[1])
                    if hi > lo:
                        blocks.append(block[:, lo:hi])
                    seen += block.shape[1]
                if seen >= end:  # the window is complete: the rest of the track is never decoded
                    break
    except av.error.FFmpegError as err:  # its strerror leaves out the file name, which the error line gives
        raise MediaError(f"cannot decode the sound track ({err.strerror or err}); {VIDEO_FIX}") from None
    if seen == 0:
        raise MediaError("the audio track holds no samples; pass the video alone under a 02-... name")
    window = np.concatenate(blocks, axis=1).T if blocks else np.zeros((0, 1), np.float32)
    heard = front.hear(window, rate, seen / rate, str(path))  # seconds: at least, if stopped early
    return heard, rate, max(seconds or 0.0, seen / rate)


def _low_rate(rate: int, params: AudioParams) -> list[str]:
    """The warning for a recording at a lower sample rate than the models analyse: its top band is missing, which
    moves the features the models learnt from (RAVDESS, 48 kHz) and can flip the answer."""
    if rate >= params.sample_rate:
        return []
    return [f"recorded at {rate} Hz, below the {params.sample_rate} Hz the models were trained on: it holds nothing "
            f"above {rate / 2000:g} kHz of the 0-{params.sample_rate / 2000:g} kHz they listen to, so the prediction "
            f"is unreliable (give a recording at {params.sample_rate} Hz or more)"]


def read_audio(path: Path, params: AudioParams, from_video: bool = False) -> tuple[np.ndarray, list[str]]:
    """What the models hear of a wav/flac (or of an mp4's sound track) and the warnings about it: the window,
    or (front_end: utterance) the trimmed utterance; a recording longer than the models hear (FrontEnd.unheard)
    or at a lower sample rate than theirs is said."""
    _not_empty(path)
    front = frontend.for_params(params)
    try:
        if from_video:
            window, rate, seconds = mp4_window(path, params)
        else:  # FrontEnd.read, keeping the file's own rate and length
            block, rate, frames = audio.read_span(str(path), lambda native, _: front.span(native))
            window, seconds = front.hear(block, rate, frames / rate, str(path)), frames / rate
    except audio.DamagedAudioError as err:
        raise MediaError(f"{err.problem}; {AUDIO_FIX}") from None
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
        av = _pyav()
        with av.open(str(path)) as container:
            return bool(container.streams.audio), bool(container.streams.video) or not container.streams.audio
    except Exception:  # no PyAV, or unreadable: the video reader names the problem
        return False, True
