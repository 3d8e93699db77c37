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

import librosa
import numpy as np

from emo.audio import signal
from emo.audio.signal import Window, damaged, read_span
from emo.core.errors import EmoError
from emo.core.params import AudioParams

#: An utterance with less voiced audio than this is flagged as short: a syllable or two.
MIN_VOICED_SECONDS = 0.5
#: Only this much of a file is decoded (a 10-minute recording at 48 kHz is 230 MB as float64 samples); `emo
#: predict` reads longer files in parts (`read_segments`).
MAX_READ_SECONDS = 600.0
#: Below this peak (-80 dBFS, a few steps of 16-bit audio) a recording holds no audible signal (`emo predict`).
SILENT_PEAK = 1e-4
#: A recording with more than this share of its samples at full scale is flagged as clipped (`emo predict`).
CLIPPED_SHARE = 0.01


def voiced_span(wave: np.ndarray, params: AudioParams) -> tuple[int, int]:
    """First and last+1 sample of the audible part: frames within `audio.trim_db` of the loudest frame.

    Energy-based and relative to the clip's own loudest frame, so it works at any recording level; frames of
    20 ms with a 10 ms hop. An all-zero clip gives (0, 0).
    """
    frame = max(1, int(0.02 * params.sample_rate))
    hop = max(1, frame // 2)
    if len(wave) < frame:
        return (0, len(wave)) if np.abs(wave).max(initial=0.0) > 0 else (0, 0)
    rms = librosa.feature.rms(y=wave, frame_length=frame, hop_length=hop, center=False)[0]
    loudest = float(rms.max(initial=0.0))
    if loudest <= 0.0:
        return 0, 0
    loud = np.flatnonzero(rms >= loudest * 10 ** (-params.trim_db / 20))
    return int(loud[0] * hop), int(min(len(wave), loud[-1] * hop + frame))


def to_utterance(block: np.ndarray, native_rate: int, params: AudioParams, path: str) -> Window:
    """The trimmed utterance of a decoded file [frames, channels] at the target rate, with what it holds.

    `Window.covered` is the share of the model's `audio.duration` that the trimmed utterance fills (a
    shorter one is tiled when features are computed).
    """
    if not np.isfinite(block).all():
        raise damaged(path, "holds NaN or infinite samples")
    loud = np.abs(block)
    mono = block.mean(axis=1).astype(np.float32)
    if native_rate != params.sample_rate and len(mono):
        mono = librosa.resample(mono, orig_sr=native_rate, target_sr=params.sample_rate, res_type="soxr_hq")
    start, end = voiced_span(mono, params)
    wave = np.ascontiguousarray(mono[start:end], dtype=np.float32)
    return Window(wave, len(block) / native_rate, covered=min(len(wave) / params.samples, 1.0),
                  peak=float(loud.max(initial=0.0)), clipped=float((loud >= 0.99).mean()) if loud.size else 0.0)


def read_utterance(path: str, params: AudioParams) -> Window:
    """The whole clip (at most MAX_READ_SECONDS), mixed down, resampled, trimmed of leading and trailing silence."""
    return UtteranceFrontEnd(params).read(path)


def fit_frames(spectrum: np.ndarray, frames: int) -> np.ndarray:
    """A [bins, t] feature at exactly `frames` columns: a short one repeated end to end, a long one's middle."""
    have = spectrum.shape[1]
    if have == frames:
        return spectrum
    if have > frames:
        start = (have - frames) // 2
        return spectrum[:, start:start + frames]
    if have == 0:
        return np.zeros((spectrum.shape[0], frames), spectrum.dtype)
    return np.tile(spectrum, (1, -(-frames // have)))[:, :frames]


def utterance_features(wave: np.ndarray, params: AudioParams) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel in dB [n_mels, frames] (up to half the target rate) and MFCC [n_mfcc, frames] of an utterance.

    Unlike the paper's features, no per-frame scaling. With `audio.level_norm` the clip's mean dB is
    subtracted: a recording's level is set by its chain (gain, automatic gain control, corpora that normalise
    every file, as EmoDB does to full scale), not by the speaker's emotion. The dB floor is 80 dB below the
    clip's loudest bin, so silence and empty bands stay finite and a gain changes nothing.
    """
    if len(wave) < params.n_fft:
        wave = np.pad(wave, (0, params.n_fft - len(wave)))
    power = librosa.feature.melspectrogram(y=wave, sr=params.sample_rate, n_fft=params.n_fft,
                                           hop_length=params.hop_length, n_mels=params.n_mels, fmin=params.fmin,
                                           fmax=params.sample_rate / 2)
    # 80 dB below the loudest bin: a floor relative to the clip, so a gain shifts every value alike
    floor = max(float(power.max(initial=0.0)) * 1e-8, 1e-20)
    decibels = 10.0 * np.log10(np.maximum(power, floor))
    decibels = fit_frames(decibels, params.frames)
    if params.level_norm:
        decibels = decibels - decibels.mean(dtype=np.float64)
    mfcc = librosa.feature.mfcc(S=decibels, n_mfcc=params.n_mfcc)
    return decibels.astype(np.float32), mfcc.astype(np.float32)


def segments(wave: np.ndarray, params: AudioParams) -> list[np.ndarray]:
    """A long utterance cut into consecutive parts of the model's length (a last part shorter than half of one
    joins the one before); an utterance up to 1.5 lengths stays whole. `emo predict` averages over the parts."""
    size = params.samples
    if len(wave) <= 1.5 * size:
        return [wave]
    starts = list(range(0, len(wave) - size // 2, size))
    return [wave[start:start + size] if start != starts[-1] else wave[start:] for start in starts]


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
        raise NotImplementedError


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

    def check(self, window: Window) -> list[str]:
        p = self.params
        span = f"{p.offset:.1f}-{p.offset + p.duration:.1f} s"
        if window.covered == 0:
            raise NothingToAnalyse(f"{window.seconds:.2f} s long, shorter than the {p.offset:.1f} s offset: nothing to "
                                   f"analyse (the models read {span} of a clip); give a recording of at least "
                                   f"{p.offset + p.duration:.1f} s")
        if window.peak < SILENT_PEAK:
            raise NothingToAnalyse(f"no audible signal in {span} ({_level(window.peak)}): nothing to analyse; check "
                                   "the recording's level and that this part of it holds speech")
        warnings = []
        if self.is_short(window):
            warnings.append(f"{window.seconds:.2f} s long: only {window.covered * p.duration:.2f} s of the {span} "
                            "window hold audio, the rest is zero padding; the prediction is unreliable")
        return warnings + _clipping(window, f" in {span}")


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

    def check(self, window: Window) -> list[str]:
        if window.peak < SILENT_PEAK or not len(window.wave):
            raise NothingToAnalyse(f"no voiced audio in its {window.seconds:.2f} s ({_level(window.peak)}): nothing to "
                                   "analyse; check the recording's level and that it holds speech")
        warnings = []
        if self.is_short(window):
            warnings.append(f"only {self.coverage(window):.2f} s of voiced audio: too little for a reliable prediction "
                            "(the models learnt from utterances of 1-4 s)")
        return warnings + _clipping(window, "")


#: The front ends by their `audio.front_end` name (emo.core.params.FRONT_ENDS).
FRONT_ENDS = {kind.name: kind for kind in (WindowFrontEnd, UtteranceFrontEnd)}


def for_params(params: AudioParams) -> FrontEnd:
    """The front end `audio.front_end` names: the one place that asks which it is."""
    return FRONT_ENDS[params.front_end](params)
