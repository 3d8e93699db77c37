"""Decoding a user's recording, whatever a phone or a browser made of it, into what the audio front end reads.

Two decoders, chosen by the file's content, never by its name:

* soundfile (libsndfile) first: wav (PCM, float, µ-law, A-law, IMA/MS ADPCM), flac, mp3, ogg/vorbis, opus, aiff...
  through `emo.audio.signal.read_span`, the pipeline's own reader, so what it reads is read bit for bit as before;
* PyAV (ffmpeg inside its wheel) for the rest: m4a/aac, webm, the sound track of mp4/mov/mkv, and what libsndfile
  opens but cannot decode (a GSM 6.10 telephone wav: libsndfile cannot seek in it).

Both give the front end the same thing: (block [frames, channels] float32 of the span it asked for, the file's own
sample rate, its length in frames); the front end mixes and resamples as for any file. PyAV decodes no further
than the span's end (at most utterance.MAX_READ_SECONDS), so a two-hour recording costs what ten minutes do.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from emo.audio import signal as audio
from emo.core.errors import EmoError

#: What `emo predict` reads, as a user would name it.
FORMATS = ("wav (PCM, float, µ-law, A-law, ADPCM, GSM 6.10), flac, mp3, ogg/vorbis, opus, m4a/aac, webm, "
           "or the sound track of mp4/mov/mkv")
#: Extensions a folder is searched for (a file given by name is judged by its content whatever its name).
AUDIO_SUFFIXES = (".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4a", ".webm",
                  ".weba", ".mka", ".mkv", ".mov", ".3gp", ".caf", ".aif", ".aiff", ".au")

NOT_RECOGNISED = "cannot decode audio (Format not recognised.)"
Span = Callable[[int, int], tuple[int, int]]


class UndecodableError(EmoError):
    """No decoder reads the file; `problem` says what the first one said, without the file name."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


def _pyav():
    import av  # a dependency (requirements.txt); imported here so that `emo --help` never loads ffmpeg

    return av


def _soundfile_refusal(path: str) -> str | None:
    """Why libsndfile does not open the file (its header only is read; its words, without the file name, which
    users and tests know: "Format not recognised."), or None when it opens it."""
    import soundfile

    try:
        soundfile.info(path)
    except Exception as err:  # libsndfile's errors, or a RuntimeError for an odd header: not its format
        why = str(err).replace(f"Error opening {path!r}: ", "")
        # For a file it cannot place, libsndfile may guess it is a pipe: never a user's case here.
        return NOT_RECOGNISED if "not a regular file" in why else f"cannot decode audio ({why})"
    return None


def _container_seconds(av, container, stream) -> float:
    """A sound track's length from its container (0.0 where it does not say): the part never decoded counts."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / av.time_base if container.duration else 0.0


def pyav_span(path: str, *, span: Span) -> tuple[np.ndarray, int, int]:
    """Frames [start, start + length) of the first sound track, `span(rate, frames)` giving them, decoded by PyAV
    no further than their end: the block [frames, channels] float32, the track's rate and its length in frames
    (from the container, or the frames decoded where it says less). The frames are counted from the first decoded
    one, as a decode of the whole track written to a wav and read by read_span would count them.

    Raises DamagedAudioError (the problem without the file name) for a rate outside signal.RATES, a file ffmpeg
    cannot open or decode, and a track with no samples.
    """
    av = _pyav()
    blocks, seen = [], 0
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise audio.damaged(path, "no audio track")
            stream = container.streams.audio[0]
            rate = stream.rate or stream.codec_context.sample_rate
            audio.check_rate(path, rate)  # before the span, which the rate sizes
            total = said = int(round(_container_seconds(av, container, stream) * rate))
            start, length = span(rate, total)
            end = start + length
            planar = av.AudioResampler(format="fltp")  # float [channels, samples], the codec's channels and rate
            where = 0  # the byte offset of the last packet decoded
            for packet in container.demux(stream):
                where = packet.pos if packet.pos and packet.pos > 0 else where
                for frame in packet.decode():
                    for out in planar.resample(frame):
                        block = out.to_ndarray()
                        lo, hi = max(start - seen, 0), min(end - seen, block.shape[1])
                        if hi > lo:
                            blocks.append(block[:, lo:hi])
                        seen += block.shape[1]
                if seen >= end:  # the span is complete: the rest of the track is never decoded
                    if not said and where:  # a browser's webm says no length: the rest, by its share of bytes
                        total = int(seen * os.path.getsize(path) / where)
                    break
            else:
                total = seen  # decoded to its end: the exact length (a container's may count codec padding)
    except av.error.FFmpegError as err:  # its strerror leaves out the file name, which the error line gives
        raise audio.damaged(path, f"cannot decode audio ({err.strerror or err})") from None
    if seen == 0:
        raise audio.damaged(path, "holds no audio samples")
    if seen < end and said and seen + max(rate // 10, said // 20) < said:  # a container's length is approximate
        raise audio.damaged(path, f"truncated — {seen} samples decoded where the container promises {said}")
    channels = max((b.shape[0] for b in blocks), default=1)
    blocks = [b if b.shape[0] == channels else np.repeat(b[:1], channels, axis=0) for b in blocks]  # a layout change
    block = np.concatenate(blocks, axis=1).T if blocks else np.zeros((0, channels), np.float32)
    return np.ascontiguousarray(block, dtype=np.float32), rate, max(total, seen)


def read_span(path: str, *, span: Span, container: bool = False) -> tuple[np.ndarray, int, int]:
    """What `emo.audio.signal.read_span` gives (block [frames, channels] float32, the file's rate, its frames),
    for any recording: by soundfile when libsndfile decodes it (the pipeline's path, unchanged), else by PyAV.
    `container`: a video container (mp4), which libsndfile never reads: PyAV at once.

    Raises DamagedAudioError for a file one decoder reads but finds damaged (truncated, no samples, bad rate, NaN),
    and UndecodableError when neither reads it (with libsndfile's words, or ffmpeg's where libsndfile opens it).
    """
    refusal = None if container else _soundfile_refusal(path)
    if not container and refusal is None:
        try:
            return audio.read_span(path, span)
        except audio.DamagedAudioError as err:
            if not err.problem.startswith("cannot decode audio"):
                raise  # truncated, no samples, a bad rate: libsndfile read it and the file is at fault
            first = err.problem  # a codec it knows but cannot read this way (GSM 6.10 cannot seek): ffmpeg's turn
        try:
            return pyav_span(path, span=span)
        except audio.DamagedAudioError:
            raise UndecodableError(first) from None
    try:
        return pyav_span(path, span=span)
    except audio.DamagedAudioError as err:
        if container or _pyav_opens(path):
            raise
        raise UndecodableError(refusal or err.problem) from None


def _pyav_opens(path: str) -> bool:
    """Whether ffmpeg recognises the file as a container with a sound track."""
    av = _pyav()
    try:
        with av.open(path) as container:
            return bool(container.streams.audio)
    except av.error.FFmpegError:
        return False


def is_media(path: str) -> bool:
    """Whether either decoder recognises the file (headers only): how a file given by an odd name is judged."""
    return _soundfile_refusal(path) is None or _pyav_opens(path)
