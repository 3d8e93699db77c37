"""The `chain` augmentation: a clip as a random recording chain would deliver it (room, noise, device, codec).

Built from audiomentations transforms plus two small ones of ours (a synthetic room reverberation, since we
ship no impulse-response files, and G.711 mu-law quantisation). audiomentations draws from Python's and
numpy's global generators; `recording_chain` seeds both from the plan row's seed and restores them after,
so one plan gives the same features in any worker process.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from audiomentations import AddColorNoise, BandPassFilter, Compose, Gain, LowPassFilter, Mp3Compression
from audiomentations.core.transforms_interface import BaseWaveformTransform
from scipy.signal import oaconvolve

#: Each stage's probability of being applied, in chain order (each drawn independently).
PROBABILITIES = {
    "reverb": 0.3,  # a room: synthetic exponentially decaying impulse response, RT60 0.2-0.8 s
    "noise": 0.5,  # coloured noise (-6 to +3 dB/octave: brown to blue) at an SNR of 10-30 dB
    "gain": 0.5,  # the device's input level: -12 to +6 dB
    "mulaw": 0.15,  # G.711 telephone codec: 8-bit mu-law quantisation
    "telephone": 0.2,  # telephone band: band-pass 300-3400 Hz, 24-48 dB/octave
    "lowpass": 0.3,  # a cheap microphone or a resampled stream: low-pass at 2-7.5 kHz, 12-24 dB/octave
    "mp3": 0.3,  # MP3 round trip at 8-64 kbps (32-64 kbps above 24 kHz), LAME via fast-mp3-augment
}
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)  # what MPEG audio layer III encodes
MP3_MIN_SECONDS = 0.1  # fast-mp3-augment refuses shorter audio


class SyntheticReverb(BaseWaveformTransform):
    """Convolve with an exponentially decaying noise tail (a diffuse room) mixed with the dry sound."""

    def __init__(self, min_rt60: float = 0.2, max_rt60: float = 0.8, min_wet: float = 0.2, max_wet: float = 0.7,
                 p: float = 0.5):
        super().__init__(p)
        self.min_rt60, self.max_rt60, self.min_wet, self.max_wet = min_rt60, max_rt60, min_wet, max_wet

    def randomize_parameters(self, samples: np.ndarray, sample_rate: int):
        super().randomize_parameters(samples, sample_rate)
        if self.parameters["should_apply"]:
            self.parameters["rt60"] = random.uniform(self.min_rt60, self.max_rt60)
            self.parameters["wet"] = random.uniform(self.min_wet, self.max_wet)
            self.parameters["ir_seed"] = random.getrandbits(32)

    def apply(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        return reverberate(samples, synthetic_ir(sample_rate, self.parameters["rt60"], self.parameters["ir_seed"]),
                           self.parameters["wet"])


class MuLaw(BaseWaveformTransform):
    """G.711-style 8-bit mu-law quantisation (mu = 255), the telephone codec; louder than full scale is scaled."""

    def apply(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        return mu_law(samples)


def synthetic_ir(sample_rate: int, rt60: float, seed: int) -> np.ndarray:
    """A unit-energy impulse response: Gaussian noise whose envelope falls 60 dB over `rt60` seconds."""
    t = np.arange(max(int(rt60 * sample_rate), 1)) / sample_rate
    tail = np.random.default_rng(seed).standard_normal(t.size) * np.exp(-np.log(1000.0) * t / rt60)
    return (tail / np.sqrt(np.sum(tail**2))).astype(np.float32)


def reverberate(wave: np.ndarray, ir: np.ndarray, wet: float) -> np.ndarray:
    """Mix the dry wave with its convolution by `ir` (cut to the wave's length), keeping the wave's RMS."""
    mixed = (1 - wet) * wave + wet * oaconvolve(wave, ir)[: wave.size]
    before, after = np.sqrt(np.mean(wave**2)), np.sqrt(np.mean(mixed**2))
    return (mixed * (before / after if after > 0 else 1.0)).astype(np.float32)


def mu_law(wave: np.ndarray, mu: int = 255, bits: int = 8) -> np.ndarray:
    """Encode to `bits`-bit mu-law and decode back."""
    scale = max(float(np.abs(wave).max(initial=0.0)), 1.0)
    code = np.sign(wave) * np.log1p(mu * np.abs(wave / scale)) / np.log1p(mu)
    levels = 2 ** (bits - 1) - 1
    code = np.round(code * levels) / levels
    return (np.sign(code) * np.expm1(np.abs(code) * np.log1p(mu)) / mu * scale).astype(np.float32)


def chain(sample_rate: int, samples: int, probabilities: dict[str, float] | None = None) -> Compose:
    """The chain's transforms for a wave of `samples` at `sample_rate`; `probabilities` overrides stages' p."""
    p = {**PROBABILITIES, **(probabilities or {})}
    unknown = sorted(set(p) - set(PROBABILITIES))
    if unknown:
        raise ValueError(f"unknown recording-chain stage(s) {unknown}; valid: {list(PROBABILITIES)}")
    mp3_ok = sample_rate in MP3_RATES and samples >= MP3_MIN_SECONDS * sample_rate
    nyquist = sample_rate / 2
    return Compose([
        SyntheticReverb(p=p["reverb"]),
        AddColorNoise(min_snr_db=10.0, max_snr_db=30.0, min_f_decay=-6.0, max_f_decay=3.0, p=p["noise"]),
        Gain(min_gain_db=-12.0, max_gain_db=6.0, p=p["gain"]),
        MuLaw(p=p["mulaw"]),
        # 300-3400 Hz: centre 1850 Hz, bandwidth 3100 Hz (audiomentations' edges are centre -/+ bandwidth / 2)
        BandPassFilter(min_center_freq=1850.0, max_center_freq=1850.0, min_bandwidth_fraction=3100 / 1850,
                       max_bandwidth_fraction=3100 / 1850, min_rolloff=24, max_rolloff=48,
                       p=p["telephone"] if nyquist > 3400 else 0.0),
        LowPassFilter(min_cutoff_freq=min(2000.0, 0.5 * nyquist), max_cutoff_freq=min(7500.0, 0.95 * nyquist),
                      min_rolloff=12, max_rolloff=24, p=p["lowpass"]),
        Mp3Compression(min_bitrate=8 if sample_rate <= 24000 else 32, max_bitrate=64, backend="fast-mp3-augment",
                       p=p["mp3"] if mp3_ok else 0.0),
    ])


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed Python's and numpy's global generators for the block, then put their states back."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def recording_chain(wave: np.ndarray, sample_rate: int, seed: int,
                    probabilities: dict[str, float] | None = None) -> np.ndarray:
    """The mono wave through a random recording chain drawn from `seed`: float32, same length, finite."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"recording_chain expects a mono wave, got shape {wave.shape}")
    if not wave.size:
        return wave.copy()
    with seeded(seed):
        out = chain(sample_rate, wave.size, probabilities)(wave, sample_rate)
    out = np.nan_to_num(np.asarray(out, dtype=np.float32)[: wave.size], nan=0.0, posinf=0.0, neginf=0.0)
    return np.pad(out, (0, wave.size - out.size))
