"""Audio clips: reading, waveform augmentations, and log-mel / MFCC features (paper settings)."""

from __future__ import annotations

import wave

import librosa
import numpy as np
import soundfile

from emo.errors import EmoError
from emo.params import AudioParams


class DamagedAudioError(EmoError):
    """An audio file that cannot be decoded, or holds fewer samples than its header promises."""


def _declared_frames(path: str) -> int | None:
    """The frame count a PCM WAV header promises (libsndfile quietly shortens it for a truncated file)."""
    if not path.lower().endswith(".wav"):
        return None
    try:
        with wave.open(path) as header:
            return header.getnframes()
    except (wave.Error, EOFError, OSError):
        return None  # not plain PCM (e.g. float WAV): libsndfile's own checks apply


def load_clip(path: str, params: AudioParams) -> np.ndarray:
    """The clip's mono window [offset, offset + duration) at the target rate, zero-padded to full length.

    Equivalent to `librosa.load(path, sr, offset, duration)` as in the paper, plus padding (many RAVDESS
    clips end before 3.5 s) and a check that the file is whole.
    """
    try:
        with soundfile.SoundFile(path) as audio:
            native = audio.samplerate
            start = int(round(params.offset * native))
            wanted = min(int(round(params.duration * native)), max(audio.frames - start, 0))
            if start < audio.frames:
                audio.seek(start)
            block = audio.read(wanted, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, ValueError) as err:
        raise DamagedAudioError(f"{path}: cannot decode audio ({err}); the file is damaged — fetch the data "
                                "again, or set audio.skip_damaged: true to leave it out") from None
    declared = _declared_frames(path)
    if len(block) < wanted or (declared is not None and declared > audio.frames):
        have = audio.frames if len(block) >= wanted else start + len(block)
        raise DamagedAudioError(f"{path}: truncated — {have} samples decoded where the header promises "
                                f"{declared or start + wanted}; fetch the data again, or set "
                                "audio.skip_damaged: true")
    wave = block.mean(axis=1)
    if native != params.sample_rate:
        wave = librosa.resample(wave, orig_sr=native, target_sr=params.sample_rate, res_type="soxr_hq")
    out = np.zeros(params.samples, np.float32)
    out[:min(len(wave), params.samples)] = wave[:params.samples]
    return out


def pitch_shift(wave: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """Shift the pitch by a number of semitones, keeping the duration."""
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
    power = librosa.feature.melspectrogram(y=wave, sr=params.sample_rate, n_fft=params.n_fft,
                                           hop_length=params.hop_length, n_mels=params.n_mels)
    decibels = librosa.power_to_db(power)
    # librosa.feature.mfcc(y=...) computes exactly this log-mel first; reusing it halves the work.
    mfcc = librosa.feature.mfcc(S=decibels, n_mfcc=params.n_mfcc)
    logmel = librosa.util.normalize(decibels, axis=0)
    return logmel.astype(np.float32), mfcc.astype(np.float32)
