import math

import numpy as np
import pytest
import torch

import saddlebook as sb
from saddlebook.nets import ACTIVATIONS, SMOOTH, derivative, get_activation, phi, quadratic

F64 = torch.float64


def test_registry_keys_and_smooth_subset():
    expected = {"identity", "relu", "leaky_relu", "tanh", "sin", "erf", "gelu", "silu",
                "sigmoid", "softplus", "quadratic", "mish", "gelu_tanh", "logsigmoid"}
    assert set(ACTIVATIONS) == expected
    assert set(SMOOTH) == expected - {"relu", "leaky_relu"}


def test_phi_tanh_taylor():
    z = torch.tensor([1e-2, -1e-2], dtype=F64)
    ratio = phi("tanh", z) / z**3
    assert torch.allclose(ratio, torch.full_like(ratio, -2.0 / 3.0), rtol=1e-3, atol=0)


def test_phi_erf_and_sin_leading_terms():
    z = torch.tensor([1e-2], dtype=F64)
    assert math.isclose(float(phi("sin", z) / z**3), -1.0 / 3.0, rel_tol=1e-3)
    assert math.isclose(float(phi("erf", z) / z**3), -4.0 / (3.0 * math.sqrt(math.pi)), rel_tol=1e-3)


def test_phi_zero_for_homogeneous():
    z = torch.linspace(-3, 3, 101, dtype=F64)
    assert torch.equal(phi("identity", z), torch.zeros_like(z))
    away = z[z.abs() > 1e-9]
    assert phi("relu", away).abs().max() == 0
    assert phi("leaky_relu", away).abs().max() < 1e-15


def test_phi_quadratic_exact():
    z = torch.linspace(-2, 2, 41, dtype=F64)
    for a in (0.3, -1.7, 0.5):
        assert torch.allclose(phi(quadratic(a), z), a * z**2, rtol=1e-14, atol=1e-15)
    assert torch.allclose(phi("quadratic", z), 0.5 * z**2, rtol=1e-14, atol=1e-15)
    assert quadratic(0.3).__name__ == "quadratic(a=0.3)"


def test_phi_sigmoid_constant_term():
    assert math.isclose(float(phi("sigmoid", torch.zeros(1, dtype=F64))), -0.5)
    assert math.isclose(float(phi("softplus", torch.zeros(1, dtype=F64))), -math.log(2.0))


def test_derivative_matches_closed_form_and_keeps_dtype():
    z = torch.linspace(-2, 2, 17, dtype=F64)
    d = derivative("tanh", z)
    assert d.dtype == F64 and d.shape == z.shape and not d.requires_grad
    assert torch.allclose(d, 1 - torch.tanh(z) ** 2, rtol=1e-14)
    z32 = z.to(torch.float32).reshape(1, 17)
    assert derivative("sin", z32).dtype == torch.float32
    assert derivative("sin", z32).shape == (1, 17)


def test_derivative_nested_gives_second_derivative():
    z = torch.tensor([0.3], dtype=F64, requires_grad=True)
    d1 = derivative("tanh", z)
    (d2,) = torch.autograd.grad(d1.sum(), z)
    t = math.tanh(0.3)
    assert math.isclose(float(d2), -2 * t * (1 - t * t), rel_tol=1e-12)


def test_unknown_name_error_lists_allowed():
    with pytest.raises(ValueError) as exc:
        get_activation("foo")
    msg = str(exc.value)
    assert "'foo'" in msg and "allowed" in msg and "relu" in msg and "tanh" in msg
    with pytest.raises(ValueError):
        phi("foo", torch.zeros(1))


def test_non_callable_raises_type_error_naming_sigma():
    with pytest.raises(TypeError, match="sigma"):
        get_activation(3.0)


def test_user_callable_works():
    def cube_plus(z):
        return z + z**3

    name, fn = get_activation(cube_plus)
    assert name == "cube_plus" and fn is cube_plus
    z = torch.linspace(-1, 1, 11, dtype=F64)
    assert torch.allclose(sb.phi(cube_plus, z), 2 * z**3, atol=1e-15)
    name, _ = get_activation(torch.nn.Tanh())
    assert name == "Tanh"


# The registry: σ and σ' together.
GRID = torch.cat([torch.linspace(-4, 4, 81, dtype=F64), torch.tensor([0.0, -0.0, 1e-9, -1e-9], dtype=F64)])


def test_registry_entries_carry_sigma_and_keep_the_order():
    from saddlebook.nets import REGISTRY, ActivationSpec

    assert list(REGISTRY) == list(ACTIVATIONS)
    for name, spec in REGISTRY.items():
        assert isinstance(spec, ActivationSpec) and spec.name == name and spec.fn is ACTIVATIONS[name]


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_registry_derivative_equals_autograd(name):
    from saddlebook.nets import REGISTRY

    closed = REGISTRY[name].derivative(GRID)
    assert closed.dtype == F64 and closed.shape == GRID.shape
    # Round-off only, torch's kink conventions included (ReLU'(0) = 0, leaky ReLU'(0) = 0.01).
    assert torch.allclose(closed, derivative(name, GRID), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_fused_pair_equals_sigma_and_its_derivative(name):
    from saddlebook.nets import REGISTRY, activation_pair

    label, pair = activation_pair(name)
    assert label == name and pair is REGISTRY[name].pair
    s, ds = pair(GRID)
    assert torch.allclose(s, ACTIVATIONS[name](GRID), rtol=1e-15, atol=1e-15)
    assert torch.allclose(ds, derivative(name, GRID), rtol=1e-14, atol=1e-15)
    s32, ds32 = pair(GRID.to(torch.float32).reshape(5, 17))
    assert s32.dtype == ds32.dtype == torch.float32 and s32.shape == ds32.shape == (5, 17)


def test_activation_pair_for_callables():
    from saddlebook.nets import activation_pair

    q = quadratic(-1.3)
    name, pair = activation_pair(q)
    s, ds = pair(GRID)
    assert name == "quadratic(a=-1.3)"
    assert torch.allclose(s, q(GRID), rtol=1e-15, atol=1e-15)
    assert torch.allclose(ds, 1.0 - 2.6 * GRID, rtol=1e-15, atol=1e-15)

    def cube_plus(z):
        return z + z**3

    name, pair = activation_pair(cube_plus)  # not in the registry: σ' by autograd
    s, ds = pair(GRID)
    assert name == "cube_plus" and torch.equal(s, cube_plus(GRID))
    assert torch.equal(ds, derivative(cube_plus, GRID))


def test_activation_pair_unknown_name_error_unchanged():
    from saddlebook.nets import activation_pair

    with pytest.raises(ValueError) as exc:
        activation_pair("foo")
    with pytest.raises(ValueError) as ref:
        get_activation("foo")
    assert str(exc.value) == str(ref.value)
    with pytest.raises(TypeError, match="sigma"):
        activation_pair(3.0)


def test_dynamics_and_theory_use_the_registry_pairs():
    from saddlebook.dynamics import NetworkBatch, _batch
    from saddlebook.nets import REGISTRY, activation_pair
    from saddlebook.theory import ReducedChain

    assert _batch.activation_pair is activation_pair  # the batch problem takes the registry's pairs
    x, y = torch.zeros(4, 2, dtype=F64), torch.zeros(4, dtype=F64)
    assert NetworkBatch("gelu", x, y).pair is REGISTRY["gelu"].pair
    assert ReducedChain("gelu", x, y, width=3).pair is REGISTRY["gelu"].pair


# The smooth activations of torch.nn.functional added to the registry.
def test_new_registry_entries_are_torch_functions():
    import torch.nn.functional as F

    z = GRID
    assert torch.equal(ACTIVATIONS["mish"](z), F.mish(z))
    assert torch.equal(ACTIVATIONS["gelu_tanh"](z), F.gelu(z, approximate="tanh"))
    assert torch.equal(ACTIVATIONS["logsigmoid"](z), F.logsigmoid(z))
    assert "tanhshrink" not in ACTIVATIONS  # sigma'(0) = 0: an expression function only


# Expressions in z, through the resolvers every module uses.
def test_get_activation_resolves_expressions():
    from saddlebook.nets import Expression, parse_activation

    name, fn = get_activation("atan(z)")
    assert name == "atan(z)" and isinstance(fn, Expression)
    assert torch.equal(fn(GRID), torch.atan(GRID))
    assert parse_activation("atan(z)") == fn
    assert parse_activation("tanh") is ACTIVATIONS["tanh"]  # a registry name wins over the expression syntax
    assert get_activation("z")[0] == "z"
    assert torch.allclose(phi("atan(z)", GRID), phi(torch.atan, GRID), rtol=1e-15, atol=1e-16)
    assert torch.allclose(derivative("z*tanh(softplus(z))", GRID), derivative("mish", GRID), rtol=1e-14, atol=1e-15)


def test_refusals_name_the_callers_parameter_registry_and_syntax():
    from saddlebook.nets import parse_activation

    with pytest.raises(ValueError) as err:
        get_activation("atan(x)", param="activation")
    msg = str(err.value)
    assert msg.startswith("parameter 'activation' = 'atan(x)': unknown name 'x'")
    assert "registry name (identity, relu" in msg and "an expression in z" in msg and "atan" in msg
    with pytest.raises(ValueError, match=r"^parameter 'sigma' = 'foo'"):
        get_activation("foo")
    with pytest.raises(ValueError, match="must be a string"):
        parse_activation(12345)
    with pytest.raises(TypeError, match="parameter 'activation'.*expression in z"):
        get_activation(3.0, param="activation")


def test_activation_pair_of_an_expression_uses_its_derivative_rules():
    from saddlebook.nets import activation_pair

    name, pair = activation_pair("z*tanh(softplus(z))")
    assert name == "z*tanh(softplus(z))"
    s, ds = pair(GRID)
    assert torch.allclose(s, F64_mish(GRID), rtol=1e-15, atol=1e-16)
    assert torch.allclose(ds, derivative("mish", GRID), rtol=1e-14, atol=1e-15)
    s32, ds32 = pair(GRID.to(torch.float32))
    assert s32.dtype == ds32.dtype == torch.float32


def F64_mish(z):
    return z * torch.tanh(torch.logaddexp(z, torch.zeros((), dtype=z.dtype)))


def test_sweep_and_batch_take_expressions():
    from saddlebook.dynamics import NetworkBatch, SweepConfig
    from saddlebook.errors import ParameterError
    from saddlebook.nets import Expression

    x, y = torch.randn(8, 3, dtype=F64, generator=torch.Generator().manual_seed(0)), torch.zeros(8, dtype=F64)
    batch = NetworkBatch("atan(z)", x, y)
    assert batch.name == "atan(z)" and batch.pair.__self__ == Expression("atan(z)")
    cfg = SweepConfig("atan(z)", depth=3, eps=[0.1])
    assert cfg.activation == "atan(z)" and cfg.activation_name == "atan(z)"
    with pytest.raises(ParameterError, match=r"^parameter 'activation' = 'atan\(x\)'"):
        SweepConfig("atan(x)")
    with pytest.raises(ParameterError, match="parameter 'activation'"):
        SweepConfig("relu(z")


def test_an_expression_gives_the_same_sweep_as_its_callable():
    import saddlebook as sb

    kw = dict(depth=3, eps=[0.05], width=4, input_dim=3, n_samples=64, seeds=[0])
    by_text = sb.sweep("atan(z)", **kw)
    by_callable = sb.sweep(torch.atan, **kw)
    a, b = np.asarray(by_text.tau, dtype=float), np.asarray(by_callable.tau, dtype=float)
    assert np.all(np.isfinite(a)) and np.allclose(a, b, rtol=1e-8, atol=0)
