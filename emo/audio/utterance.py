"""The whole utterance at one rate: read (at most MAX_READ_SECONDS), mixed down, resampled to `audio.sample_rate`,
trimmed of its leading and trailing silence, its features fitted to the model's length (a short utterance tiled,
a long one's middle taken), and a long recording cut into the parts `emo predict` scores."""

from __future__ import annotations

import numpy as np

from emo.audio import spectral
from emo.audio.signal import Window, check_rate, damaged
from emo.core.params import AudioParams

#: Only this much of a file is decoded (a 10-minute recording at 48 kHz is 230 MB as float64 samples); `emo
#: predict` reads longer files in parts (`read_segments`).
MAX_READ_SECONDS = 600.0


def voiced_span(wave: np.ndarray, params: AudioParams) -> tuple[int, int]:
    """First and last+1 sample of the audible part: frames within `audio.trim_db` of the loudest frame.

    Energy-based and relative to the clip's own loudest frame, so it works at any recording level; frames of
    20 ms with a 10 ms hop. An all-zero clip gives (0, 0).
    """
    frame = max(1, int(0.02 * params.sample_rate))
    hop = max(1, frame // 2)
    if len(wave) < frame:
        return (0, len(wave)) if np.abs(wave).max(initial=0.0) > 0 else (0, 0)
    rms = spectral.rms(wave, length=frame, hop=hop)
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
    check_rate(path, native_rate)  # a reader other than read_span (an mp4's sound track) may bring any rate
    if not np.isfinite(block).all():
        raise damaged(path, "holds NaN or infinite samples")
    loud = np.abs(block)
    mono = block.mean(axis=1).astype(np.float32)
    if native_rate != params.sample_rate and len(mono):
        mono = spectral.resample(mono, rate=native_rate, target=params.sample_rate)
    start, end = voiced_span(mono, params)
    wave = np.ascontiguousarray(mono[start:end], dtype=np.float32)
    return Window(wave, len(block) / native_rate, covered=min(len(wave) / params.samples, 1.0),
                  peak=float(loud.max(initial=0.0)), clipped=float((loud >= 0.99).mean()) if loud.size else 0.0)


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
    power = spectral.mel_power(wave, sample_rate=params.sample_rate, n_fft=params.n_fft, hop=params.hop_length,
                               n_mels=params.n_mels, fmin=params.fmin, fmax=params.sample_rate / 2)
    # 80 dB below the loudest bin: a floor relative to the clip, so a gain shifts every value alike
    floor = max(float(power.max(initial=0.0)) * 1e-8, 1e-20)
    decibels = 10.0 * np.log10(np.maximum(power, floor))
    decibels = fit_frames(decibels, params.frames)
    if params.level_norm:
        decibels = decibels - decibels.mean(dtype=np.float64)
    mfcc = spectral.mfcc(decibels, n_mfcc=params.n_mfcc)
    return decibels.astype(np.float32), mfcc.astype(np.float32)


def segments(wave: np.ndarray, params: AudioParams) -> list[np.ndarray]:
    """A long utterance cut into consecutive parts of the model's length (a last part shorter than half of one
    joins the one before); an utterance up to 1.5 lengths stays whole. `emo predict` averages over the parts."""
    size = params.samples
    if len(wave) <= 1.5 * size:
        return [wave]
    starts = list(range(0, len(wave) - size // 2, size))
    return [wave[start:start + size] if start != starts[-1] else wave[start:] for start in starts]
