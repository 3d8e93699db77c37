"""bench/robustness.py hears a file as the pipeline does when the device is "as recorded", whatever the front end."""

import dataclasses
import importlib.util

import numpy as np
import pytest
import soundfile

from emo.audio import featurize
from emo.core.params import AudioParams
from project import REPO


def load_bench():
    spec = importlib.util.spec_from_file_location("robustness", REPO / "bench/robustness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("front_end", ["window", "utterance"])
def test_as_recorded_is_the_pipelines_own_features_and_a_device_changes_them(tmp_path, front_end):
    rate = 48000
    t = np.arange(int(4.0 * rate)) / rate
    harmonics = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 30))  # up to 6.4 kHz: past a phone's band
    voice = (0.1 * harmonics * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    path = tmp_path / "clip.wav"
    soundfile.write(path, np.stack([voice, 0.5 * voice], axis=1), rate, subtype="FLOAT")
    params = dataclasses.replace(AudioParams(), front_end=front_end, sample_rate=16000, n_fft=512, hop_length=256,
                                 n_mels=32, n_mfcc=13)
    robustness = load_bench()
    heard = robustness.clip_features((str(path), "as recorded", params))
    pipeline = featurize.file_features(str(path), params)
    for ours, theirs in zip(heard, pipeline, strict=True):
        assert ours.shape == theirs.shape and np.allclose(ours, theirs, atol=1e-3)
    phone = robustness.clip_features((str(path), "phone", params))
    assert np.abs(phone[0] - pipeline[0]).max() > 0.1  # the band above 4 kHz is gone
