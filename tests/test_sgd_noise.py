"""SGD's minibatch noise near the saddle: the draws of descend, the rate spread, the random clock."""
import itertools
import math

import numpy as np
import pytest
import torch

import saddlebook as sb
from saddlebook.dynamics import descend
from saddlebook.dynamics._sgd_noise import (
    clock_spread,
    minibatch_rates,
    minibatch_rows,
    random_clock_escape,
    rate_spread,
    row_rates,
)
from saddlebook.errors import ParameterError

F64 = torch.float64


class _Recorder:
    """A data problem (loss 0, gradient 0) that records the rows of every minibatch asked of it."""

    def __init__(self, n):
        self.n_rows, self.asked = n, []

    def observe(self, params):
        zero = torch.zeros(params[0].shape[0], dtype=F64)
        return zero + 1.0, zero + 1.0

    def evaluate(self, params):
        loss, obs = self.observe(params)
        return loss, obs, [torch.zeros_like(p) for p in params]

    def rows(self, index):
        self.asked.append(torch.as_tensor(index).clone())
        return self


def test_minibatch_rows_are_the_rows_descend_draws():
    rec = _Recorder(37)
    descend(rec, [torch.zeros(2, 3, dtype=F64)], 0.5, t_max=5.0, batch_size=9, seed=11)
    drawn = torch.stack(rec.asked)
    assert drawn.shape == (10, 9)
    assert torch.equal(drawn, minibatch_rows(37, 9, 11, 10))


def test_rows_are_distinct_sorted_and_seeded():
    rows = minibatch_rows(20, 6, 3, 50)
    assert all(len(set(r.tolist())) == 6 and r.tolist() == sorted(r.tolist()) for r in rows)
    assert torch.equal(rows, minibatch_rows(20, 6, 3, 50))
    assert not torch.equal(rows, minibatch_rows(20, 6, 4, 50))
    assert torch.equal(minibatch_rows(5, 5, 0, 2), torch.arange(5).repeat(2, 1))


@pytest.fixture(scope="module")
def data():
    x = sb.gaussian_inputs(12, 3, seed=0)
    y = torch.tanh(x[:, 0]) + 0.3 * x[:, 1]
    return x, y, torch.tensor([2.0, 0.0, 0.0], dtype=F64)


def test_row_rates_average_to_the_moment_along_the_direction(data):
    x, y, d = data
    z = row_rates(x, y, d)
    assert np.isclose(z.mean(), float(sb.sample_moment(x, y)[0]), rtol=0, atol=1e-15)


def test_rate_spread_is_the_exact_spread_over_all_subsets(data):
    x, y, d = data
    z = row_rates(x, y, d)
    for m in (1, 4, 12):
        means = np.array([z[list(s)].mean() for s in itertools.combinations(range(12), m)])
        assert np.isclose(rate_spread(x, y, d, m), means.std(), rtol=1e-12, atol=1e-15)
    assert rate_spread(x, y, d, 12) == 0.0


def test_minibatch_rates_follow_the_rows(data):
    x, y, d = data
    z = row_rates(x, y, d)
    rows = minibatch_rows(12, 5, 2, 7).numpy()
    assert np.allclose(minibatch_rates(x, y, d, 5, 2, 7), z[rows].mean(axis=1), rtol=0, atol=1e-15)


def test_random_clock_at_constant_speed_is_a_rescaled_time():
    assert math.isclose(random_clock_escape(np.full(100, 2.0), 1.0, 0.1, 3.0), 1.5, rel_tol=1e-12)
    assert math.isclose(random_clock_escape(np.ones(100), 1.0, 0.1, 3.05), 3.05, rel_tol=1e-12)
    # a fast first step and slow later ones: 0.1 * 3 = 0.3 after one step, then 0.05 per step
    assert math.isclose(random_clock_escape([3.0] + [0.5] * 10, 1.0, 0.1, 0.4), 0.3, rel_tol=1e-12)


def test_random_clock_refusals():
    with pytest.raises(ParameterError, match="short of t_escape"):
        random_clock_escape(np.ones(5), 1.0, 0.1, 3.0)
    with pytest.raises(ParameterError, match="rates"):
        random_clock_escape([1.0, -0.5, 1.0], 1.0, 0.1, 0.15)
    with pytest.raises(ParameterError, match="eta"):
        random_clock_escape(np.ones(5), 1.0, 0.0, 0.1)


def test_clock_spread_is_the_spread_of_the_clocks_hitting_time():
    rng = np.random.default_rng(0)
    eta, t, sigma = 0.01, 2.0, 0.3
    # uniform speeds of spread sigma stay positive, as the rates of a plateau do
    hits = [random_clock_escape(1.0 + sigma * np.sqrt(3) * rng.uniform(-1, 1, 400), 1.0, eta, t) for _ in range(4000)]
    assert abs(np.std(hits) / clock_spread(sigma, 1.0, eta, t) - 1) < 0.05
    assert abs(np.mean(hits) - t) < 3 * np.std(hits) / math.sqrt(4000)


def test_refusals_name_the_parameter(data):
    x, y, d = data
    with pytest.raises(ParameterError, match="batch_size"):
        minibatch_rows(10, 11, 0, 1)
    with pytest.raises(ParameterError, match="direction"):
        row_rates(x, y, torch.zeros(3, dtype=F64))
    with pytest.raises(ParameterError, match="direction"):
        row_rates(x, y, torch.ones(4, dtype=F64))
    with pytest.raises(ParameterError, match="sigma"):
        clock_spread(-1.0, 1.0, 0.1, 1.0)
