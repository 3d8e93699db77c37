"""Audio loading, augmentations, features and parallel featurization."""

import librosa
import numpy as np
import pytest
import soundfile

from emo import audio
from emo.augment import plan
from emo.featurize import featurize
from emo.inventory import build
from emo.params import AudioParams, AugmentParams
from emo.ravdess import ActorSplit

PAPER = AudioParams()


@pytest.fixture(scope="module")
def wav(fixture_dataset):
    return str(fixture_dataset / "audio_speech/Actor_01/03-01-05-02-01-01-01.wav")


def test_load_matches_the_papers_librosa_call_and_pads(wav, tmp_path):
    ours = audio.load_clip(wav, PAPER)
    reference, _ = librosa.load(wav, sr=44100, offset=1.0, duration=2.5)
    assert ours.shape == (110250,) and ours.dtype == np.float32
    np.testing.assert_allclose(ours[:len(reference)], reference, atol=1e-6)

    short = tmp_path / "03-01-01-01-01-01-01.wav"
    soundfile.write(short, np.full(16000 * 2, 0.1, np.float32), 16000)  # 2 s: ends before 3.5 s
    padded = audio.load_clip(str(short), PAPER)
    assert padded.shape == (110250,) and np.all(padded[-1000:] == 0) and padded[100] > 0.05


def test_stereo_is_downmixed(tmp_path):
    stereo = tmp_path / "03-01-01-01-01-01-01.wav"
    soundfile.write(stereo, np.stack([np.full(80000, 0.2), np.full(80000, 0.4)], axis=1), 16000)
    assert audio.load_clip(str(stereo), AudioParams(sample_rate=16000))[10] == pytest.approx(0.3, abs=1e-3)


def test_feature_shapes_are_the_papers(wav):
    logmel, mfcc = audio.features(audio.load_clip(wav, PAPER), PAPER)
    assert logmel.shape == (128, 216) and mfcc.shape == (30, 216)
    assert np.abs(logmel).max(axis=0) == pytest.approx(np.ones(216))  # each frame scaled by its max |value|
    assert PAPER.frames == 216


def test_augmentations_change_the_wave_as_described(wav):
    wave = audio.load_clip(wav, PAPER)
    assert np.array_equal(audio.time_shift(wave, 1000)[1000:], wave[:-1000])
    noisy = audio.add_noise(wave, 0.035, np.random.default_rng(0))
    assert 0 < np.abs(noisy - wave).std() < 0.035 * np.abs(wave).max()
    up = audio.pitch_shift(wave, PAPER.sample_rate, 1.0)
    spectrum = lambda w: np.abs(np.fft.rfft(w))  # noqa: E731
    peak = lambda w: np.argmax(spectrum(w)[100:]) + 100  # noqa: E731
    assert up.shape == wave.shape and peak(up) / peak(wave) == pytest.approx(2 ** (1 / 12), rel=0.02)


@pytest.mark.parametrize("damage, words", [
    (lambda b: b[:len(b) // 3], "truncated"),
    (lambda b: b[:44] + bytes(200), "cannot decode|truncated"),
    (lambda b: b"garbage" * 10, "cannot decode"),
])
def test_damaged_audio_is_named(wav, tmp_path, damage, words):
    broken = tmp_path / "03-01-05-02-01-01-01.wav"
    with open(wav, "rb") as handle:
        broken.write_bytes(damage(handle.read()))
    with pytest.raises(audio.DamagedAudioError, match=rf"{broken}: ({words})"):
        audio.load_clip(str(broken), PAPER)


SMALL = AudioParams(sample_rate=16000, n_mels=32, n_mfcc=13, workers=2)


@pytest.fixture(scope="module")
def small_plan(fixture_dataset):
    rows = [r for r in build(fixture_dataset, ActorSplit(val=(21,), test=(23,))) if r.actor in (1, 21)]
    return plan(rows, AugmentParams(), SMALL)


def test_featurize_is_deterministic_and_independent_of_workers(small_plan, tmp_path):
    featurize(small_plan, SMALL, 0.035, tmp_path / "two", progress=False)
    featurize(small_plan, AudioParams(**{**vars(SMALL), "workers": 1}), 0.035, tmp_path / "one", progress=False)
    for name in ("logmel", "mfcc"):
        two, one = np.load(tmp_path / "two" / f"{name}.npy"), np.load(tmp_path / "one" / f"{name}.npy")
        assert two.shape[0] == len(small_plan) and np.array_equal(one, two)
    assert np.load(tmp_path / "two/logmel.npy").shape[1:] == (32, SMALL.frames)
    assert not list(tmp_path.rglob("*.tmp.npy"))


def test_damaged_clip_stops_featurize_or_is_counted(small_plan, tmp_path, fixture_dataset):
    import dataclasses
    victim = tmp_path / "03-01-03-01-01-01-01.wav"
    victim.write_bytes(b"RIFF" + bytes(100))
    rows = [dataclasses.replace(r, path=str(victim)) if r.path.endswith("03-01-03-01-01-01-01.wav") else r
            for r in small_plan]
    with pytest.raises(audio.DamagedAudioError, match="03-01-03-01-01-01-01.wav"):
        featurize(rows, SMALL, 0.035, tmp_path / "a", progress=False)
    report = featurize(rows, dataclasses.replace(SMALL, skip_damaged=True), 0.035, tmp_path / "b", progress=False)
    valid = np.load(tmp_path / "b/valid.npy")
    hit = [r.index for r in rows if r.path == str(victim)]
    assert report["damaged_clips"] == 1 and report["damaged"] == [str(victim)]
    assert report["rows_left_out"] == len(hit) == 4 and not valid[hit].any() and valid.sum() == len(rows) - 4
