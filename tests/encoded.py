"""Recordings encoded in the tests with PyAV (ffmpeg inside its wheel): the formats a phone or a browser writes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def encode(path: Path, wave: np.ndarray, rate: int, container: str, codec: str, at: int | None) -> Path:
    """`wave` (mono float32 at `rate`) encoded with PyAV into `path`, resampled to `at` first if given."""
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=at or rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(wave[None, :].astype(np.float32), format="fltp", layout="mono")
        frame.rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=at or rate,
                                      frame_size=stream.codec_context.frame_size or None)
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(piece):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
