"""The networks: speed-ups that must not change their arithmetic, and the attentive pooling."""

import pytest
import torch
from torch import nn

from emo.learn.models import AttentiveTemporalCNN, FusionCNN, PairAverage, TemporalCNN, build


@pytest.mark.parametrize("frames", [216, 217, 64, 3])
def test_pair_average_is_avgpool1d_bit_for_bit(frames):
    x = torch.randn(4, 30, frames, requires_grad=True)
    fast, slow = PairAverage()(x), nn.AvgPool1d(2)(x)
    grad = torch.randn_like(slow)
    assert torch.equal(fast, slow)
    assert torch.equal(torch.autograd.grad(fast, x, grad)[0], torch.autograd.grad(slow, x, grad)[0])


@pytest.mark.parametrize("shape", [(64, 188), (30, 188), (135, 32), (4, 5)])
def test_attentive_pooling_takes_any_shape_and_fuses(shape):
    model = build("temporal-attention", shape)
    assert isinstance(model, AttentiveTemporalCNN) and model(torch.randn(3, *shape)).shape == (3, 8)
    assert model.embed(torch.randn(3, *shape)).shape == (3, model.width) == (3, TemporalCNN(shape).width)
    fusion = build("temporal-attention", [shape, (135, 32)])
    assert isinstance(fusion, FusionCNN) and fusion(torch.randn(2, *shape), torch.randn(2, 135, 32)).shape == (2, 8)


def test_attentive_pooling_weights_frames_and_is_plain_statistics_when_uniform():
    torch.manual_seed(0)
    model = AttentiveTemporalCNN((30, 100))  # training mode: batch norm scales the maps to about 1
    x = torch.randn(4, 30, 100)
    maps = model.features(model.pool(x))
    with torch.no_grad():
        learnt = model.embed(x)
        model.attention[-1].weight.zero_()
        model.attention[-1].bias.zero_()  # equal scores: every frame weighs 1 / frames
        uniform = model.embed(x)
    channels = maps.shape[1]
    assert torch.allclose(uniform[:, :channels], maps.mean(dim=2), atol=1e-5)
    assert torch.allclose(uniform[:, channels:], maps.std(dim=2, unbiased=False), atol=2e-4)  # the floor: 1e-4
    assert not torch.allclose(learnt, uniform, atol=1e-3)  # a random attention does not weigh frames alike
    model.embed(torch.zeros(2, 30, 100)).sum().backward()  # constant maps: the variance floor keeps sqrt finite
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
