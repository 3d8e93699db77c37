"""The networks: the paper's AudioCNN / VideoCNN / FusionCNN (SPEC section 4) and ours (EmoCNN, fused)."""

from __future__ import annotations

import torch
from torch import nn

from emo.core.params import MODELS
from emo.learn import paper_kernel

_FAST_DTYPES = (torch.float32, torch.float64)


class PaperCNN(nn.Module):
    """The paper's AudioCNN / VideoCNN: Conv2d(1, 16, 3, 1, 1) -> ReLU -> MaxPool2d(2) -> Dropout -> Linear.

    `features` holds the literal layers (and so the parameters: checkpoints keep `features.0.*` and
    `classifier.*`). On a CPU with one torch thread (train.threads: 1), training and inference run a fused
    equivalent instead (emo.learn.paper_kernel): the same function and the same gradients (up to the order of
    float sums), several times faster; only dropout's random draws differ from nn.Dropout's (same
    distribution, same global generator). Elsewhere (a GPU; several threads, which the literal layers'
    kernels put to better use) and with `reference=True` (or `model.reference = True`) the literal layers run.
    """

    def __init__(self, input_shape: tuple[int, int], n_classes: int = 8, dropout: float = 0.5,
                 reference: bool = False):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, kernel_size=3, stride=1, padding=1), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Dropout(dropout), nn.Flatten())
        height, width = input_shape
        self.width = 16 * (height // 2) * (width // 2)  # of the flattened branch
        self.classifier = nn.Linear(self.width, n_classes)
        self.reference = reference

    def _fused(self, x: torch.Tensor) -> bool:
        """Whether x goes through the fused path (which gives no gradient w.r.t. x)."""
        conv = self.features[0]
        return (not self.reference and x.dim() == 3 and x.device.type == "cpu" and torch.get_num_threads() == 1
                and x.shape[1] >= 2 and x.shape[2] >= 2 and x.dtype == conv.weight.dtype
                and x.dtype in _FAST_DTYPES and not x.requires_grad and self.features[3].p < 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened conv branch (what FusionCNN concatenates): [batch, 16 * (height // 2) * (width // 2)]."""
        if not self._fused(x):
            return self.features(x.unsqueeze(1))
        conv, p = self.features[0], self.features[3].p
        train = self.training and p > 0
        if torch.is_grad_enabled() and (conv.weight.requires_grad or conv.bias.requires_grad):
            return paper_kernel.PaperFeatures.apply(x, conv.weight, conv.bias, p if train else 0.0)
        return paper_kernel.paper_features(x, conv.weight.detach(), conv.bias.detach(), p if train else 0.0)[0]

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


class PairAverage(nn.AvgPool1d):
    """AvgPool1d(2) over time, bit for bit, as two strided views added (a fraction of the cost on a CPU)."""

    def __init__(self):
        super().__init__(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[..., : x.shape[-1] // 2 * 2]  # an odd last frame is dropped, as AvgPool1d does
        return (x[..., 0::2] + x[..., 1::2]) / 2


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
        self.pool = PairAverage() if frames >= 64 else nn.Identity()
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


class AttentiveTemporalCNN(TemporalCNN):
    """TemporalCNN with attentive statistics pooling (Okabe et al. 2018; a weight per channel and frame, as in
    ECAPA-TDNN): each channel's mean and standard deviation over time weighted by a learnt softmax over frames.

    Plain statistics pooling counts every frame alike: pauses, breaths and SpecAugment's masked span as much as
    the syllables that carry the emotion; the attention may learn to look past them. It adds about 25 k weights.
    """

    def __init__(self, input_shape: tuple[int, int], n_classes: int = 8, dropout: float = 0.3, width: int = 96,
                 bottleneck: int = 64):
        super().__init__(input_shape, n_classes, dropout, width)
        self.attention = nn.Sequential(nn.Conv1d(2 * width, bottleneck, 1), nn.Tanh(),
                                       nn.Conv1d(bottleneck, 2 * width, 1))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Clip embedding [batch, 4 * width]: the attention-weighted mean and standard deviation over time."""
        maps = self.features(self.pool(x))
        weights = torch.softmax(self.attention(maps), dim=2)
        mean = (weights * maps).sum(dim=2)
        variance = (weights * maps.square()).sum(dim=2) - mean.square()
        return torch.cat([mean, variance.clamp(min=1e-8).sqrt()], dim=1)  # the floor keeps sqrt's gradient finite


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
    if name == "temporal-attention":
        return AttentiveTemporalCNN(input_shape, n_classes, dropout)
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
