"""emo.audio.spectral computes what librosa (and scipy's window) compute, bit for bit: the committed features and
models were made with librosa, and `emo predict` must hear a clip as the models were trained to."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal
import soundfile
import yaml

from emo.audio import spectral
from emo.core.params import AudioParams
from project import REPO
from shared_data import SHARED, require

#: (sample rate, n_fft, hop, n_mels, fmin, fmax): ours (utterance), the paper's (window), a common ASR setting.
SETTINGS = [(16000, 512, 256, 64, 50.0, 8000.0), (44100, 2048, 512, 128, 0.0, None), (16000, 400, 160, 40, 0.0, None)]
#: Lengths around the STFT's special cases: under one frame after padding, head and tail frames overlapping, long.
LENGTHS = [257, 512, 513, 600, 1000, 4097, 16000 * 3 + 7, 44100 * 3]


def identical(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    assert np.array_equal(ours, theirs), f"largest difference {np.abs(ours.astype(float) - theirs).max()}"


def signals() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = []
    for length in LENGTHS:
        out.append(rng.standard_normal(length).astype(np.float32))
        out.append((0.3 * np.sin(np.arange(length) * 0.05) * np.hanning(length)).astype(np.float32))
    return out


@pytest.mark.parametrize("length", [1, 2, 255, 256, 400, 512, 2048])
def test_hann_is_scipys_periodic_window(length: int) -> None:
    identical(spectral.hann(length), scipy.signal.get_window("hann", length, fftbins=True))


@pytest.mark.parametrize("setting", SETTINGS, ids=str)
def test_mel_power_decibels_mfcc_and_normalisation_are_librosas(setting) -> None:
    rate, n_fft, hop, n_mels, fmin, fmax = setting
    for wave in signals():
        if len(wave) <= n_fft // 2:
            continue
        power = spectral.mel_power(wave, sample_rate=rate, n_fft=n_fft, hop=hop, n_mels=n_mels, fmin=fmin, fmax=fmax)
        identical(power, librosa.feature.melspectrogram(y=wave, sr=rate, n_fft=n_fft, hop_length=hop,
                                                        n_mels=n_mels, fmin=fmin, fmax=fmax))
        decibels = spectral.power_to_db(power)
        identical(decibels, librosa.power_to_db(power))
        identical(spectral.mfcc(decibels, n_mfcc=30), librosa.feature.mfcc(S=decibels, n_mfcc=30))
        identical(spectral.peak_normalize(decibels), librosa.util.normalize(decibels, axis=0))


def test_silence_keeps_its_zero_columns_when_normalised() -> None:
    silent = np.zeros((64, 10), np.float32)
    identical(spectral.peak_normalize(silent), librosa.util.normalize(silent, axis=0))
    with pytest.raises(ValueError, match="NaN"):
        spectral.peak_normalize(np.full((4, 2), np.nan, np.float32))


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 96000, 16000])
def test_resampling_is_librosas_soxr_hq(rate: int) -> None:
    for wave in signals():
        identical(spectral.resample(wave, rate=rate, target=16000),
                  librosa.resample(wave, orig_sr=rate, target_sr=16000, res_type="soxr_hq"))


def test_frame_levels_are_librosas_rms() -> None:
    for wave in [wave for wave in signals() if len(wave) >= 320]:
        identical(spectral.rms(wave, length=320, hop=160),
                  librosa.feature.rms(y=wave, frame_length=320, hop_length=160, center=False)[0])
    with pytest.raises(ValueError, match="shorter than one frame"):
        spectral.rms(np.zeros(10, np.float32), length=320, hop=160)


def librosa_utterance_features(wave: np.ndarray, params: AudioParams) -> tuple[np.ndarray, np.ndarray]:
    """emo.audio.utterance.utterance_features as it was written with librosa (before emo.audio.spectral)."""
    from emo.audio.utterance import fit_frames

    if len(wave) < params.n_fft:
        wave = np.pad(wave, (0, params.n_fft - len(wave)))
    power = librosa.feature.melspectrogram(y=wave, sr=params.sample_rate, n_fft=params.n_fft,
                                           hop_length=params.hop_length, n_mels=params.n_mels, fmin=params.fmin,
                                           fmax=params.sample_rate / 2)
    floor = max(float(power.max(initial=0.0)) * 1e-8, 1e-20)
    decibels = fit_frames(10.0 * np.log10(np.maximum(power, floor)), params.frames)
    if params.level_norm:
        decibels = decibels - decibels.mean(dtype=np.float64)
    return decibels.astype(np.float32), librosa.feature.mfcc(S=decibels, n_mfcc=params.n_mfcc).astype(np.float32)


def test_real_clips_give_the_features_librosa_gave() -> None:
    """Real RAVDESS (48 kHz) and EmoDB (16 kHz) clips through the default front end, against librosa."""
    from emo.audio.frontend import UtteranceFrontEnd

    params = AudioParams(**yaml.safe_load((REPO / "params.yaml").read_text())["audio"])
    front = UtteranceFrontEnd(params)
    ravdess = sorted(require(SHARED / "ravdess", "the real RAVDESS mirror").rglob("*.flac"))[::97]
    emodb = sorted(require(SHARED / "emodb", "the EmoDB corpus").rglob("*.flac"))[::60]
    assert len(ravdess) >= 10 and len(emodb) >= 5
    for path in ravdess + emodb:
        block, rate = soundfile.read(path, dtype="float32", always_2d=True)
        mono = block.mean(axis=1).astype(np.float32)
        theirs = librosa.resample(mono, orig_sr=rate, target_sr=16000, res_type="soxr_hq") if rate != 16000 else mono
        window = front.read(str(path))
        frame = max(1, int(0.02 * params.sample_rate))
        levels = librosa.feature.rms(y=theirs, frame_length=frame, hop_length=frame // 2, center=False)[0]
        voiced = np.flatnonzero(levels >= levels.max() * 10 ** (-params.trim_db / 20))
        identical(window.wave, theirs[voiced[0] * (frame // 2):min(len(theirs), voiced[-1] * (frame // 2) + frame)])
        expected = librosa_utterance_features(window.wave, params)
        for ours, theirs_feature in zip(front.features(window.wave), expected, strict=True):
            identical(ours, theirs_feature)
