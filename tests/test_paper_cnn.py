"""PaperCNN's fused CPU path computes what its literal layers compute: outputs, gradients, dropout."""

import copy

import pytest
import torch
from torch import nn

import emo.learn.paper_kernel
from emo.learn.models import FusionCNN, PaperCNN, build

SHAPES = [(128, 216), (30, 216), (13, 79), (7, 5), (2, 3), (3, 2), (5, 130)]


@pytest.fixture(autouse=True)
def _one_thread():
    """The fused path runs on one torch thread (as training does: train.threads 1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def literal(model: PaperCNN, x: torch.Tensor) -> torch.Tensor:
    """The paper's layers spelt out, on the model's own parameters."""
    conv, pool, drop, flat = model.features[0], model.features[2], model.features[3], model.features[4]
    return model.classifier(flat(drop(pool(torch.relu(conv(x.unsqueeze(1)))))))


def pair(shape, dropout=0.5, dtype=torch.float32, seed=0):
    """A fused model and a reference copy with the same parameters."""
    torch.manual_seed(seed)
    fast = PaperCNN(shape, dropout=dropout).to(dtype)
    slow = copy.deepcopy(fast)
    slow.reference = True
    return fast, slow


def inputs(shape, batch=4, dtype=torch.float32, seed=1):
    """Random values with constant patches (ties inside pooling windows): zeros as in digital silence, a
    constant level, and one whole clip constant."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *shape, generator=generator, dtype=dtype)
    height, width = shape
    x[0, : height // 2, : width // 2] = 0.0
    x[1, height // 3:, width // 3:] = 0.75
    x[2] = -0.5
    return x


def test_reference_builder_runs_the_literal_layers():
    model = PaperCNN((30, 216), reference=True)
    x = inputs((30, 216))
    assert not model._fused(x) and PaperCNN((30, 216))._fused(x)
    model.eval()
    assert torch.equal(model(x), literal(model, x))
    assert torch.equal(model.embed(x), model.features(x.unsqueeze(1)))


@pytest.mark.parametrize("shape", SHAPES)
def test_eval_outputs_equal_the_literal_layers(shape):
    fast, slow = pair(shape)
    fast.eval(), slow.eval()
    x = inputs(shape)
    assert fast._fused(x)
    with torch.no_grad():
        expected = literal(slow, x)
        embedding = fast.embed(x)
        out = fast(x)
    assert embedding.shape == (4, fast.width)
    torch.testing.assert_close(embedding, slow.features(x.unsqueeze(1)), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    with torch.enable_grad():  # the autograd path gives the same values
        torch.testing.assert_close(fast(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_training_gradients_equal_the_literal_layers(shape, dtype):
    fast, slow = pair(shape, dropout=0.0, dtype=dtype)
    fast.train(), slow.train()
    x, y = inputs(shape, batch=5, dtype=dtype), torch.tensor([0, 1, 2, 3, 7])
    grads, losses = [], []
    for model in (fast, slow):
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        losses.append(loss.detach())
        grads.append({name: p.grad for name, p in model.named_parameters()})
    tolerance = {torch.float32: 1e-4, torch.float64: 1e-10}[dtype]
    torch.testing.assert_close(losses[0], losses[1], rtol=tolerance, atol=0)
    assert grads[0].keys() == grads[1].keys() == {"features.0.weight", "features.0.bias", "classifier.weight",
                                                  "classifier.bias"}
    for name, expected in grads[1].items():
        scale = expected.abs().max().item()
        torch.testing.assert_close(grads[0][name], expected, rtol=tolerance, atol=tolerance * scale, msg=name)


def test_ties_go_to_the_first_maximum_of_a_window_as_in_max_pool2d():
    """With only the kernel's centre set, equal inputs give equal conv outputs; which one wins a window then
    decides the gradient of the other kernel taps (they see the winner's neighbours)."""
    shape = (12, 17)
    fast, slow = pair(shape, dropout=0.0, dtype=torch.float64)
    with torch.no_grad():
        for model in (fast, slow):
            model.features[0].weight.zero_()
            model.features[0].weight[0, 0, 1, 1] = 1.0
            model.features[0].weight[1, 0, 1, 1] = -1.0
    generator = torch.Generator().manual_seed(3)
    x = torch.randint(0, 3, (6, *shape), generator=generator).double()  # many ties, different neighbours
    y = torch.arange(6) % 8
    grads = []
    for model in (fast, slow):
        nn.functional.cross_entropy(model(x), y).backward()
        grads.append(model.features[0].weight.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-12)
    assert grads[1][0].abs().sum() > 0


def test_one_adam_step_matches():
    fast, slow = pair((30, 216), dropout=0.0)
    x, y = inputs((30, 216), batch=8), torch.arange(8)
    for model in (fast, slow):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    for (name, a), b in zip(fast.named_parameters(), slow.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_dropout_zeroes_a_share_p_and_scales_survivors(p):
    shape = (30, 216)
    fast, _ = pair(shape, dropout=p)
    x = inputs(shape, batch=16)
    fast.eval()
    with torch.no_grad():
        pooled = fast.embed(x)  # ReLU'd pooled map, no dropout
    fast.train()
    torch.manual_seed(7)
    with torch.no_grad():
        dropped = fast.embed(x)
    torch.manual_seed(7)
    again = fast.embed(x)  # the autograd path draws the same units
    assert again.requires_grad and torch.equal(again.detach(), dropped)
    positive = pooled > 0
    assert positive.sum() > 20000
    kept = dropped[positive] != 0
    assert abs(1 - kept.float().mean().item() - p) < 0.02
    torch.testing.assert_close(dropped[positive][kept], pooled[positive][kept] / (1 - p))
    assert torch.all(dropped[~positive] == 0)
    torch.manual_seed(8)
    with torch.no_grad():
        assert not torch.equal(fast.embed(x), dropped)


def test_dropout_masks_are_independent_of_the_unit():
    """Every unit is dropped at the same rate, whatever its channel or position (no striping from the draws)."""
    fast, _ = pair((6, 10), dropout=0.5)
    fast.train()
    torch.manual_seed(0)
    with torch.no_grad():
        x = torch.ones(4000, 6, 10) + torch.rand(4000, 6, 10)  # every pooled unit positive
        fast.features[0].weight.abs_()
        fast.features[0].bias.fill_(1.0)
        kept = (fast.embed(x) != 0).double().mean(0)
    assert kept.shape == (16 * 3 * 5,)
    assert ((kept - 0.5).abs() < 0.04).all()


def test_literal_layers_run_where_the_fused_path_does_not_apply():
    fast, slow = pair((8, 9), dropout=0.0)
    fast.eval(), slow.eval()
    x = inputs((8, 9)).requires_grad_()
    assert not fast._fused(x)  # the fused path gives no input gradient
    fast(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not fast._fused(torch.zeros(2, 8, 9, dtype=torch.float16))
    assert not PaperCNN((8, 9), dropout=1.0)._fused(torch.zeros(2, 8, 9))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert not fast._fused(torch.zeros(2, 8, 9))
    finally:
        torch.set_num_threads(threads)


def test_state_dict_is_the_literal_one_and_loads_both_ways():
    fast, _ = pair((30, 216))
    assert list(fast.state_dict()) == ["features.0.weight", "features.0.bias", "classifier.weight",
                                       "classifier.bias"]
    other = PaperCNN((30, 216), reference=True)
    other.load_state_dict(fast.state_dict())
    fast.eval(), other.eval()
    x = inputs((30, 216))
    with torch.no_grad():
        torch.testing.assert_close(fast(x), other(x), rtol=1e-5, atol=1e-6)


def test_paper_fusion_keeps_embed_width_and_gradients():
    fusion = build("paper", [(30, 216), (32, 20)])
    assert isinstance(fusion, FusionCNN)
    reference = copy.deepcopy(fusion)
    for branch in reference.branches:
        branch.reference = True
    for model in (fusion, reference):
        for branch in model.branches:
            branch.features[3].p = 0.0
    audio, video = inputs((30, 216), batch=3), inputs((32, 20), batch=3, seed=2)
    for branch, x in zip(fusion.branches, (audio, video), strict=True):
        assert branch.embed(x).shape == (3, branch.width)
    y = torch.tensor([1, 2, 3])
    grads = []
    for model in (fusion, reference):
        model.train()
        nn.functional.cross_entropy(model(audio, video), y).backward()
        grads.append([p.grad for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())


@pytest.mark.parametrize("chunk", [7, 100, 500, 5000])
def test_steps_of_any_size_give_the_same_result(monkeypatch, chunk):
    """Parts of a clip (positions 234 > chunk) or groups of whole clips, the last one smaller (5 clips)."""
    fast, slow = pair((13, 79), dropout=0.0)
    x, y = inputs((13, 79), batch=5), torch.arange(5)
    monkeypatch.setattr(emo.learn.paper_kernel, "CHUNK", chunk)
    for model in (fast, slow):
        model.train()
        nn.functional.cross_entropy(model(x), y).backward()
    for a, b in zip(fast.parameters(), slow.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-4 * b.grad.abs().max().item())
    fast.eval(), slow.eval()
    with torch.no_grad():
        torch.testing.assert_close(fast(x), slow(x), rtol=1e-5, atol=1e-6)
