import math

import pytest
import torch

import saddlebook as sb
from saddlebook.data import angle_blind_gamma, feature_geometry, first_hermite, population_moment

F64 = torch.float64


def test_gaussian_inputs_seed_and_covariance():
    a = sb.gaussian_inputs(50, 3, seed=7)
    b = sb.gaussian_inputs(50, 3, seed=7)
    assert a.shape == (50, 3) and a.dtype == F64 and torch.equal(a, b)
    cov = torch.tensor([[4.0, 1.0], [1.0, 1.0]], dtype=F64)
    x = sb.gaussian_inputs(200000, 2, cov=cov, seed=0)
    assert torch.allclose(x.T @ x / x.shape[0], cov, atol=0.05)
    with pytest.raises(ValueError, match="cov"):
        sb.gaussian_inputs(10, 3, cov=cov)
    with pytest.raises(ValueError, match="positive semi-definite"):
        sb.gaussian_inputs(10, 2, cov=torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=F64))


def test_whitened_inputs_exact_second_moment():
    x = sb.whitened_inputs(64, 5, seed=1)
    assert torch.allclose(x.T @ x / 64, torch.eye(5, dtype=F64), atol=1e-13, rtol=0)
    assert torch.equal(x, sb.whitened_inputs(64, 5, seed=1))
    with pytest.raises(ValueError, match="n >= d"):
        sb.whitened_inputs(3, 5)


def test_teachers():
    x = sb.gaussian_inputs(30, 4, seed=0)
    v = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=F64)
    assert torch.allclose(sb.LinearTeacher(v)(x), x @ v)
    t = sb.SingleIndexTeacher(v, f="tanh", beta=2.0)
    assert torch.allclose(t(x), 2.0 * torch.tanh(x @ v))
    s = sb.SingleIndexTeacher(v.flip(0), f=torch.sin)
    both = sb.FeatureSum([t, s])
    assert torch.allclose(both(x), t(x) + s(x))
    assert both(x).shape == (30,)
    with pytest.raises(ValueError, match="allowed"):
        sb.SingleIndexTeacher(v, f="nope")
    with pytest.raises(ValueError, match="columns"):
        sb.LinearTeacher(v)(torch.zeros(3, 5, dtype=F64))


def test_gamma_of_linear_teacher_with_whitened_inputs():
    x = sb.whitened_inputs(128, 6, seed=2)
    v = torch.tensor([0.3, -1.2, 0.0, 2.0, 0.7, -0.1], dtype=F64)
    y = 3.0 * (x @ v)
    assert math.isclose(sb.gamma(x, y), 3.0 * float(v.norm()), rel_tol=1e-12)
    with pytest.raises(ValueError, match="y has 5 entries"):
        sb.gamma(x, y[:5])


# --- population moment, first Hermite coefficient, feature geometry (chapter 07) ---



@pytest.mark.parametrize(
    "f, s, expected",
    [
        ("identity", 1.7, 1.7),
        ("sin", 2.0, 2.0 * math.exp(-2.0)),
        ("erf", 0.8, 2 * 0.8 / math.sqrt(math.pi * (1 + 2 * 0.8**2))),
        ("relu", 1.0, 0.5),
        (lambda z: z**2, 1.3, 0.0),  # even links have no linear part
        (lambda z: z**3 - 3 * z, 1.0, 0.0),  # He3 is orthogonal to z
    ],
)
def test_first_hermite_closed_forms(f, s, expected):
    assert first_hermite(f, s) == pytest.approx(expected, abs=1e-7)


def test_first_hermite_tanh_is_stein():
    z = sb.gaussian_inputs(400_000, 1, seed=3)[:, 0]
    mc = float((torch.tanh(z) * z).mean())
    assert first_hermite("tanh") == pytest.approx(0.6057055, abs=1e-6)
    assert abs(mc - first_hermite("tanh")) < 5 * float((torch.tanh(z) * z).std()) / math.sqrt(z.numel())
    with pytest.raises(ValueError, match="'s'"):
        first_hermite("tanh", -1.0)
    with pytest.raises(ValueError, match="n_nodes"):
        first_hermite("tanh", 1.0, n_nodes=1)


def test_feature_geometry_u_at_least_s():
    cov = torch.diag(torch.tensor([4.0, 1.0, 0.25], dtype=F64))
    s, u, a = feature_geometry(torch.tensor([0.0, 1.0, 0.0], dtype=F64), cov)
    assert (s, u) == pytest.approx((1.0, 1.0)) and torch.allclose(a, torch.tensor([0.0, 1.0, 0.0], dtype=F64))
    v = torch.tensor([0.6, 0.0, 0.8], dtype=F64)
    s, u, a = feature_geometry(v, cov)
    assert s == pytest.approx(math.sqrt(0.36 * 4 + 0.64 * 0.25))
    assert u == pytest.approx(math.sqrt(2.4**2 + 0.2**2) / s) and u > s
    assert float(a.norm()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="zero variance"):
        feature_geometry(v, torch.zeros(3, 3, dtype=F64))
    with pytest.raises(ValueError, match="cov"):
        feature_geometry(v, torch.eye(2, dtype=F64))


def test_population_gamma_matches_large_sample_anisotropic_feature_sum():
    cov = torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.5]], dtype=F64)
    t = sb.FeatureSum([sb.SingleIndexTeacher(torch.tensor([1.0, 0.0, 0.0], dtype=F64), "tanh", 1.0),
                       sb.SingleIndexTeacher(torch.tensor([0.0, 0.6, 0.8], dtype=F64), "sin", -0.5)])
    x = sb.gaussian_inputs(400_000, 3, cov=cov, seed=4)
    y = t(x)
    m_hat = (y @ x) / x.shape[0]
    m = population_moment(t, cov=cov)
    se = float(((y[:, None] * x).std(0)).max()) / math.sqrt(x.shape[0])
    assert torch.all((m - m_hat).abs() < 5 * se)
    assert sb.gamma(t, cov=cov) == pytest.approx(float(m.norm()), rel=1e-14)
    assert sb.gamma(x, y) == pytest.approx(float(m.norm()), abs=10 * se)


def test_population_gamma_linear_and_cancellation():
    v1 = torch.tensor([1.0, 0.0], dtype=F64)
    cov = torch.diag(torch.tensor([3.0, 0.5], dtype=F64))
    assert sb.gamma(sb.LinearTeacher(2 * v1), cov=cov) == pytest.approx(6.0)
    h = first_hermite("tanh")
    for th in (0.0, 1.0, 2.5, math.pi):
        v2 = torch.tensor([math.cos(th), math.sin(th)], dtype=F64)
        t = sb.FeatureSum([sb.SingleIndexTeacher(v1, "tanh"), sb.SingleIndexTeacher(v2, "tanh")])
        assert sb.gamma(t) == pytest.approx(2 * h * abs(math.cos(th / 2)), abs=1e-12)
        assert angle_blind_gamma(t) == pytest.approx(2 * h, rel=1e-12)
    with pytest.raises(ValueError, match="takes no targets"):
        sb.gamma(sb.LinearTeacher(v1), torch.zeros(3))
    with pytest.raises(ValueError, match="cov"):
        sb.gamma(torch.zeros(4, 2, dtype=F64), torch.zeros(4, dtype=F64), cov=torch.eye(2))
    with pytest.raises(ValueError, match="teacher"):
        population_moment("not a teacher")


def test_whitened_inputs_with_covariance_have_exactly_that_second_moment():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(5, 5, generator=g, dtype=F64)
    S = a @ a.T / 5 + 0.1 * torch.eye(5, dtype=F64)
    x = sb.whitened_inputs(300, 5, seed=2, cov=S)
    assert x.shape == (300, 5)
    assert torch.allclose(x.T @ x / 300, S, atol=1e-12)
    assert torch.equal(sb.whitened_inputs(300, 5, seed=2), sb.whitened_inputs(300, 5, seed=2, cov=None))
    with pytest.raises(ValueError, match="semi-definite"):
        sb.whitened_inputs(300, 5, cov=-S)
    with pytest.raises(ValueError, match="cov"):
        sb.whitened_inputs(300, 4, cov=S)


def test_sample_moment_is_the_vector_behind_gamma():
    x = sb.gaussian_inputs(500, 3, seed=1)
    y = torch.tanh(x[:, 0]) - 0.5 * x[:, 2]
    m = sb.sample_moment(x, y)
    assert torch.allclose(m, (y[:, None] * x).mean(dim=0), rtol=1e-13, atol=1e-15)
    assert sb.gamma(x, y) == pytest.approx(float(m.norm()), rel=1e-15)
    with pytest.raises(ValueError, match="'y'"):
        sb.sample_moment(x, y[:-1])


def test_moment_equals_the_explicit_sum_with_uniform_weights_by_default():
    from saddlebook.data import moment

    x = sb.gaussian_inputs(40, 3, seed=2)
    y = torch.sin(x[:, 0]) + x[:, 2]
    m = moment(x, y)
    explicit = sum(y[i] * x[i] for i in range(40)) / 40
    assert m.shape == (3,) and m.dtype == F64
    assert torch.allclose(m, explicit, rtol=1e-14, atol=1e-15)
    assert torch.equal(m, sb.sample_moment(x, y))


def test_moment_weights_and_batching():
    from saddlebook.data import moment

    x = sb.gaussian_inputs(30, 4, seed=3)
    pi = torch.rand(30, generator=torch.Generator().manual_seed(0), dtype=F64)
    pi = pi / pi.sum()
    ys = torch.stack([x[:, 0], torch.tanh(x[:, 1]), x[:, 2] * x[:, 3]])  # (B, n) = (3, 30)
    m = moment(x, ys, pi)
    assert m.shape == (3, 4)
    for b in range(3):
        explicit = sum(pi[i] * ys[b, i] * x[i] for i in range(30))
        assert torch.allclose(m[b], explicit, rtol=1e-13, atol=1e-15)
        assert torch.equal(m[b], moment(x, ys[b], pi))
    assert moment(x, ys.reshape(3, 1, 30), pi).shape == (3, 1, 4)
    assert torch.equal(moment(x, ys[0], pi), sb.sample_moment(x, ys[0], pi))


def test_moment_dtype_is_float64_unless_asked():
    from saddlebook.data import moment

    x = sb.gaussian_inputs(20, 2, seed=4).float()
    y = x[:, 0] ** 3
    assert moment(x, y).dtype == F64
    assert moment(x, y, dtype=None).dtype == torch.float32
    assert moment(x, y, dtype=torch.float32).dtype == torch.float32
    leaf = y.double().requires_grad_(True)
    moment(x, leaf).sum().backward()  # differentiable in y
    assert torch.allclose(leaf.grad, x.double().sum(1) / 20)


def test_moment_bad_input_names_the_parameter():
    from saddlebook.data import moment
    from saddlebook.errors import ParameterError

    x, y = torch.zeros(5, 2, dtype=F64), torch.zeros(5, dtype=F64)
    with pytest.raises(ParameterError, match="parameter 'x'"):
        moment(x[0], y)
    with pytest.raises(ParameterError, match="parameter 'y'"):
        moment(x, torch.zeros(4, dtype=F64))
    with pytest.raises(ParameterError, match="parameter 'y'"):
        moment(x, 1.0)
    with pytest.raises(ParameterError, match="parameter 'weights'"):
        moment(x, y, torch.ones(4, dtype=F64))
    with pytest.raises(ParameterError, match="parameter 'dtype'.*allowed"):
        moment(x, y, dtype=torch.int64)
