"""The networks: the paper's AudioCNN / VideoCNN / FusionCNN (SPEC section 4) and ours (EmoCNN, fused)."""

from __future__ import annotations

import torch
from torch import nn

from emo.params import MODELS


class PaperCNN(nn.Module):
    """The paper's AudioCNN / VideoCNN: Conv2d(1, 16, 3, 1, 1) -> ReLU -> MaxPool2d(2) -> Dropout -> Linear."""

    def __init__(self, input_shape: tuple[int, int], n_classes: int = 8, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, kernel_size=3, stride=1, padding=1), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Dropout(dropout), nn.Flatten())
        height, width = input_shape
        self.width = 16 * (height // 2) * (width // 2)  # of the flattened branch
        self.classifier = nn.Linear(self.width, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened conv branch (what FusionCNN concatenates)."""
        return self.features(x.unsqueeze(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU())


class EmoCNN(nn.Module):
    """Ours: a strided stem (pooled again for tall inputs), three conv blocks with batch norm, and mean + max
    pooling over time.

    The strided stem keeps it fast on a CPU; pooling over time rather than flattening keeps the classifier
    small (less to overfit with 20 training speakers) and indifferent to where in the window a cue falls.
    """

    def __init__(self, input_shape: tuple[int, int], n_classes: int = 8, dropout: float = 0.3,
                 widths: tuple[int, ...] = (24, 48, 96, 160)):
        super().__init__()
        self.width = 2 * widths[-1]  # of the clip embedding
        layers = [_block(1, widths[0], stride=2)]
        if input_shape[0] > 64:  # e.g. 128 mel bands: pool once more so the blocks cost what 30 MFCCs cost
            layers.append(nn.MaxPool2d(2))
        for cin, cout in zip(widths, widths[1:], strict=False):
            layers += [_block(cin, cout), nn.MaxPool2d(2, ceil_mode=True)]  # ceil: small inputs never vanish
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.width, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Clip embedding [batch, 2 * widths[-1]]: mean and max over time of the frequency-averaged maps."""
        maps = self.features(x.unsqueeze(1)).mean(dim=2)  # [batch, channels, time]
        return torch.cat([maps.mean(dim=2), maps.amax(dim=2)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.embed(x)))


def _conv1d(cin: int, cout: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(cin, cout, kernel, dilation=dilation, padding=dilation * (kernel // 2), bias=False),
                         nn.BatchNorm1d(cout), nn.ReLU())


class TemporalCNN(nn.Module):
    """Ours: 1-D convolutions over time with every bin as an input channel (dilated, as in x-vector TDNNs),
    then the mean and standard deviation over time of each channel.

    The statistics pooling gives utterance-level functionals in the manner of eGeMAPS (means and spreads of
    frame-level cues) but learnt; long inputs are averaged in pairs of frames first, which halves the cost
    on a CPU without losing what emotions are made of (cues last far longer than 2 hops of 11.6 ms).
    """

    def __init__(self, input_shape: tuple[int, int], n_classes: int = 8, dropout: float = 0.3, width: int = 96):
        super().__init__()
        bins, frames = input_shape
        self.pool = nn.AvgPool1d(2) if frames >= 64 else nn.Identity()
        self.features = nn.Sequential(_conv1d(bins, width, 5), _conv1d(width, width, 3, dilation=2),
                                      _conv1d(width, width, 3, dilation=3), _conv1d(width, 2 * width, 1))
        self.width = 4 * width  # of the clip embedding
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.width, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Clip embedding [batch, 4 * width]: mean and standard deviation over time of the last maps."""
        maps = self.features(self.pool(x))
        return torch.cat([maps.mean(dim=2), maps.std(dim=2)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.embed(x)))


class FusionCNN(nn.Module):
    """One conv branch per input (audio, video) without its Linear; their outputs concatenated; one Linear.

    With 'paper' branches this is the paper's FusionCNN (flattened maps); with ours ('emocnn', 'temporal') each
    contributes its pooled clip embedding.
    """

    def __init__(self, branches: list[nn.Module], n_classes: int = 8, dropout: float = 0.5):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        for branch in self.branches:  # a branch's own head is unused; dropping it keeps the state small
            branch.classifier = nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(sum(b.width for b in self.branches), n_classes)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        joined = torch.cat([branch.embed(x) for branch, x in zip(self.branches, inputs, strict=True)], dim=1)
        return self.classifier(self.dropout(joined))


def _single(name: str, input_shape: tuple[int, int], n_classes: int, dropout: float) -> nn.Module:
    if name == "paper":
        return PaperCNN(input_shape, n_classes, dropout)
    if name == "emocnn":
        return EmoCNN(input_shape, n_classes, dropout)
    if name == "temporal":
        return TemporalCNN(input_shape, n_classes, dropout)
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


def build(name: str, input_shapes: tuple[int, int] | list[tuple[int, int]], n_classes: int = 8,
          dropout: float = 0.5) -> nn.Module:
    """The network a recipe names (one of MODELS): one input shape, or a fusion with a branch per shape."""
    if isinstance(input_shapes[0], int):
        return _single(name, tuple(input_shapes), n_classes, dropout)
    if len(input_shapes) == 1:
        return _single(name, tuple(input_shapes[0]), n_classes, dropout)
    # In the fusion the branches' own dropout (paper: inside the conv branch) stays where it is.
    return FusionCNN([_single(name, tuple(s), n_classes, dropout) for s in input_shapes], n_classes,
                     0.0 if name == "paper" else dropout)
