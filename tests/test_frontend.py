"""The front end for any recording (emo.audio.frontend): whole utterances at any rate, trimmed, level-free, finite."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile

from emo.audio import featurize, frontend, utterance
from emo.audio import signal as audio
from emo.core.params import FRONT_ENDS, AudioParams, load
from emo.data import split
from emo.predict import media
from emo.predict.jobs import Job
from emo.predict.model import Featurizer
from project import REPO

OURS = load(REPO / "params.yaml")
AUDIO = OURS.audio  # the repository's recipe: front_end utterance at 16 kHz


def _speech_like(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """A voiced-sounding signal: a 140 Hz harmonic series under a syllable-rate envelope, over a breath of
    random tones below 7 kHz; the same sound in continuous time whatever the sampling rate (below its Nyquist)."""
    t = np.arange(int(seconds * rate)) / rate
    top = min(7000, 0.45 * rate)
    harmonics = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 50) if 140 * k < top)
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    rng = np.random.default_rng(seed)
    breath = sum(np.sin(2 * np.pi * f * t + phase)
                 for f, phase in zip(rng.uniform(100, top, 150), rng.uniform(0, 2 * np.pi, 150), strict=True))
    return (0.1 * harmonics * envelope + 0.0005 * breath).astype(np.float32)


def _with_silence(voiced: np.ndarray, rate: int, before: float, after: float) -> np.ndarray:
    quiet = np.random.default_rng(1).standard_normal(int((before + after) * rate)).astype(np.float32) * 1e-4
    cut = int(before * rate)
    return np.concatenate([quiet[:cut], voiced, quiet[cut:]])


def _write(path, wave, rate):
    soundfile.write(path, wave, rate, subtype="PCM_16")
    return str(path)


def test_repository_recipe_reads_utterances_and_the_paper_keeps_its_window():
    assert AUDIO.front_end == "utterance" and AUDIO.sample_rate == 16000
    assert AudioParams().front_end == "window" and AudioParams().sample_rate == 44100  # emo variant paper's


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_same_recording_at_16_44_48_khz_gives_the_same_features(tmp_path, rate):
    # Content below 7 kHz, the band every rate holds: after resampling to 16 kHz the features agree closely.
    reference = featurize.file_features(_write(tmp_path / "ref.wav", _speech_like(2.0, 16000), 16000), AUDIO)
    got = featurize.file_features(_write(tmp_path / f"at{rate}.wav", _speech_like(2.0, rate), rate), AUDIO)
    assert got[0].shape == reference[0].shape == (AUDIO.n_mels, AUDIO.frames)
    assert np.isfinite(got[0]).all() and np.isfinite(got[1]).all()
    assert np.abs(got[0] - reference[0]).mean() < 0.1  # dB, over the whole log-mel
    assert np.corrcoef(got[1].ravel(), reference[1].ravel())[0, 1] > 0.999


def test_leading_and_trailing_silence_are_trimmed(tmp_path):
    voiced = _speech_like(1.2, 48000)
    padded = _with_silence(voiced, 48000, before=1.5, after=2.0)
    late = frontend.read_utterance(_write(tmp_path / "late.wav", padded, 48000), AUDIO)
    assert 1.1 < len(late.wave) / AUDIO.sample_rate < 1.35
    assert late.seconds == pytest.approx(4.7, abs=0.01)
    # Where the speech sits in the file does not matter: a copy without the silence sounds the same.
    plain = frontend.read_utterance(_write(tmp_path / "plain.wav", voiced, 48000), AUDIO)
    a, b = utterance.utterance_features(late.wave, AUDIO), utterance.utterance_features(plain.wave, AUDIO)
    assert np.abs(a[0].mean(axis=1) - b[0].mean(axis=1)).mean() < 0.5  # dB, the utterance's average spectrum
    untrimmed = utterance.utterance_features(utterance.to_utterance(padded[:, None], 48000, dataclasses.replace(
        AUDIO, trim_db=120), "x").wave, AUDIO)  # trimming off: the silence dilutes the average spectrum
    assert np.abs(untrimmed[0].mean(axis=1) - b[0].mean(axis=1)).mean() > 2.0


@pytest.mark.parametrize("seconds", [0.6, 1.4, 2.5, 5.0, 9.0])
def test_clips_shorter_and_longer_than_the_old_window_fill_the_model_input(tmp_path, seconds):
    # The paper's window (1.0-3.5 s) would be empty for a 0.6 s clip and cut a 9 s one; here every length works.
    wave = _with_silence(_speech_like(seconds, 16000), 16000, 0.2, 0.2)
    logmel, mfcc = featurize.file_features(_write(tmp_path / "clip.wav", wave, 16000), AUDIO)
    assert logmel.shape == (AUDIO.n_mels, AUDIO.frames) and mfcc.shape == (AUDIO.n_mfcc, AUDIO.frames)
    assert np.isfinite(logmel).all() and logmel.std() > 1.0  # speech throughout: repeated, not zero padding


def test_fit_frames_tiles_short_and_centres_long():
    spectrum = np.arange(10, dtype=np.float32)[None, :]
    assert utterance.fit_frames(spectrum, 25).tolist() == [list(range(10)) * 2 + list(range(5))]
    assert utterance.fit_frames(spectrum, 4).tolist() == [[3, 4, 5, 6]]
    assert utterance.fit_frames(np.zeros((3, 0), np.float32), 5).shape == (3, 5)


def test_level_of_the_recording_does_not_change_the_features():
    wave = _speech_like(2.0, 16000)
    loud, quiet = utterance.utterance_features(wave, AUDIO), utterance.utterance_features(0.05 * wave, AUDIO)
    assert np.allclose(loud[0], quiet[0], atol=1e-3) and np.allclose(loud[1], quiet[1], atol=1e-2)
    keep = dataclasses.replace(AUDIO, level_norm=False)
    assert not np.allclose(utterance.utterance_features(wave, keep)[0],
                           utterance.utterance_features(0.05 * wave, keep)[0], atol=1.0)


def test_speaker_normalisation_stays_finite_on_band_limited_audio(tmp_path):
    # Phone calls: 8 kHz, so the bands above 4 kHz of the 16 kHz features hold little but the dB floor.
    clips = [featurize.file_features(_write(tmp_path / f"call{k}.wav", _speech_like(2.0, 8000, seed=k), 8000),
                                     AUDIO)[0] for k in range(6)]
    normalised = split.standardise_speakers(np.stack(clips), np.zeros(6, int))
    assert np.isfinite(normalised).all() and np.abs(normalised).max() < 50
    # A band that is empty but for rounding (spread 1e-4 dB) stays near zero instead of being blown up to the
    # spread of a real band, which standardising by its own std would do.
    x = np.random.default_rng(0).standard_normal((6, 4, 50)).astype(np.float32) * 5
    x[:, 3] = -80 + np.random.default_rng(1).standard_normal((6, 50)) * 1e-4
    normalised = split.standardise_speakers(x, np.zeros(6, int))
    assert np.abs(normalised[:, 3]).max() < 0.01 and normalised[:, :3].std() == pytest.approx(1, abs=0.05)


def test_silent_recording_is_refused_and_a_long_one_is_read_in_parts(tmp_path):
    _write(tmp_path / "silent.wav", np.zeros(32000, np.float32), 16000)
    with pytest.raises(media.MediaError, match="no voiced audio"):
        media.read_audio(tmp_path / "silent.wav", AUDIO)
    # A 40 s phone recording at 8 kHz: 13 parts of the model's 3 s, each a full model input.
    _write(tmp_path / "call.wav", _speech_like(40.0, 8000), 8000)
    job = Job(audio=tmp_path / "call.wav")
    parts = Featurizer(OURS, tmp_path).audio(job, parts=True)
    assert parts["logmel"].shape == (13, AUDIO.n_mels, AUDIO.frames)
    assert Featurizer(OURS, tmp_path).audio(job)["logmel"].shape == (1, AUDIO.n_mels, AUDIO.frames)


def test_a_few_syllables_are_flagged(tmp_path):
    _write(tmp_path / "short.wav", _with_silence(_speech_like(0.3, 16000), 16000, 1.0, 1.0), 16000)
    _, warnings = media.read_audio(tmp_path / "short.wav", AUDIO)
    assert any("0.3" in w and "voiced audio" in w for w in warnings)


def test_segments_cover_a_long_utterance():
    params = AUDIO
    size = params.samples
    assert len(utterance.segments(np.zeros(size), params)) == 1
    assert len(utterance.segments(np.zeros(int(1.4 * size)), params)) == 1
    parts = utterance.segments(np.arange(int(3.3 * size)), params)
    assert len(parts) == 3 and sum(len(p) for p in parts) == int(3.3 * size)


# What each caller asked before the front end became one object (commit 3657095), kept as the reference.
def _old_read_clip(path, params):  # featurize.read_clip, media.read_audio
    if params.front_end == "utterance":
        block, native, _ = audio.read_span(path, lambda rate, frames: (0, min(frames, int(utterance.MAX_READ_SECONDS
                                                                                            * rate))))
        return utterance.to_utterance(block, native, params, path)
    return audio.read_window(path, params)


def _old_features(wave, params):  # featurize.features
    if params.front_end == "utterance":
        return utterance.utterance_features(wave, params)
    return audio.features(wave, params)


def _old_short(window, params):  # featurize.clip_features, frontend.is_short and the featurize stage's warning
    if params.front_end == "utterance":
        covered = len(window.wave) / params.sample_rate
        note = f"only {covered:.2f} s of voiced audio; it is repeated to fill the model's {params.duration:.1f} s"
        return len(window.wave) < frontend.MIN_VOICED_SECONDS * params.sample_rate, covered, note
    note = ("only %.0f %% of the %.1f s window from %.1f s holds audio; the rest is zero padding"  # noqa: UP031
            % (100 * window.covered, params.duration, params.offset))  # the featurize stage's log format was this
    return window.covered < audio.SHORT_SHARE, window.covered, note


@pytest.mark.parametrize("kind", FRONT_ENDS)
def test_one_front_end_object_reads_featurises_and_flags_as_before(tmp_path, kind):
    params = dataclasses.replace(AUDIO if kind == "utterance" else AudioParams(), workers=1)  # window: the paper's
    front = frontend.for_params(params)
    assert front.name == kind and set(frontend.FRONT_ENDS) == set(FRONT_ENDS)
    for k, (seconds, rate) in enumerate([(3.0, 48000), (2.0, 16000), (1.2, 44100), (0.3, 8000)]):
        wave = _with_silence(_speech_like(seconds, rate, seed=k), rate, 1.0, 0.5)
        path = _write(tmp_path / f"clip{k}.wav", np.stack([wave, 0.5 * wave], axis=1), rate)
        window, old = front.read(path), _old_read_clip(path, params)
        assert np.array_equal(window.wave, old.wave)
        assert (window.seconds, window.covered, window.peak, window.clipped) == (old.seconds, old.covered, old.peak,
                                                                                  old.clipped)
        for new, before in zip(front.features(window.wave), _old_features(old.wave, params), strict=True):
            assert new.dtype == np.float32 and np.array_equal(new, before)
        short, covered, note = _old_short(old, params)
        assert (front.is_short(window), front.coverage(window), front.short_note(covered)) == (short, covered, note)
        assert front.is_short(window) == (k == 3)  # 0.3 s of speech, or a window mostly zero padding
        # a decoded recording's span (the mp4 reader, bench/robustness.py) is heard as the file is read
        block, native = soundfile.read(path, dtype="float32", always_2d=True)
        start, length = front.span(native)
        heard = front.hear(block[start:start + length], native, len(block) / native, path)
        assert np.array_equal(heard.wave, window.wave) and heard.covered == window.covered
    assert [len(p) for p in front.parts(np.zeros(4 * params.samples))] == \
        ([params.samples] * 4 if kind == "utterance" else [4 * params.samples])
