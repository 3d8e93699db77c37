"""The classical peer (emo.studies.peer): real openSMILE on generated clips, per-speaker z-norm, the restricted SVM
decision."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import soundfile

from emo.audio.signal import DamagedAudioError
from emo.core.errors import EmoError
from emo.core.ravdess import EMOTIONS
from emo.studies import peer


def voice(path, rate: int, f0: float, seconds: float = 1.2, seed: int = 0) -> str:
    """A voiced-like clip: harmonics of a gliding f0 under a syllable envelope, with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 1.5 * t))) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    wave = 0.2 * wave / np.abs(wave).max() + 0.003 * rng.standard_normal(len(t))
    soundfile.write(str(path), wave.astype(np.float32), rate)
    return str(path)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("peer")
    return [voice(folder / "a.wav", 16000, 120), voice(folder / "b.wav", 48000, 220, seed=1),
            voice(folder / "c.flac", 44100, 180, seed=2), voice(folder / "d.wav", 22050, 300, seed=3)]


def test_egemaps_gives_88_finite_functionals_per_clip_at_any_rate_and_format(clips):
    features = peer.egemaps(clips, workers=1)
    assert features.shape == (len(clips), peer.FEATURES) == (4, 88)
    assert np.isfinite(features).all()
    assert len({tuple(row) for row in features}) == len(clips)  # different voices, different functionals


def test_egemaps_on_worker_processes_matches_one_process(clips):
    np.testing.assert_array_equal(peer.egemaps(clips, workers=2), peer.egemaps(clips, workers=1))


def test_egemaps_names_a_damaged_file(tmp_path, clips):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(DamagedAudioError, match="broken.wav"):
        peer.egemaps([clips[0], str(broken)])
    with pytest.raises(DamagedAudioError, match="broken.wav"):  # from a worker process too
        peer.egemaps([clips[0], str(broken), clips[1]], workers=2)
    empty = tmp_path / "empty.wav"
    soundfile.write(str(empty), np.zeros(0, np.float32), 16000)
    with pytest.raises(DamagedAudioError, match="empty.wav.*no audio"):
        peer.egemaps([str(empty)])


def test_a_missing_opensmile_names_the_extra_to_install(monkeypatch, clips):
    monkeypatch.setitem(sys.modules, "opensmile", None)  # import opensmile -> ImportError
    monkeypatch.setattr(peer, "_SMILE", {})
    with pytest.raises(EmoError, match=r"pip install -e '\.\[peer\]'"):
        peer.egemaps(clips)


def test_speaker_znorm_scores_each_speaker_by_its_own_clips():
    rng = np.random.default_rng(0)
    speakers = np.array(["x", "y", "x", "y", "x", "y", "z"])
    features = rng.normal(size=(7, 3))
    features[:, 2] = 5.0  # a constant functional stays finite (zero)
    z = peer.speaker_znorm(features, speakers)
    for speaker in ("x", "y"):
        rows = z[speakers == speaker]
        np.testing.assert_allclose(rows[:, :2].mean(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(rows[:, :2].std(axis=0), 1)
    assert np.isfinite(z).all() and not z[:, 2].any() and not z[speakers == "z"].any()
    shifted = features + np.where(speakers == "y", 100.0, 0.0)[:, None] * np.array([1, 3, 0])  # a speaker's level
    np.testing.assert_allclose(peer.speaker_znorm(shifted * 2, speakers), z, atol=1e-9)


def blobs(classes, per_class=30, seed=0):
    """Well separated clusters, one per class index."""
    rng = np.random.default_rng(seed)
    centres = {c: rng.normal(scale=6, size=5) for c in classes}
    y = np.repeat(classes, per_class)
    return np.stack([centres[c] + rng.normal(size=5) for c in y]), y


def test_decide_over_all_classes_agrees_with_the_svm():
    x, y = blobs([0, 2, 3, 5, 7])
    model = peer.fit_svm(x, y, seed=0)
    assert (peer.decide(model, x) == model.predict(x)).all()
    assert (peer.decide(model, x) == y).mean() > 0.95


def test_decide_restricted_to_a_subset_predicts_only_its_classes():
    x, y = blobs([0, 2, 3, 5, 7])
    model = peer.fit_svm(x, y, seed=0)
    allowed = peer.class_indices(["neutral", "happy", "sad"])
    assert allowed == [0, 2, 3]
    predicted = peer.decide(model, x, allowed)
    assert set(predicted) <= set(allowed)
    inside = np.isin(y, allowed)
    assert (predicted[inside] == y[inside]).mean() > 0.95  # the allowed classes' clips keep their answers
    outside = peer.decide(model, x[y == 7], [2])
    assert (outside == 2).all()  # a single allowed class wins every clip


def test_decide_between_two_classes_matches_their_pairwise_machine():
    x, y = blobs([4, 6])
    model = peer.fit_svm(x, y, seed=0)  # scikit-learn flips the sign of a two-class decision
    assert (peer.decide(model, x) == model.predict(x)).all()
    assert (peer.decide(model, x, [6, 4]) == y).mean() > 0.95


def test_decide_refuses_a_class_the_svm_never_saw():
    x, y = blobs([0, 1])
    with pytest.raises(EmoError, match="surprised"):
        peer.decide(peer.fit_svm(x, y), x, [0, EMOTIONS.index("surprised")])
    with pytest.raises(EmoError, match="unknown emotions"):
        peer.class_indices(["boredom"])
