"""Reading the files given to `emo predict`: the audio the models read (the window, or the trimmed utterance),
checked, and video frames.

Every problem comes back as a MediaError whose message says what is wrong with the file and what to do,
worded for a user's own file (the pipeline's advice, fetching RAVDESS again, does not apply here).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from emo.audio import frontend
from emo.audio import signal as audio
from emo.core.errors import EmoError
from emo.core.params import AudioParams
from emo.core.ravdess import RavdessNameError, parse_name

#: Below this peak (-80 dBFS, a few steps of 16-bit audio) a window holds no audible signal.
SILENT_PEAK = 1e-4
#: A window with more than this share of its samples at full scale is flagged as clipped.
CLIPPED_SHARE = 0.01
AUDIO_FIX = "the file is damaged or not audio: copy or export it again, or convert it (`ffmpeg -i FILE clip.wav`)"
VIDEO_FIX = "the file is damaged or not a video: copy or export it again, or convert it (`ffmpeg -i FILE clip.mp4`)"


class MediaError(EmoError):
    """A file `emo predict` cannot analyse; the message (without the file name) says why and what to do."""


def _not_empty(path: Path) -> None:
    """MediaError for a missing or 0-byte file, which every reader would otherwise describe in its own words."""
    if not path.is_file():
        raise MediaError("no such file")
    if path.stat().st_size == 0:
        raise MediaError("empty file (0 bytes): nothing to analyse; copy or export it again")


def _span(params: AudioParams) -> str:
    """The analysis window in words, e.g. '1.0-3.5 s'."""
    return f"{params.offset:.1f}-{params.offset + params.duration:.1f} s"


def check(window: audio.Window, params: AudioParams) -> list[str]:
    """Warnings about a window the models can read; MediaError when it holds nothing to analyse."""
    span = _span(params)
    if window.covered == 0:
        raise MediaError(f"{window.seconds:.2f} s long, shorter than the {params.offset:.1f} s offset: nothing to "
                         f"analyse (the models read {span} of a clip); give a recording of at least "
                         f"{params.offset + params.duration:.1f} s")
    if window.peak < SILENT_PEAK:
        level = "digital silence" if window.peak == 0 else f"peak {20 * math.log10(window.peak):.0f} dBFS"
        raise MediaError(f"no audible signal in {span} ({level}): nothing to analyse; check the recording's "
                         "level and that this part of it holds speech")
    warnings = []
    if window.short:
        warnings.append(f"{window.seconds:.2f} s long: only {window.covered * params.duration:.2f} s of the "
                        f"{span} window hold audio, the rest is zero padding; the prediction is unreliable")
    return warnings + clipping(window, f" in {span}")


def clipping(window: audio.Window, where: str) -> list[str]:
    """The warning for a clip with more than CLIPPED_SHARE of its samples at full scale, if it has."""
    if window.clipped <= CLIPPED_SHARE:
        return []
    return [f"clipped: {100 * window.clipped:.0f} % of the samples{where} are at full scale; the prediction is "
            "unreliable (record or export it at a lower level)"]


def check_utterance(utterance: audio.Window, params: AudioParams) -> list[str]:
    """Warnings about a trimmed utterance (front_end: utterance); MediaError when it holds no voiced audio."""
    if utterance.peak < SILENT_PEAK or not len(utterance.wave):
        level = "digital silence" if utterance.peak == 0 else f"peak {20 * math.log10(utterance.peak):.0f} dBFS"
        raise MediaError(f"no voiced audio in its {utterance.seconds:.2f} s ({level}): nothing to analyse; check the "
                         "recording's level and that it holds speech")
    voiced = len(utterance.wave) / params.sample_rate
    warnings = []
    if frontend.is_short(utterance, params):
        warnings.append(f"only {voiced:.2f} s of voiced audio: too little for a reliable prediction (the models "
                        f"learnt from utterances of 1-4 s)")
    return warnings + clipping(utterance, "")


def _pyav():
    """The PyAV module, or a MediaError saying how to do without it."""
    try:
        import av
    except ImportError:
        raise MediaError("reading the audio of an mp4 needs PyAV (`av` in requirements.txt): install it, or pass "
                         "the audio and the video as separate files") from None
    return av


def mp4_window(path: Path, params: AudioParams) -> audio.Window:
    """What the models hear of an mp4's sound track: the analysis window, decoding no further than its end, or
    (front_end: utterance) the trimmed utterance of at most frontend.MAX_READ_SECONDS of the track.

    The samples are counted from the first decoded one, as a decode of the whole track written to a wav and
    read by `audio.read_window` would count them; the window is then mixed and resampled by `audio.to_window`.
    """
    av = _pyav()
    blocks, seen = [], 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError("no audio track; pass a video-only mp4 under a 02-... name, or its audio with "
                                 "--pair")
            stream = container.streams.audio[0]
            rate = stream.rate
            start, length = audio.window_frames(rate, params)
            if params.front_end == "utterance":
                start, length = 0, int(frontend.MAX_READ_SECONDS * rate)
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
    if params.front_end == "utterance":
        return frontend.to_utterance(window, rate, params, str(path))
    return audio.to_window(window, rate, seen / rate, params, str(path))  # seconds: at least, if stopped early


def read_audio(path: Path, params: AudioParams, from_video: bool = False) -> tuple[np.ndarray, list[str]]:
    """What the models hear of a wav/flac (or of an mp4's sound track) and the warnings about it: the window,
    or (front_end: utterance) the trimmed utterance."""
    _not_empty(path)
    utterance = params.front_end == "utterance"
    try:
        if from_video:
            window = mp4_window(path, params)
        else:
            window = frontend.read_utterance(str(path), params) if utterance else audio.read_window(str(path), params)
    except audio.DamagedAudioError as err:
        raise MediaError(f"{err.problem}; {AUDIO_FIX}") from None
    return window.wave, check_utterance(window, params) if utterance else check(window, params)


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
