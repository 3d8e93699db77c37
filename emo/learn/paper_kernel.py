"""The fused kernel of the paper's conv branch on a CPU thread: Conv2d(1, 16, 3, padding 1) -> ReLU -> MaxPool2d(2)
-> Dropout -> Flatten in one pass over cache-sized steps, with its own backward (what `PaperCNN` runs when it can).
"""

from __future__ import annotations

import torch
from torch import nn

CHUNK = 4096  # pooled positions per step: keeps a step's temporaries in the L2 cache



def _chunks(batch: int, positions: int) -> list[tuple[int, int, int, int]]:
    """The steps over [batch, positions] pooled positions, (b0, b1, s0, s1): positions s0:s1 of clips b0:b1;
    a part of one clip (clips longer than `CHUNK`, cut into near-equal parts) or whole clips."""
    if positions > CHUNK:
        n_parts = -(-positions // CHUNK)
        parts = [(k * positions // n_parts, (k + 1) * positions // n_parts) for k in range(n_parts)]
        return [(b, b + 1, s0, s1) for b in range(batch) for s0, s1 in parts]
    clips = CHUNK // positions
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



def paper_features(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                    p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv2d(1, C, 3, padding 1) -> ReLU -> MaxPool2d(2) -> Dropout(p) -> Flatten of x [batch, H, W], fused.

    A pooling window's four conv outputs (its phases) come from one matrix product of the 16 input values of
    its 4x4 neighbourhood with the kernel placed at each phase's offset; the window's maximum is taken over
    the phases, the bias added after it (max(v + b) == max(v) + b), then ReLU and dropout run on the pooled
    map only (relu(max(..)) == max(relu(..))). The full-size conv map is never stored: the work goes in steps
    of about `CHUNK` pooled positions, so that the temporaries stay in cache. Returns [batch,
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



def paper_features_backward(grad: torch.Tensor, patches: torch.Tensor, weight: torch.Tensor, out: torch.Tensor,
                             p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of `paper_features` w.r.t. the conv weight and bias, given its neighbourhoods and output.

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



class PaperFeatures(torch.autograd.Function):
    """Autograd for `paper_features`: gradients for the conv weight and bias (the input needs none)."""

    @staticmethod
    def forward(ctx, x, weight, bias, p):
        out, patches = paper_features(x, weight, bias, p)
        ctx.save_for_backward(patches, weight, out)
        ctx.p = p
        return out

    @staticmethod
    def backward(ctx, grad):
        weight_grad, bias_grad = paper_features_backward(grad, *ctx.saved_tensors, ctx.p)
        return None, weight_grad, bias_grad, None
