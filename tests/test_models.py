"""Speed-ups of the networks that must not change their arithmetic."""

import pytest
import torch
from torch import nn

from emo.learn.models import PairAverage


@pytest.mark.parametrize("frames", [216, 217, 64, 3])
def test_pair_average_is_avgpool1d_bit_for_bit(frames):
    x = torch.randn(4, 30, frames, requires_grad=True)
    fast, slow = PairAverage()(x), nn.AvgPool1d(2)(x)
    grad = torch.randn_like(slow)
    assert torch.equal(fast, slow)
    assert torch.equal(torch.autograd.grad(fast, x, grad)[0], torch.autograd.grad(slow, x, grad)[0])
