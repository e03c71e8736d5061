"""The 2x2 average pooling with its own backward pass gives F.avg_pool2d's values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from audiocnn.models import create_model
from audiocnn.models.layers import avg_pool_2x2, pool2d


def _scaled_randn(*shape: int, dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(*shape, generator=g) * torch.rand(*shape, generator=g).mul(8).exp()
    return x.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (2, 3, 9, 7), (1, 16, 101, 64), (3, 2, 2, 3)])
def test_values_and_gradients_are_avg_pool2ds_bits(dtype, shape):
    x = _scaled_randn(*shape, dtype=dtype)
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    ya, yb = avg_pool_2x2(a), F.avg_pool2d(b, 2)
    assert ya.dtype == yb.dtype and ya.shape == yb.shape
    assert torch.equal(ya, yb)
    g = _scaled_randn(*yb.shape, dtype=dtype)
    ya.backward(g)
    yb.backward(g)
    assert torch.equal(a.grad, b.grad)  # odd last row/column: zero gradient in both


def test_pooling_without_a_gradient_and_too_small_maps_behave_as_avg_pool2d():
    x = torch.randn(2, 3, 9, 7)
    with torch.no_grad():
        assert torch.equal(avg_pool_2x2(x.requires_grad_()), F.avg_pool2d(x, 2))
    with pytest.raises(RuntimeError):
        avg_pool_2x2(torch.randn(1, 1, 1, 5, requires_grad=True))


@pytest.mark.parametrize("pool_type", ["avg", "avg+max"])
def test_pool2d_takes_the_fast_path_for_2x2_only(pool_type, monkeypatch):
    calls = []
    import audiocnn.models.layers as layers

    monkeypatch.setattr(layers._AvgPool2x2, "apply", lambda x: calls.append(x.shape) or F.avg_pool2d(x, 2))
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    pool2d(x, (2, 2), pool_type)
    pool2d(x, 2, pool_type)
    pool2d(x, (2, 1), pool_type)
    assert len(calls) == 2


@pytest.mark.parametrize("name", ["cnn6_lite", "resnet22"])
def test_a_training_step_has_the_gradients_of_avg_pool2d(name, monkeypatch):
    import audiocnn.models.layers as layers

    x = 0.1 * torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    grads, fast_calls = [], []
    fast_apply = layers._AvgPool2x2.apply
    for fast in (True, False):
        torch.manual_seed(0)
        model = create_model(name, num_classes=5).train()
        if fast:
            monkeypatch.setattr(layers._AvgPool2x2, "apply", lambda t: fast_calls.append(1) or fast_apply(t))
        else:
            monkeypatch.setattr(layers._AvgPool2x2, "apply", lambda t: F.avg_pool2d(t, 2))
        torch.manual_seed(1)  # the same dropout masks in both passes
        model(x)["logits"].square().sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert fast_calls and grads[0].keys() == grads[1].keys() and grads[0]
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n], rtol=0, atol=0, msg=n)
