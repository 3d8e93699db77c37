"""The `chain` augmentation: a seeded random recording chain, planned and rendered like the other copies."""

import random
from multiprocessing import get_context

import numpy as np
import pytest
import soundfile

from emo.audio import frontend
from emo.audio.chain import PROBABILITIES, recording_chain
from emo.audio.featurize import featurize, render
from emo.core.params import AudioParams, AugmentParams, ParamsError
from emo.core.ravdess import ActorSplit
from emo.data import augment
from emo.data.inventory import build

RATE = 16000


def speechlike(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """A voiced-sounding test signal: a 150 Hz harmonic tone, amplitude-modulated, plus a little noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 30))
    noise = 0.01 * np.random.default_rng(seed).standard_normal(t.size)
    return (0.2 * tone * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + noise).astype(np.float32)


def only(*stages: str) -> dict[str, float]:
    """Probabilities that force `stages` and switch every other stage off."""
    return {name: float(name in stages) for name in PROBABILITIES}


def test_same_seed_same_output_and_different_seeds_differ():
    wave = speechlike()
    first = recording_chain(wave, RATE, 7)
    assert np.array_equal(first, recording_chain(wave, RATE, 7))
    outputs = [recording_chain(wave, RATE, seed) for seed in range(6)]
    assert all(not np.array_equal(a, b) for i, a in enumerate(outputs) for b in outputs[i + 1:])
    everything = {name: 1.0 for name in PROBABILITIES}
    assert not np.array_equal(recording_chain(wave, RATE, 1, everything), recording_chain(wave, RATE, 2, everything))


def test_global_generators_are_left_as_they_were():
    random.seed(11)
    np.random.seed(11)
    recording_chain(speechlike(), RATE, 3, {name: 1.0 for name in PROBABILITIES})
    after = random.random(), np.random.random()
    random.seed(11)
    np.random.seed(11)
    assert after == (random.random(), np.random.random())


@pytest.mark.parametrize("stage", [*PROBABILITIES, "all"])
def test_every_stage_keeps_length_dtype_and_finiteness(stage):
    wave = speechlike(1.37)  # an odd length
    probabilities = {name: 1.0 for name in PROBABILITIES} if stage == "all" else only(stage)
    out = recording_chain(wave, RATE, 5, probabilities)
    assert out.shape == wave.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert not np.array_equal(out, wave)
    assert np.array_equal(recording_chain(wave, RATE, 0, only()), wave)  # nothing forced: unchanged


def test_forced_telephone_filter_leaves_little_above_4_khz():
    noise = (0.1 * np.random.default_rng(0).standard_normal(3 * RATE)).astype(np.float32)  # half its power > 4 kHz
    freqs = np.fft.rfftfreq(noise.size, 1 / RATE)
    for seed in range(4):
        power = np.abs(np.fft.rfft(recording_chain(noise, RATE, seed, only("telephone")))) ** 2
        assert power[freqs > 4000].sum() / power.sum() < 0.02
        assert power[freqs < 150].sum() / power.sum() < 0.01


@pytest.mark.parametrize("samples", [0, 10, 1000, 3 * RATE])
def test_silence_and_short_clips_stay_finite(samples):
    silence = np.zeros(samples, np.float32)
    for probabilities in (None, {name: 1.0 for name in PROBABILITIES}):
        out = recording_chain(silence, RATE, 2, probabilities)
        assert out.shape == (samples,) and out.dtype == np.float32 and np.isfinite(out).all()


def test_other_sample_rates_and_bad_input():
    for rate in (8000, 44100, 22000):  # 22 kHz is no MP3 rate: that stage is skipped
        wave = np.random.default_rng(0).standard_normal(rate).astype(np.float32) * 0.1
        out = recording_chain(wave, rate, 1, {name: 1.0 for name in PROBABILITIES})
        assert out.shape == wave.shape and np.isfinite(out).all()
    with pytest.raises(ValueError, match="mono"):
        recording_chain(np.zeros((2, 100), np.float32), RATE, 0)
    with pytest.raises(ValueError, match="unknown recording-chain stage"):
        recording_chain(np.zeros(100, np.float32), RATE, 0, {"reverbb": 1.0})


def _chain_in_fresh_process(seed: int) -> np.ndarray:
    return recording_chain(speechlike(), RATE, seed, {name: 1.0 for name in PROBABILITIES})


def test_a_fresh_process_gives_the_same_output():
    random.seed(99)
    np.random.seed(99)  # this process's global state differs from a fresh one's
    with get_context("spawn").Pool(1) as pool:
        theirs = pool.map(_chain_in_fresh_process, [4, 9])
    assert all(np.array_equal(t, _chain_in_fresh_process(s)) for t, s in zip(theirs, [4, 9], strict=True))


def test_params_accept_chain_and_video_rows_have_a_face_op():
    from emo.vision.face_augment import OPS
    from emo.vision.video_features import VIDEO_OPS

    assert VIDEO_OPS["chain"] in OPS  # a chain row's video gets Poisson noise, a degraded capture
    assert AugmentParams(copies=("chain",), balance_copies=("noise", "chain")).copies == ("chain",)
    with pytest.raises(ParamsError, match="valid: .*'chain'"):
        AugmentParams(copies=("chains",))


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """Two 1.5 s clips of actor 1 (train) and one of actor 23 (test), RAVDESS-named."""
    root = tmp_path_factory.mktemp("chain_clips") / "Actor_01"
    root.mkdir()
    for name, seed in (("03-01-01-01-01-01-01.wav", 0), ("03-01-02-01-01-01-01.wav", 1)):
        soundfile.write(root / name, speechlike(1.5, seed), RATE)
    other = root.parent / "Actor_23"
    other.mkdir()
    soundfile.write(other / "03-01-02-01-01-01-23.wav", speechlike(1.5, 2), RATE)
    return root.parent


SMALL = AudioParams(front_end="utterance", sample_rate=RATE, duration=1.0, n_fft=512, hop_length=256, n_mels=32,
                    n_mfcc=13, fmin=50.0, workers=2)


def test_plan_carries_the_op_and_featurize_renders_it_deterministically(tiny_dataset, tmp_path):
    rows = build(tiny_dataset, ActorSplit())
    params = AugmentParams(copies=("chain", "noise"), balance_copies=("chain",), balance_target=5)
    plan = augment.plan(rows, params, SMALL)
    chained = [p for p in plan if p.op == "chain"]
    assert {p.split for p in chained} == {"train"} and any(p.balance for p in chained)
    assert len(chained) == 2 + 4 and len({p.noise_seed for p in chained}) == 6  # each copy its own seed
    augment.write(plan, tmp_path / "plan.csv")
    assert augment.read(tmp_path / "plan.csv") == plan

    row = chained[0]
    wave = frontend.for_params(SMALL).read(row.path).wave
    rendered = render(wave, row, SMALL, 0.035)
    assert np.array_equal(rendered, recording_chain(wave, SMALL.sample_rate, row.noise_seed))
    assert np.array_equal(rendered, render(wave, row, SMALL, 0.035))

    featurize(plan, SMALL, 0.035, tmp_path / "two", progress=False)
    featurize(plan, AudioParams(**{**vars(SMALL), "workers": 1}), 0.035, tmp_path / "one", progress=False)
    for name in ("logmel", "mfcc"):
        two, one = np.load(tmp_path / "two" / f"{name}.npy"), np.load(tmp_path / "one" / f"{name}.npy")
        assert np.array_equal(one, two) and np.isfinite(two).all()
    logmel = np.load(tmp_path / "one/logmel.npy")
    original = next(p for p in plan if p.op == "original" and p.path == row.path)
    assert not np.array_equal(logmel[row.index], logmel[original.index])
