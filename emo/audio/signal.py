"""Audio clips: reading, waveform augmentations, and log-mel / MFCC features (paper settings)."""

from __future__ import annotations

import os
import wave
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import soundfile

from emo.audio import spectral
from emo.core.errors import DamagedFileError
from emo.core.params import AudioParams

#: A clip is "short" when less than this share of the analysis window holds its audio (the rest is zero padding).
#: Every real RAVDESS speech clip covers at least 78 % of the paper's window (the shortest lasts 2.94 s).
SHORT_SHARE = 0.5
PIPELINE_FIX = "fetch the data again, or set audio.skip_damaged: true to leave it out"
#: The sample rates speech is recorded at, telephone (8 kHz) to studio (384 kHz). A header outside them is damaged
#: or forged: at 1 Hz a 3 s window is 3 samples, and resampling a long file from it asks for gigabytes.
RATES = (8000, 384000)


class DamagedAudioError(DamagedFileError):
    """An audio file that cannot be decoded, holds no samples or bad ones, or fewer than its header promises."""


def damaged(path: str, problem: str) -> DamagedAudioError:
    """The error for an unusable clip of the pipeline: the file, what is wrong, and the generic fix."""
    return DamagedAudioError(f"{path}: {problem}; {PIPELINE_FIX}", problem)


@dataclass(frozen=True)
class Window:
    """The analysis window of a clip: the model's input, and what it holds of the clip."""

    wave: np.ndarray  # mono, params.sample_rate, zero-padded to params.samples
    seconds: float  # the clip's length
    covered: float  # share of the window [offset, offset + duration) that lies within the clip, 0..1
    peak: float  # largest |sample| in the window, over all channels, before resampling
    clipped: float  # share of the window's samples at or beyond full scale (|x| >= 0.99)

    @property
    def short(self) -> bool:
        """Whether less than SHORT_SHARE of the window holds audio."""
        return self.covered < SHORT_SHARE


def rate_problem(rate: int) -> str | None:
    """Why a file's sample rate rules it out (RATES), or None; every reader of audio headers asks this."""
    low, high = RATES
    if low <= rate <= high:
        return None
    return f"sample rate {rate} Hz is outside {low}–{high} Hz, the rates speech is recorded at (a damaged header?)"


def check_rate(path: str, rate: int) -> None:
    """Refuse a clip whose sample rate is outside RATES, as damaged."""
    if problem := rate_problem(rate):
        raise damaged(path, problem)


def window_frames(native_rate: int, params: AudioParams) -> tuple[int, int]:
    """First frame and frame count of the window [offset, offset + duration) at a file's own rate."""
    return int(round(params.offset * native_rate)), int(round(params.duration * native_rate))


def to_window(block: np.ndarray, native_rate: int, seconds: float, params: AudioParams, path: str) -> Window:
    """A Window from the window's samples [frames, channels] at the file's rate: mixed down, resampled, padded."""
    check_rate(path, native_rate)  # a reader other than read_span (an mp4's sound track) may bring any rate
    if not np.isfinite(block).all():
        raise damaged(path, "holds NaN or infinite samples")
    loud = np.abs(block)
    mono = block.mean(axis=1)
    if native_rate != params.sample_rate and len(mono):
        mono = spectral.resample(mono, rate=native_rate, target=params.sample_rate)
    out = np.zeros(params.samples, np.float32)
    out[:min(len(mono), params.samples)] = mono[:params.samples]
    return Window(out, seconds, covered=min(len(block) / native_rate / params.duration, 1.0),
                  peak=float(loud.max(initial=0.0)), clipped=float((loud >= 0.99).mean()) if loud.size else 0.0)


def declared_frames(path: str) -> int | None:
    """The frame count a PCM WAV header promises (libsndfile quietly shortens it for a truncated file)."""
    if not path.lower().endswith(".wav"):
        return None
    try:
        with wave.open(path) as header:
            return header.getnframes()
    except (wave.Error, EOFError, OSError):
        return None  # not plain PCM (e.g. float WAV): libsndfile's own checks apply


def read_span(path: str, span: Callable[[int, int], tuple[int, int]]) -> tuple[np.ndarray, int, int]:
    """Frames [start, start + length) of a file, `span(rate, frames)` giving them, checked to be whole: the block
    [frames, channels] (float32), the file's rate and its frame count. Only that span is decoded."""
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise damaged(path, "empty file (0 bytes)")
    try:
        with soundfile.SoundFile(path) as sound:
            native, frames = sound.samplerate, sound.frames
            check_rate(path, native)  # before the span, which the rate sizes
            start, length = span(native, frames)
            wanted = min(length, max(frames - start, 0))
            if start < frames:
                sound.seek(start)
            block = sound.read(wanted, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, ValueError) as err:
        why = str(err).replace(f"Error opening {path!r}: ", "")  # libsndfile names the file: once is enough
        raise damaged(path, f"cannot decode audio ({why})") from None
    declared = declared_frames(path)
    if len(block) < wanted or (declared is not None and declared > frames):
        have = frames if len(block) >= wanted else start + len(block)
        raise damaged(path, f"truncated — {have} samples decoded where the header promises "
                            f"{declared or start + wanted}")
    if frames == 0:
        raise damaged(path, "holds no audio samples")
    return block, native, frames


def read_window(path: str, params: AudioParams) -> Window:
    """The clip's window [offset, offset + duration), read alone (never the whole file), with what it holds."""
    block, native, frames = read_span(path, lambda rate, _: window_frames(rate, params))
    return to_window(block, native, frames / native, params, path)


def load_clip(path: str, params: AudioParams) -> np.ndarray:
    """The clip's mono window [offset, offset + duration) at the target rate, zero-padded to full length.

    Equivalent to `librosa.load(path, sr, offset, duration)` as in the paper, plus padding (many RAVDESS
    clips end before 3.5 s) and a check that the file is whole.
    """
    return read_window(path, params).wave


def pitch_shift(wave: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """Shift the pitch by a number of semitones, keeping the duration."""
    import librosa  # here: only the featurize stage's augmentation shifts pitch, and librosa takes 1.5 s to load

    return librosa.effects.pitch_shift(wave, sr=sample_rate, n_steps=semitones).astype(np.float32)


def time_shift(wave: np.ndarray, samples: int) -> np.ndarray:
    """Roll the waveform by a number of samples (the paper's random time shift)."""
    return np.roll(wave, samples)


def add_noise(wave: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise scaled by amplitude * U(0, 1) * max|x|, as the paper does."""
    scale = amplitude * rng.uniform() * float(np.abs(wave).max(initial=0.0))
    return (wave + scale * rng.standard_normal(wave.shape)).astype(np.float32)


def features(wave: np.ndarray, params: AudioParams) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel [n_mels, frames], each frame scaled by its max |value|, and MFCC [n_mfcc, frames]."""
    power = spectral.mel_power(wave, sample_rate=params.sample_rate, n_fft=params.n_fft, hop=params.hop_length,
                               n_mels=params.n_mels)
    decibels = spectral.power_to_db(power)
    # the MFCC of exactly this log-mel (as librosa.feature.mfcc(y=...) computes it): reusing it halves the work
    mfcc = spectral.mfcc(decibels, n_mfcc=params.n_mfcc)
    logmel = spectral.peak_normalize(decibels)
    return logmel.astype(np.float32), mfcc.astype(np.float32)
