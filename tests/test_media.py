"""Reading files for `emo predict`: only the window the models read is decoded, and what it holds is checked."""

from __future__ import annotations

import re
import tempfile
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile

from emo.audio.signal import features, load_clip
from emo.core.params import Params
from emo.predict.jobs import Job
from emo.predict.model import Featurizer

PARAMS = Params()  # the paper's window: 2.5 s from 1.0 s at 44.1 kHz
RATE = 16000


def _tone(seconds: float, rate: int = RATE) -> np.ndarray:
    """A speech-like harmonic tone with a slow loudness wobble."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.2 * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t)) * np.sin(2 * np.pi * 180 * t)).astype(np.float32)


def _sound_mp4(path: Path, wave: np.ndarray, rate: int = RATE) -> None:
    """An mp4 holding one AAC sound track, encoded block by block as a recorder writes it."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "mono"
        step = rate  # one-second frames
        for start in range(0, len(wave), step):
            frame = av.AudioFrame.from_ndarray(wave[None, start:start + step], format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def _whole_track(path: Path) -> tuple[np.ndarray, int]:
    """Every sample of an mp4's sound track [channels, n] and its rate: the reference, decoded without limits."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return np.concatenate([f.to_ndarray() for f in container.decode(stream)], axis=1), stream.rate


def test_mp4_sound_track_is_decoded_only_up_to_the_window(tmp_path, monkeypatch):
    import av

    mp4 = tmp_path / "talk.mp4"
    _sound_mp4(mp4, _tone(20.0))
    decoded = []
    real = av.AudioResampler

    class Counting:
        """av.AudioResampler that counts the samples it is given: every decoded frame passes through it."""

        def __init__(self, *args, **kwargs):
            self._inner = real(*args, **kwargs)

        def resample(self, frame):
            decoded.append(frame.samples)
            return self._inner.resample(frame)

    monkeypatch.setattr(av, "AudioResampler", Counting)
    got = Featurizer(PARAMS, tmp_path).audio(Job(audio=mp4, video=mp4, audio_from_video=True))
    end = (PARAMS.audio.offset + PARAMS.audio.duration) * RATE
    assert end <= sum(decoded) <= end + 2 * max(decoded)  # not the 20 s track: one frame past the window's end
    # The same window, mixed and resampled the same way, as a decode of the whole track through the pipeline's reader.
    monkeypatch.setattr(av, "AudioResampler", real)
    track, rate = _whole_track(mp4)
    with tempfile.TemporaryDirectory() as folder:
        soundfile.write(Path(folder) / "track.wav", track.T, rate, subtype="FLOAT")
        want = features(load_clip(str(Path(folder) / "track.wav"), PARAMS.audio), PARAMS.audio)
    assert np.array_equal(got["logmel"], want[0][None]) and np.array_equal(got["mfcc"], want[1][None])


def test_long_wav_is_read_only_in_its_window(tmp_path):
    wav = tmp_path / "lecture.wav"
    wave = np.tile(_tone(1.0, 48000), 120)
    soundfile.write(wav, np.stack([wave, wave], axis=1), 48000, subtype="PCM_16")  # 2 min stereo: 23 MB as float
    del wave
    featurizer = Featurizer(PARAMS, tmp_path)
    tracemalloc.start()
    try:
        featurizer.audio(Job(audio=wav))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8e6


@pytest.mark.parametrize("wave, rate, warning", [
    (_tone(1.5, 44100), 44100, "1.50 s long: only 0.50 s of the 1.0-3.5 s window hold audio"),
    (np.clip(50 * _tone(4.0, 44100), -1, 1), 44100, "clipped: 9\\d % of the samples in 1.0-3.5 s are at full scale"),
    (_tone(4.0, 48000), 48000, None),  # a higher rate is resampled like any other
    # a lower one too, but the band above its half is missing: an 8 kHz phone call can flip the answer
    (_tone(4.0, 8000), 8000, "recorded at 8000 Hz, below the 44100 Hz the models were trained on: it holds nothing "
                             "above 4 kHz of the 0-22.05 kHz they listen to, so the prediction is unreliable"),
])
def test_readable_clip_gets_its_warnings(tmp_path, wave, rate, warning):
    wav = tmp_path / "clip.wav"
    soundfile.write(wav, wave, rate, subtype="PCM_16")
    job = Job(audio=wav)
    assert Featurizer(PARAMS, tmp_path).audio(job)["logmel"].shape == (1, 128, 216)
    texts = [text for file, text in job.warnings if file == str(wav)]
    assert len(texts) == len(job.warnings) == (warning is not None) and all(re.match(warning, t) for t in texts)
