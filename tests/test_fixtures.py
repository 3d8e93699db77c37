"""The generated dataset is RAVDESS-shaped, and each modality carries a learnable emotion signal."""

import cv2
import librosa
import numpy as np
import pytest
import soundfile

from emo.core.ravdess import expected_clips, parse_name
from fake_zenodo import FIXTURE_ACTORS

TRAIN, HELD_OUT = (1, 2), (21, 23)


def nearest_centroid_accuracy(features: dict) -> float:
    """Train on actors 1-2, test on 21 and 23: the share of held-out clips whose class centroid is nearest."""
    train = [(f, parse_name(k).label) for k, f in features.items() if parse_name(k).actor in TRAIN]
    test = [(f, parse_name(k).label) for k, f in features.items() if parse_name(k).actor in HELD_OUT]
    centroids = np.stack([np.mean([f for f, y in train if y == c], axis=0) for c in range(8)])
    hits = [np.argmin(np.linalg.norm(centroids - f, axis=1)) == y for f, y in test]
    return float(np.mean(hits))


def test_layout_matches_ravdess(fixture_dataset):
    names = {p.stem for p in fixture_dataset.rglob("*.*")}
    expected = {c.stem for part in ("audio_speech", "video_speech") for c in expected_clips(part, FIXTURE_ACTORS)}
    assert names == expected and len(names) == 480
    info = soundfile.info(str(next(fixture_dataset.rglob("*.wav"))))
    assert info.duration >= 3.5  # the paper reads 2.5 s from an offset of 1 s


def test_audio_emotion_is_learnable_across_actors(fixture_dataset):
    features = {}
    for path in (fixture_dataset / "audio_speech").rglob("*.wav"):
        wave, sr = librosa.load(path, sr=None, offset=1.0, duration=2.5)
        features[path.name] = librosa.power_to_db(librosa.feature.melspectrogram(y=wave, sr=sr)).mean(axis=1)
    assert nearest_centroid_accuracy(features) > 0.6  # chance is 0.125


@pytest.fixture(scope="module")
def face_crops(fixture_dataset):
    """Per clip: how many of 3 sampled frames had a Haar face, and the mean 48x48 grey face crop."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    crops = {}
    for path in (fixture_dataset / "video_speech").rglob("*.mp4"):
        capture = cv2.VideoCapture(str(path))
        frames = []
        while (frame := capture.read())[0]:
            frames.append(frame[1])
        found, faces = 0, []
        for frame in (frames[0], frames[len(frames) // 2], frames[-1]):
            grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            boxes = cascade.detectMultiScale(grey, 1.1, 5)
            if len(boxes):
                found += 1
                x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
                faces.append(cv2.resize(grey[y:y + h, x:x + w], (48, 48)).astype(np.float32))
        crops[path.name] = (found, np.mean(faces, axis=0).ravel() if faces else None)
    return crops


def test_haar_cascade_finds_the_face(face_crops):
    found = sum(f for f, _ in face_crops.values())
    assert found / (3 * len(face_crops)) > 0.95


def test_face_emotion_is_learnable_across_actors(face_crops):
    accuracy = nearest_centroid_accuracy({k: crop for k, (_, crop) in face_crops.items() if crop is not None})
    assert accuracy > 0.6
