"""The spectral arithmetic of the front ends, on numpy, scipy.fft and soxr alone: the same operations in the same
order as librosa 0.11 (and scipy's Hann window), so every feature is bit-identical to what `librosa.feature`
computed (tests/test_spectral.py compares them on noise, tones and real clips).

Why not librosa itself: importing any of `librosa.feature`, `librosa.filters` or `librosa.core` loads
scipy.signal, scipy.stats and numba, about 1.5 s before a single sample is read, which alone broke the 2-second
budget of `emo predict one.wav` (issue 22). librosa stays for the pitch-shift augmentation (emo.audio.signal),
which only the featurize stage runs.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft

#: librosa.util.MAX_MEM_BLOCK: the STFT is computed in blocks of columns of about this many bytes (kept, so that
#: the FFT sees the very arrays librosa gave it).
_BLOCK_BYTES = 2**8 * 2**10
_AMIN = 1e-10  # librosa.power_to_db's floor of the power
_TOP_DB = 80.0  # and its dynamic range below the loudest bin


def hann(length: int) -> np.ndarray:
    """The periodic Hann window (scipy.signal.get_window('hann', length, fftbins=True)), computed as scipy does:
    a symmetric window one longer, its last point dropped."""
    if length <= 1:
        return np.ones(length, np.float64)
    fac = np.linspace(-np.pi, np.pi, length + 1, dtype=np.float64)
    window = np.zeros(length + 1, np.float64)
    for k, weight in enumerate(np.asarray([0.5, 0.5], np.float64)):
        window += weight * np.cos(k * fac)
    return window[:-1]


def frame(wave: np.ndarray, *, length: int, hop: int) -> np.ndarray:
    """Overlapping frames of a 1-D signal as a read-only view [length, frames] (librosa.util.frame)."""
    if len(wave) < length:
        raise ValueError(f"a signal of {len(wave)} samples is shorter than one frame of {length}")
    count = 1 + (len(wave) - length) // hop
    step = wave.strides[0]
    return np.lib.stride_tricks.as_strided(wave, shape=(length, count), strides=(step, hop * step), writeable=False)


def _rfft_columns(window: np.ndarray, frames: np.ndarray) -> np.ndarray:
    return scipy.fft.rfft(window * frames, axis=-2)


def stft(wave: np.ndarray, *, n_fft: int, hop: int) -> np.ndarray:
    """The centred short-time Fourier transform [1 + n_fft // 2, frames] of a float32 signal, zero padding of
    n_fft // 2 at each end, a periodic Hann window (librosa.stft's defaults, and its layout of the work)."""
    window = hann(n_fft)[:, np.newaxis]
    half = n_fft // 2
    first_inner = int(np.ceil(half / hop))  # frames before this one reach into the left padding
    first_tail = (len(wave) + half - n_fft) // hop + 1  # frames from this one reach into the right padding
    head = tail = np.empty((n_fft, 0), wave.dtype)
    if first_tail <= first_inner:
        start = 0
        wave = np.pad(wave, (half, half))
    else:
        start = first_inner * hop - half
        head = frame(np.pad(wave[:(first_inner - 1) * hop - half + n_fft + 1], (half, 0)),
                     length=n_fft, hop=hop)[:, :first_inner]
        if first_tail * hop - half + n_fft <= len(wave) + half:
            tail = frame(np.pad(wave[first_tail * hop - half:], (0, half)), length=n_fft, hop=hop)
    inner = frame(wave[start:], length=n_fft, hop=hop)
    out = np.zeros((1 + half, head.shape[1] + inner.shape[1] + tail.shape[1]), np.complex64, order="F")
    if head.shape[1]:
        out[:, :head.shape[1]] = _rfft_columns(window, head)
    if tail.shape[1]:
        out[:, -tail.shape[1]:] = _rfft_columns(window, tail)
    columns = max(int(_BLOCK_BYTES // (n_fft * inner.itemsize)), 1)
    for begin in range(0, inner.shape[1], columns):
        end = min(begin + columns, inner.shape[1])
        out[:, head.shape[1] + begin:head.shape[1] + end] = _rfft_columns(window, inner[:, begin:end])
    return out


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's default, htk=False)."""
    hz = np.asanyarray(hz)
    step = 200.0 / 3
    mels = hz / step
    log_hz, log_mel, log_step = 1000.0, 1000.0 / step, np.log(6.4) / 27.0
    if hz.ndim:
        above = hz >= log_hz
        mels[above] = log_mel + np.log(hz[above] / log_hz) / log_step
    elif hz >= log_hz:
        mels = log_mel + np.log(hz / log_hz) / log_step
    return mels


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """The inverse of hz_to_mel, for an array of mels."""
    step = 200.0 / 3
    hz = step * mels
    log_hz, log_mel, log_step = 1000.0, 1000.0 / step, np.log(6.4) / 27.0
    above = mels >= log_mel
    hz[above] = log_hz * np.exp(log_step * (mels[above] - log_mel))
    return hz


def mel_filters(*, sample_rate: float, n_fft: int, n_mels: int, fmin: float = 0.0,
                fmax: float | None = None) -> np.ndarray:
    """Triangular mel filters [n_mels, 1 + n_fft // 2] (float32), Slaney-normalised to equal area
    (librosa.filters.mel)."""
    fmax = float(sample_rate) / 2 if fmax is None else fmax
    bins = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = np.subtract.outer(edges, bins)
    weights = np.zeros((n_mels, len(bins)), np.float32)
    for band in range(n_mels):
        rising = -ramps[band] / widths[band]
        falling = ramps[band + 2] / widths[band + 1]
        weights[band] = np.maximum(0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:n_mels + 2] - edges[:n_mels]))[:, np.newaxis]
    return weights


def mel_power(wave: np.ndarray, *, sample_rate: float, n_fft: int, hop: int, n_mels: int, fmin: float = 0.0,
              fmax: float | None = None) -> np.ndarray:
    """The mel power spectrogram [n_mels, frames] (librosa.feature.melspectrogram with power 2)."""
    power = np.abs(stft(wave, n_fft=n_fft, hop=hop)) ** 2.0
    basis = mel_filters(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return np.einsum("...ft,mf->...mt", power, basis, optimize=True)


def power_to_db(power: np.ndarray) -> np.ndarray:
    """Decibels of a power spectrogram, floored at 1e-10 and at 80 dB below its maximum (librosa.power_to_db)."""
    decibels = 10.0 * np.log10(np.maximum(_AMIN, power))
    decibels -= 10.0 * np.log10(np.maximum(_AMIN, 1.0))
    return np.maximum(decibels, decibels.max() - _TOP_DB)


def peak_normalize(spectrum: np.ndarray) -> np.ndarray:
    """Each column divided by its largest |value| (librosa.util.normalize, axis 0); an all-zero column stays."""
    if not np.all(np.isfinite(spectrum)):
        raise ValueError("cannot normalise a spectrum holding NaN or infinite values")
    length = np.max(np.abs(spectrum).astype(float), axis=0, keepdims=True)
    length[length < np.finfo(spectrum.dtype).tiny] = 1.0
    out = np.empty_like(spectrum)
    out[:] = spectrum / length
    return out


def mfcc(decibels: np.ndarray, *, n_mfcc: int) -> np.ndarray:
    """Cepstral coefficients [n_mfcc, frames] of a log-mel spectrogram: its orthonormal DCT-II over the bands."""
    return scipy.fft.dct(decibels, axis=-2, type=2, norm="ortho")[..., :n_mfcc, :]


def rms(wave: np.ndarray, *, length: int, hop: int) -> np.ndarray:
    """Root-mean-square level of each frame, not centred (librosa.feature.rms(center=False)[0])."""
    return np.sqrt(np.mean(np.square(frame(wave, length=length, hop=hop), dtype=np.float32), axis=-2))


def resample(wave: np.ndarray, *, rate: int, target: int) -> np.ndarray:
    """A 1-D signal at another rate by libsoxr's high-quality converter, exactly ceil(len * target / rate) samples
    long (librosa.resample with res_type 'soxr_hq')."""
    if rate == target:
        return wave
    import soxr  # here: a file already at the target rate never needs it

    size = math.ceil(len(wave) * (float(target) / rate))
    out = soxr.resample(wave, rate, target, quality="soxr_hq")
    out = np.pad(out, (0, size - len(out))) if len(out) < size else out[:size]
    return np.asarray(out, dtype=wave.dtype)
