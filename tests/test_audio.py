"""Audio loading, augmentations, features and parallel featurization."""

import librosa
import numpy as np
import pytest
import soundfile

from emo.audio import frontend
from emo.audio import signal as audio
from emo.audio.featurize import featurize
from emo.core.params import AudioParams, AugmentParams
from emo.core.ravdess import ActorSplit
from emo.data.augment import plan
from emo.data.inventory import build
from project import REPO

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


# --- hostile clips: short, empty, bad samples; one place decides about damaged clips ---------------------------


def _wav(path, seconds: float, rate: int = 16000) -> str:
    soundfile.write(path, np.full(int(seconds * rate), 0.1, np.float32), rate, subtype="PCM_16")
    return str(path)


@pytest.mark.parametrize("seconds, covered", [(0.1, 0.0), (1.0, 0.0), (2.0, 0.4), (3.6, 1.0)])
def test_window_says_how_much_of_it_is_the_clips_audio(tmp_path, seconds, covered):
    window = audio.read_window(_wav(tmp_path / "clip.wav", seconds), PAPER)
    assert window.wave.shape == (110250,) and window.seconds == pytest.approx(seconds)
    assert window.covered == pytest.approx(covered) and window.short == (covered < audio.SHORT_SHARE)


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_bytes(b""), "empty file \\(0 bytes\\)"),
    (lambda p: _wav(p, 0), "holds no audio samples"),
    (lambda p: soundfile.write(p, np.array([0.1, np.nan] * 30000, np.float32), 16000, subtype="FLOAT"),
     "holds NaN or infinite samples"),
])
def test_empty_and_non_finite_clips_are_damaged(tmp_path, make, words):
    make(tmp_path / "03-01-05-02-01-01-01.wav")
    with pytest.raises(audio.DamagedAudioError, match=rf"03-01-05-02-01-01-01.wav: {words}; .*skip_damaged"):
        audio.load_clip(str(tmp_path / "03-01-05-02-01-01-01.wav"), PAPER)


ONE = AudioParams(**{**vars(SMALL), "workers": 1})


def _rows_of(plan_rows, paths: dict[str, str]):
    """The plan rows of the given source clips, re-indexed from 0, with each clip's path replaced."""
    import dataclasses

    kept = [r for r in plan_rows if r.path in paths]
    return [dataclasses.replace(r, index=i, path=paths[r.path]) for i, r in enumerate(kept)]


def test_featurize_counts_and_names_short_clips(small_plan, tmp_path, caplog):
    sources = sorted({r.path for r in small_plan})[:3]
    short = {sources[0]: _wav(tmp_path / "03-01-01-01-01-01-01.wav", 0.1),
             sources[1]: _wav(tmp_path / "03-01-01-01-01-02-01.wav", 1.5)}
    rows = _rows_of(small_plan, {**{s: s for s in sources}, **short})
    with caplog.at_level("WARNING", logger="emo.audio.featurize"):
        report = featurize(rows, ONE, 0.035, tmp_path / "out", progress=False)
    assert report["short_clips"] == 2 and report["short"] == sorted(short.values())
    assert report["damaged_clips"] == 0 and np.load(tmp_path / "out/valid.npy").all()  # kept: the paper pads
    assert caplog.text.count("short clip") == 2 and "only 0 % of the 2.5 s window" in caplog.text


@pytest.mark.parametrize("source, advice", [
    (None, "fetch the data again, or set audio.skip_damaged: true"),
    ("/data/ravdess", "replace 03-01-03-01-01-01-01.wav in the mirror /data/ravdess, then `dvc repro -f download`; "
                      "or set audio.skip_damaged: true"),
    ("zenodo", "delete data/archives/Audio_Speech_Actors_01-24.zip and re-run (`dvc repro -f download`), or set "
               "audio.skip_damaged: true"),
])
def test_empty_clip_passes_the_inventory_and_featurize_decides(fixture_dataset, tmp_path, source, advice):
    """A 0-byte clip: listed by the inventory; featurize stops with the data source's fix, or skips and counts it."""
    import shutil

    raw = tmp_path / "raw/audio_speech/Actor_01"
    shutil.copytree(fixture_dataset / "audio_speech/Actor_01", raw)
    (raw / "03-01-03-01-01-01-01.wav").write_bytes(b"")
    rows = build(tmp_path / "raw", ActorSplit(val=(21,), test=(23,)))
    victim = str(raw / "03-01-03-01-01-01-01.wav")
    chosen = _rows_of(plan(rows, AugmentParams(), SMALL), {victim: victim, str(raw / "03-01-02-01-01-01-01.wav"):
                                                           str(raw / "03-01-02-01-01-01-01.wav")})
    with pytest.raises(audio.DamagedAudioError) as err:
        featurize(chosen, ONE, 0.035, tmp_path / "a", progress=False, source=source)
    assert str(err.value) == f"{victim}: empty file (0 bytes); {advice} to leave it out"
    report = featurize(chosen, AudioParams(**{**vars(ONE), "skip_damaged": True}), 0.035, tmp_path / "b",
                       progress=False, source=source)
    assert report["damaged"] == [victim] and report["damaged_clips"] == 1
    assert report["rows_left_out"] == sum(r.path == victim for r in chosen) > 0


# --- an implausible sample rate in the header: damaged, for every reader of audio headers ----------------------


def _wav_at(path, rate: int, samples: int = 48000) -> str:
    soundfile.write(path, np.full(samples, 0.1, np.float32), rate, subtype="PCM_16")
    return str(path)


@pytest.mark.parametrize("rate", [1, 7999, 384001, 1_000_000])
def test_a_sample_rate_outside_speech_recordings_is_damaged(tmp_path, rate):
    path = _wav_at(tmp_path / "03-01-05-02-01-01-01.wav", rate)
    problem = f"sample rate {rate} Hz is outside 8000–384000 Hz"
    with pytest.raises(audio.DamagedAudioError, match=rf"^{path}: {problem}.*; fetch the data again, or set "
                                                      "audio.skip_damaged: true"):
        audio.load_clip(path, PAPER)
    for front_end in ("window", "utterance"):
        with pytest.raises(audio.DamagedAudioError, match=problem):
            frontend.for_params(AudioParams(front_end=front_end, sample_rate=16000)).read(path)
    from emo.studies.peer import read_mono  # the eGeMAPS peer reads whole files itself

    with pytest.raises(audio.DamagedAudioError, match=problem):
        read_mono(path)


@pytest.mark.parametrize("rate", [8000, 384000])
def test_the_ends_of_the_range_are_read(tmp_path, rate):
    block, native, frames = audio.read_span(_wav_at(tmp_path / "edge.wav", rate), lambda _, n: (0, n))
    assert native == rate and frames == len(block) == 48000


def test_featurize_counts_a_1_hz_clip_as_damaged(small_plan, tmp_path):
    sources = sorted({r.path for r in small_plan})[:2]
    victim = _wav_at(tmp_path / "03-01-01-01-01-01-01.wav", 1)
    rows = _rows_of(small_plan, {sources[0]: victim, sources[1]: sources[1]})
    with pytest.raises(audio.DamagedAudioError, match=rf"{victim}: sample rate 1 Hz is outside 8000–384000 Hz"):
        featurize(rows, ONE, 0.035, tmp_path / "a", progress=False)
    report = featurize(rows, AudioParams(**{**vars(ONE), "skip_damaged": True}), 0.035, tmp_path / "b",
                       progress=False)
    assert report["damaged"] == [victim] and report["short_clips"] == 0
    assert report["rows_left_out"] == sum(r.path == victim for r in rows) > 0


def test_predict_names_a_1_hz_wav_as_it_names_a_damaged_file(tmp_path, monkeypatch, capsys):
    from emo import cli
    from emo.predict import run
    from emo.predict.model import Model, Scorer

    # no trained model needed: the file is refused when it is read, before any model runs
    saved = {"runs": [], "settings": {"speaker_norm": False}}
    monkeypatch.setattr(run, "load_model", lambda root, name, params=None: Model(name, saved, ["logmel"], []))
    monkeypatch.setattr(Scorer, "add", lambda *_: pytest.fail("the file reached the model"))
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    one_hz = _wav_at(tmp_path / "one_hz.wav", 1)
    nan = tmp_path / "nan.wav"
    soundfile.write(nan, np.array([0.1, np.nan] * 30000, np.float32), 16000, subtype="FLOAT")
    for given, problem in ((one_hz, "sample rate 1 Hz is outside 8000–384000 Hz"),
                           (str(nan), "holds NaN or infinite samples")):
        with pytest.raises(SystemExit) as stop:
            cli.main(["predict", "--project", str(tmp_path), given])
        out, err = capsys.readouterr()
        lines = err.splitlines()
        assert stop.value.code == 1 and out == "" and len(lines) == 1, err
        assert lines[0].startswith(f"error: {given}: {problem}") and "the file is damaged or not audio" in err
