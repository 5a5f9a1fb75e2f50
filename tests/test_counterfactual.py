"""Counterfactual switches: each changes exactly the piece of mathematics it names."""
import pytest
import torch

import saddlebook as sb
from saddlebook.book import counterfactual
from saddlebook.data import sample_moment
from saddlebook.dynamics import NetworkBatch, gradient


@pytest.fixture()
def switch(monkeypatch):
    def on(name):
        monkeypatch.setenv(counterfactual.ENV, name)
    return on


def _net(seed=0):
    gen = torch.Generator().manual_seed(seed)
    shapes, scales = ((4, 3), (4, 4), (1, 4)), (1.0, 0.1, 1.0)
    ws = [torch.randn(*sh, generator=gen, dtype=torch.float64) * s for sh, s in zip(shapes, scales)]
    x = torch.randn(64, 3, generator=gen, dtype=torch.float64)
    return ws, x, torch.tanh(x[:, 0])


def test_unknown_switch_is_refused(switch):
    switch("flat_earth")
    with pytest.raises(ValueError, match="allowed: gradient_scale"):
        counterfactual.current()
    with pytest.raises(ValueError, match="unknown counterfactual"):
        counterfactual.active("flat_earth")


def test_gradient_scale_touches_only_the_first_layer(switch):
    ws, x, y = _net()
    true = gradient(ws, "tanh", x, y)
    switch("gradient_scale")
    bent = gradient(ws, "tanh", x, y)
    assert torch.allclose(bent[0], 1.25 * true[0], rtol=1e-14)
    assert all(torch.equal(a, b) for a, b in zip(bent[1:], true[1:]))


def test_time_rescale_slows_every_gradient_by_the_smallest_norm(switch):
    ws, x, y = _net()
    true = gradient(ws, "tanh", x, y)
    switch("time_rescale")
    bent = gradient(ws, "tanh", x, y)
    factor = min(float(w.norm()) for w in ws) ** 0.2
    assert all(torch.allclose(b, factor * a, rtol=1e-14) for a, b in zip(true, bent))


def test_batched_gradient_follows_the_same_switches(switch):
    ws, x, y = _net()
    batch = NetworkBatch("tanh", x, y)
    stacked = [w.unsqueeze(0) for w in ws]
    true = batch.evaluate(stacked)[2]
    for name, expect in (("gradient_scale", [1.25, 1.0, 1.0]),
                         ("time_rescale", [min(float(w.norm()) for w in ws) ** 0.2] * 3)):
        switch(name)
        bent = batch.evaluate(stacked)[2]
        for a, b, f in zip(true, bent, expect):
            assert torch.allclose(b, f * a, rtol=1e-12)


def test_phi_zero_makes_every_activation_class_a(switch):
    assert sb.classify("tanh").label == "B"
    switch("phi_zero")
    assert float(sb.phi("tanh", torch.tensor([0.5])).abs()) == 0.0
    assert sb.classify("tanh").label == "A"


def test_moment_switches(switch):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2000, 3, generator=gen, dtype=torch.float64)
    y = torch.tanh(x[:, 0] + 0.5 * x[:, 1])
    m = sample_moment(x, y)
    switch("variance_clock")
    v = sample_moment(x, y)
    assert float(v.norm()) == pytest.approx(float((y * y).mean()) ** 0.5, rel=1e-12)
    assert float(torch.dot(v, m) / (v.norm() * m.norm())) == pytest.approx(1.0, abs=1e-12)
    switch("wrong_moment")
    w = sample_moment(x, y)
    assert torch.allclose(w, ((y**3) @ x) / len(y) / (y * y).mean(), rtol=1e-12)
