"""The networks: the paper's AudioCNN / VideoCNN / FusionCNN (SPEC section 4) and ours (EmoCNN, fused)."""

from __future__ import annotations

import torch
from torch import nn

from emo.core.params import MODELS

_FAST_DTYPES = (torch.float32, torch.float64)


class PaperCNN(nn.Module):
    """The paper's AudioCNN / VideoCNN: Conv2d(1, 16, 3, 1, 1) -> ReLU -> MaxPool2d(2) -> Dropout -> Linear.

    `features` holds the literal layers (and so the parameters: checkpoints keep `features.0.*` and
    `classifier.*`). On a CPU with one torch thread (train.threads: 1), training and inference run a fused
    equivalent instead (see `_paper_features`): the same function and the same gradients (up to the order of
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
            return _PaperFeatures.apply(x, conv.weight, conv.bias, p if train else 0.0)
        return _paper_features(x, conv.weight.detach(), conv.bias.detach(), p if train else 0.0)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


_CHUNK = 4096  # pooled positions per step: keeps a step's temporaries in the L2 cache


def _chunks(batch: int, positions: int) -> list[tuple[int, int, int, int]]:
    """The steps over [batch, positions] pooled positions, (b0, b1, s0, s1): positions s0:s1 of clips b0:b1;
    a part of one clip (clips longer than `_CHUNK`, cut into near-equal parts) or whole clips."""
    if positions > _CHUNK:
        n_parts = -(-positions // _CHUNK)
        parts = [(k * positions // n_parts, (k + 1) * positions // n_parts) for k in range(n_parts)]
        return [(b, b + 1, s0, s1) for b in range(batch) for s0, s1 in parts]
    clips = _CHUNK // positions
    return [(b, min(b + clips, batch), 0, positions) for b in range(0, batch, clips)]


def _dropout_factors(n: int, p: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Dropout's n factors, 0 with probability p and 1 / (1 - p) otherwise, drawn from the global generator.

    p = 0.5 (the paper's): bytes of 0 or 2 from the top bits of random bytes (8 units per two 32-bit draws,
    where torch.rand and bernoulli_ take one per unit); otherwise from uniform [0, 1) floats, kept where >= p.
    """
    if p == 0.5:
        words = torch.empty(-(-n // 8), dtype=torch.int64, device=device).random_(-2**63, None)
        return words.view(torch.uint8)[:n].bitwise_right_shift_(7).mul_(2)
    draws = torch.rand(n, dtype=dtype, device=device)
    return torch.ge(draws, p, out=draws).mul_(1.0 / (1.0 - p))


def _patches(x: torch.Tensor) -> torch.Tensor:
    """The 4x4 neighbourhood (stride 2, zero padding 1) of each pooling window of x [batch, H, W]:
    [16, batch, H//2 * W//2], patches[4 * r + c, b, i * (W//2) + j] = padded[b, 2 * i + r, 2 * j + c]."""
    batch, height, width = x.shape
    hp, wp = height // 2, width // 2
    padded = nn.functional.pad(x, (1, 1, 1, 1))
    patches = torch.empty(16, batch, hp, wp, dtype=x.dtype, device=x.device)
    for r in range(4):
        for c in range(4):
            patches[4 * r + c].copy_(padded[:, r:r + 2 * hp:2, c:c + 2 * wp:2])
    return patches.view(16, batch, hp * wp)


def _phase_weights(weight: torch.Tensor) -> torch.Tensor:
    """[4 * C, 16]: row phase * C + channel holds the 3x3 kernel at the phase's offset in the 4x4 neighbourhood;
    phases (0, 0), (0, 1), (1, 0), (1, 1), the order in which MaxPool2d scans a window."""
    kernel = weight.view(-1, 3, 3)
    return torch.stack([nn.functional.pad(kernel, (j, 1 - j, i, 1 - i)) for i in (0, 1) for j in (0, 1)]).view(-1, 16)


def _steps(batch: int, channels: int, positions: int, blocks: int, dtype: torch.dtype,
           device: torch.device) -> list[tuple[tuple[int, int, int, int], tuple[torch.Tensor, ...]]]:
    """The steps of `_chunks` with their buffers: for a step's n = clips * width positions, a [4 * C, n] buffer
    for the phases, its four [C, n] phase blocks, and `blocks` more [C, clips, width] buffers (the layout of
    the output's [b0:b1, :, s0:s1] transposed); steps of equal shape share them."""
    chunks = _chunks(batch, positions)
    largest = max((b1 - b0) * (s1 - s0) for b0, b1, s0, s1 in chunks)
    product = torch.empty(4 * channels * largest, dtype=dtype, device=device)
    scratch = torch.empty(blocks * channels * largest, dtype=dtype, device=device)
    buffers = {}
    steps = []
    for b0, b1, s0, s1 in chunks:
        shape = (b1 - b0, s1 - s0)
        if shape not in buffers:
            n = shape[0] * shape[1]
            phases = product[:4 * channels * n].view(4 * channels, n)
            buffers[shape] = (phases, *phases.view(4, channels, *shape).unbind(0),
                              *scratch[:blocks * channels * n].view(blocks, channels, *shape).unbind(0))
        steps.append(((b0, b1, s0, s1), buffers[shape]))
    return steps


def _paper_features(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                    p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv2d(1, C, 3, padding 1) -> ReLU -> MaxPool2d(2) -> Dropout(p) -> Flatten of x [batch, H, W], fused.

    A pooling window's four conv outputs (its phases) come from one matrix product of the 16 input values of
    its 4x4 neighbourhood with the kernel placed at each phase's offset; the window's maximum is taken over
    the phases, the bias added after it (max(v + b) == max(v) + b), then ReLU and dropout run on the pooled
    map only (relu(max(..)) == max(relu(..))). The full-size conv map is never stored: the work goes in steps
    of about `_CHUNK` pooled positions, so that the temporaries stay in cache. Returns [batch,
    C * H//2 * W//2] in Flatten's (C, H, W) order, and the neighbourhoods (for the backward pass). Dropout
    (p > 0) takes its draws from the global generator.
    """
    batch, channels = x.shape[0], weight.shape[0]
    patches, phase_weights = _patches(x), _phase_weights(weight)
    positions = patches.shape[2]
    columns, bias_column = patches.view(16, batch * positions), bias.view(channels, 1, 1)
    out = torch.empty(batch, channels, positions, dtype=x.dtype, device=x.device)
    if p > 0:  # one factor per output unit, [C, n] blocks in the order of the steps
        dropout = _dropout_factors(out.numel(), p, x.dtype, x.device)
    for (b0, b1, s0, s1), (phases, v0, v1, v2, v3, first, second, pooled) in _steps(
            batch, channels, positions, 3, x.dtype, x.device):
        start, stop = b0 * positions + s0, (b1 - 1) * positions + s1
        torch.mm(phase_weights, columns[:, start:stop], out=phases)
        torch.maximum(v0, v1, out=first)
        torch.maximum(v2, v3, out=second)
        torch.maximum(first, second, out=pooled)
        pooled.add_(bias_column)
        if p > 0:
            torch.gt(pooled, 0, out=first)  # ReLU's factor
            drawn = dropout[channels * start:channels * stop].view(first.shape)
            first.mul_(second.copy_(drawn) if drawn.dtype != x.dtype else drawn)
            torch.mul(pooled, first, out=out[b0:b1, :, s0:s1].transpose(0, 1))
        else:
            torch.clamp_min(pooled, 0, out=out[b0:b1, :, s0:s1].transpose(0, 1))
    return out.view(batch, channels * positions), patches


def _paper_features_backward(grad: torch.Tensor, patches: torch.Tensor, weight: torch.Tensor, out: torch.Tensor,
                             p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of `_paper_features` w.r.t. the conv weight and bias, given its neighbourhoods and output.

    Each step recomputes its phases (the same product, so the same values) to find which phase won each
    window (the first maximum, as in MaxPool2d); an output unit passes its gradient where it is positive
    (ReLU kept it and dropout did not drop it), times dropout's 1 / (1 - p), to the winning phase; a phase's
    gradients meet the 16 input values in one matrix product.
    """
    _, batch, positions = patches.shape
    phase_weights, channels, dtype = _phase_weights(weight), weight.shape[0], patches.dtype
    columns = patches.view(16, batch * positions)
    grad, out = grad.reshape(batch, channels, positions), out.view(batch, channels, positions)
    steps = _steps(batch, channels, positions, 5, dtype, patches.device)
    largest = max(buffers[0].shape[1] for _, buffers in steps)
    bias_sums = torch.zeros(channels, largest, dtype=dtype, device=patches.device)
    phase_grad = torch.zeros(4 * channels, 16, dtype=dtype, device=patches.device)
    for (b0, b1, s0, s1), (phases, v0, v1, v2, v3, first, second, later01, later23, later_pair) in steps:
        start, stop = b0 * positions + s0, (b1 - 1) * positions + s1
        torch.mm(phase_weights, columns[:, start:stop], out=phases)
        torch.maximum(v0, v1, out=first)
        torch.maximum(v2, v3, out=second)
        torch.gt(v1, v0, out=later01)  # 1.0 where the later of a pair won (ties go to the earlier)
        torch.gt(v3, v2, out=later23)
        torch.gt(second, first, out=later_pair)
        g0, g1, g2, g3 = v0, v1, v2, v3  # the phases' gradients, in their place
        torch.gt(out[b0:b1, :, s0:s1].transpose(0, 1), 0, out=first)
        torch.mul(grad[b0:b1, :, s0:s1].transpose(0, 1), first, out=g1)
        if p > 0:
            g1.mul_(1.0 / (1.0 - p))
        bias_sums[:, :phases.shape[1]].add_(g1.view(channels, -1))
        torch.mul(g1, later_pair, out=g2)  # to phases 2 and 3
        torch.sub(g1, g2, out=g0)  # to phases 0 and 1
        torch.mul(g2, later23, out=g3)
        g2.sub_(g3)
        torch.mul(g0, later01, out=g1)
        g0.sub_(g1)
        phase_grad.addmm_(phases, columns[:, start:stop].t())
    per_phase = phase_grad.view(2, 2, channels, 4, 4)
    kernel_grad = sum(per_phase[i, j, :, i:i + 3, j:j + 3] for i in (0, 1) for j in (0, 1))
    return kernel_grad.reshape(channels, 1, 3, 3), bias_sums.sum(1)


class _PaperFeatures(torch.autograd.Function):
    """Autograd for `_paper_features`: gradients for the conv weight and bias (the input needs none)."""

    @staticmethod
    def forward(ctx, x, weight, bias, p):
        out, patches = _paper_features(x, weight, bias, p)
        ctx.save_for_backward(patches, weight, out)
        ctx.p = p
        return out

    @staticmethod
    def backward(ctx, grad):
        weight_grad, bias_grad = _paper_features_backward(grad, *ctx.saved_tensors, ctx.p)
        return None, weight_grad, bias_grad, None


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
