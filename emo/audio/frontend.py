"""The front end for any recording: the whole utterance at one rate, trimmed of silence, fitted to the model's
length, and features that mean the same whatever the file's own sample rate.

The paper's front end (`audio.front_end: window`, emo.audio.signal) reads 2.5 s from 1.0 s, which fits RAVDESS's
timing (about a second of silence before every sentence) and cuts other recordings arbitrarily. This one
(`audio.front_end: utterance`) reads the whole file, resamples it to `audio.sample_rate` (16 kHz by default:
the band every speech corpus and most phones record, so no mel band is empty on band-limited audio), drops the
leading and trailing silence, and tiles a short utterance or takes the middle of a long one to fill the model's
`audio.duration`.

`for_params` chooses the front end once from `audio.front_end`: a FrontEnd (WindowFrontEnd, UtteranceFrontEnd)
carries what differs between the two (what is read of a file or a decoded track, the features, how much of
the model's input is real audio, when a clip is short, the parts of a long recording, and what `emo predict`
says about a recording), so that featurize, the studies, `emo predict` and the benches never ask which it is.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from emo.audio import signal
from emo.audio.signal import Window, read_span
from emo.audio.utterance import MAX_READ_SECONDS, segments, to_utterance, utterance_features
from emo.core.errors import EmoError
from emo.core.params import AudioParams

#: An utterance with less voiced audio than this is flagged as short: a syllable or two.
MIN_VOICED_SECONDS = 0.5
#: Below this peak (-80 dBFS, a few steps of 16-bit audio) a recording holds no audible signal (`emo predict`).
SILENT_PEAK = 1e-4
#: A recording with more than this share of its samples at full scale is flagged as clipped (`emo predict`).
CLIPPED_SHARE = 0.01


class NothingToAnalyse(EmoError):
    """A recording given to `emo predict` in which the models would hear nothing: too short, or silent."""


def _level(peak: float) -> str:
    """A peak level in words: digital silence, or its dBFS."""
    return "digital silence" if peak == 0 else f"peak {20 * math.log10(peak):.0f} dBFS"


def _clipping(window: Window, where: str) -> list[str]:
    """The warning for a recording with more than CLIPPED_SHARE of its samples at full scale, if it has."""
    if window.clipped <= CLIPPED_SHARE:
        return []
    return [f"clipped: {100 * window.clipped:.0f} % of the samples{where} are at full scale; the prediction is "
            "unreliable (record or export it at a lower level)"]


class FrontEnd:
    """What the models hear of a recording under one `audio.front_end`, and the rules about it; `for_params`
    chooses the subclass."""

    name: ClassVar[str]

    def __init__(self, params: AudioParams):
        self.params = params

    def span(self, rate: int) -> tuple[int, int]:
        """First frame and frame count of a recording at `rate` that the models hear (only these are decoded)."""
        raise NotImplementedError

    def hear(self, block: np.ndarray, rate: int, seconds: float, path: str) -> Window:
        """What the models hear of the span's samples [frames, channels] at `rate` of a recording `seconds` long."""
        raise NotImplementedError

    def read(self, path: str) -> Window:
        """What the models hear of a file: its span, decoded alone and checked to be whole."""
        block, rate, frames = read_span(path, lambda native, _: self.span(native))
        return self.hear(block, rate, frames / rate, path)

    def features(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log-mel [n_mels, frames] and MFCC [n_mfcc, frames] of what `read` or `hear` returned (`.wave`)."""
        raise NotImplementedError

    def file_features(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        """Log-mel and MFCC of one file, as the featurize stage computes an original (unaugmented) clip."""
        return self.features(self.read(path).wave)

    def coverage(self, window: Window) -> float:
        """How much real audio the models hear of a clip, in the unit `short_note` words it in."""
        raise NotImplementedError

    def is_short(self, window: Window) -> bool:
        """Whether the models hear too little of a clip to trust a prediction."""
        raise NotImplementedError

    def short_note(self, coverage: float) -> str:
        """Why a clip of this `coverage` is short, for the featurize stage's warning."""
        raise NotImplementedError

    def parts(self, wave: np.ndarray) -> list[np.ndarray]:
        """The parts of a recording that `emo predict` scores and averages."""
        return [wave]

    def check(self, window: Window) -> list[str]:
        """Warnings about a recording given to `emo predict`; NothingToAnalyse when the models would hear nothing."""
        self.refuse_empty(window)
        return ([self.short_warning(window)] if self.is_short(window) else []) + _clipping(window, self.where())

    def refuse_empty(self, window: Window) -> None:
        """NothingToAnalyse when what the models read of the recording holds nothing to hear."""
        raise NotImplementedError

    def short_warning(self, window: Window) -> str:
        """`emo predict`'s warning for a short recording."""
        raise NotImplementedError

    def where(self) -> str:
        """Where in the recording the models listen, for the clipping warning ('' for all of it)."""
        return ""

    def unheard(self, seconds: float) -> list[str]:
        """`emo predict`'s warning for a recording `seconds` long whose end is cut by a limit of ours, not by the
        front end's design (the window's fixed span): none by default."""
        return []


class WindowFrontEnd(FrontEnd):
    """The paper's: the fixed window [offset, offset + duration), zero-padded (emo.audio.signal)."""

    name = "window"

    def span(self, rate: int) -> tuple[int, int]:
        return signal.window_frames(rate, self.params)

    def hear(self, block: np.ndarray, rate: int, seconds: float, path: str) -> Window:
        return signal.to_window(block, rate, seconds, self.params, path)

    def features(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return signal.features(wave, self.params)

    def coverage(self, window: Window) -> float:
        """The share of the window that lies within the clip, 0..1."""
        return window.covered

    def is_short(self, window: Window) -> bool:
        """Less than SHORT_SHARE of the window holds audio (the rest is zero padding)."""
        return window.short

    def short_note(self, coverage: float) -> str:
        p = self.params
        return (f"only {100 * coverage:.0f} % of the {p.duration:.1f} s window from {p.offset:.1f} s holds audio; the "
                "rest is zero padding")

    def where(self) -> str:
        return f" in {self._span()}"

    def _span(self) -> str:
        return f"{self.params.offset:.1f}-{self.params.offset + self.params.duration:.1f} s"

    def refuse_empty(self, window: Window) -> None:
        p, span = self.params, self._span()
        if window.covered == 0:
            raise NothingToAnalyse(f"{window.seconds:.2f} s long, shorter than the {p.offset:.1f} s offset: nothing to "
                                   f"analyse (the models read {span} of a clip); give a recording of at least "
                                   f"{p.offset + p.duration:.1f} s")
        if window.peak < SILENT_PEAK:
            raise NothingToAnalyse(f"no audible signal in {span} ({_level(window.peak)}): nothing to analyse; check "
                                   "the recording's level and that this part of it holds speech")

    def short_warning(self, window: Window) -> str:
        return (f"{window.seconds:.2f} s long: only {window.covered * self.params.duration:.2f} s of the "
                f"{self._span()} window hold audio, the rest is zero padding; the prediction is unreliable")


class UtteranceFrontEnd(FrontEnd):
    """Ours: the whole recording (at most MAX_READ_SECONDS), trimmed of silence, fitted to the model's length."""

    name = "utterance"

    def span(self, rate: int) -> tuple[int, int]:
        return 0, int(MAX_READ_SECONDS * rate)

    def hear(self, block: np.ndarray, rate: int, seconds: float, path: str) -> Window:
        return to_utterance(block, rate, self.params, path)

    def features(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return utterance_features(wave, self.params)

    def coverage(self, window: Window) -> float:
        """The trimmed utterance's voiced seconds."""
        return len(window.wave) / self.params.sample_rate

    def is_short(self, window: Window) -> bool:
        """Less than MIN_VOICED_SECONDS of voiced audio (a shorter utterance is repeated to fill the model's length,
        which is normal)."""
        return len(window.wave) < MIN_VOICED_SECONDS * self.params.sample_rate

    def short_note(self, coverage: float) -> str:
        return f"only {coverage:.2f} s of voiced audio; it is repeated to fill the model's {self.params.duration:.1f} s"

    def parts(self, wave: np.ndarray) -> list[np.ndarray]:
        return segments(wave, self.params)

    def refuse_empty(self, window: Window) -> None:
        if window.peak < SILENT_PEAK or not len(window.wave):
            raise NothingToAnalyse(f"no voiced audio in its {window.seconds:.2f} s ({_level(window.peak)}): nothing to "
                                   "analyse; check the recording's level and that it holds speech")

    def short_warning(self, window: Window) -> str:
        return (f"only {self.coverage(window):.2f} s of voiced audio: too little for a reliable prediction (the models "
                "learnt from utterances of 1-4 s)")

    def unheard(self, seconds: float) -> list[str]:
        """Past MAX_READ_SECONDS a recording is not read: the answer is about its beginning only."""
        if seconds <= MAX_READ_SECONDS:
            return []
        most = f"{MAX_READ_SECONDS:.0f}"
        return [f"{seconds:.0f} s long: only its first {most} s were read and scored, the other "
                f"{seconds - MAX_READ_SECONDS:.0f} s were not; to score all of it, cut it into parts of at most "
                f"{most} s (`ffmpeg -i FILE -f segment -segment_time {most} part%03d.wav`)"]


#: The front ends by their `audio.front_end` name (emo.core.params.FRONT_ENDS).
FRONT_ENDS = {kind.name: kind for kind in (WindowFrontEnd, UtteranceFrontEnd)}


def for_params(params: AudioParams) -> FrontEnd:
    """The front end `audio.front_end` names: the one place that asks which it is."""
    return FRONT_ENDS[params.front_end](params)


def read_utterance(path: str, params: AudioParams) -> Window:
    """The whole clip (at most MAX_READ_SECONDS), mixed down, resampled, trimmed of leading and trailing silence."""
    return UtteranceFrontEnd(params).read(path)
