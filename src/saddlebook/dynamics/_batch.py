"""Batched full-network loss and gradient, back-propagated by hand.

A *batch* is B independent networks of the same architecture trained on one
shared (weighted) data set. Weights are a list ``[W_1, …, W_L]`` of 3-D
tensors, ``W_ℓ`` of shape ``(B, n_ℓ, n_{ℓ−1})``. The loss of run b is

.. math:: \\mathcal L_b = \\tfrac12 \\sum_i \\pi_i\\,(\\hat y_{b,i} - y_i)^2,

with sample weights π (``1/n`` each for an ordinary data set, Gauss–Hermite
weights for a population quadrature). Every product is a batched matmul, so
one gradient evaluation costs ≈ 6 n Σ_ℓ n_ℓ n_{ℓ−1} flops per run and is
matmul-bound for widths of a few tens and thousands of samples.

The derivative σ' is taken from a table of closed forms for the registry
activations (σ and σ' share work, e.g. tanh' = 1 − tanh²); any other callable
falls back to autograd for σ' only.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from ..book.counterfactual import bend_gradients
from ..nets._activations import Activation, derivative, get_activation

__all__ = ["activation_pair", "NetworkBatch"]

Pair = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _tanh(z):
    t = torch.tanh(z)
    return t, 1.0 - t * t


def _sin(z):
    return torch.sin(z), torch.cos(z)


def _erf(z):
    return torch.erf(z), (2.0 / math.sqrt(math.pi)) * torch.exp(-z * z)


def _gelu(z):
    cdf = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
    return z * cdf, cdf + z * torch.exp(-0.5 * z * z) / _SQRT_2PI


def _silu(z):
    s = torch.sigmoid(z)
    return z * s, s * (1.0 + z * (1.0 - s))


def _sigmoid(z):
    s = torch.sigmoid(z)
    return s, s * (1.0 - s)


def _softplus(z):
    return torch.logaddexp(z, torch.zeros((), dtype=z.dtype)), torch.sigmoid(z)


def _identity(z):
    return z, torch.ones_like(z)


def _relu(z):
    return torch.relu(z), (z > 0).to(z.dtype)


def _leaky(z):
    return torch.where(z > 0, z, 0.01 * z), torch.where(z > 0, 1.0, 0.01).to(z.dtype)


_PAIRS: dict[str, Pair] = {
    "tanh": _tanh,
    "sin": _sin,
    "erf": _erf,
    "gelu": _gelu,
    "silu": _silu,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "identity": _identity,
    "relu": _relu,
    "leaky_relu": _leaky,
}


def activation_pair(sigma: str | Activation) -> tuple[str, Pair]:
    """σ and σ' evaluated together.

    Parameters
    ----------
    sigma : str or callable
        Registry name of :mod:`saddlebook.nets` or an elementwise torch
        callable.

    Returns
    -------
    name : str
        Display name of the activation.
    pair : callable
        ``pair(z) -> (σ(z), σ'(z))``. Closed forms for the registry names
        (and for :func:`~saddlebook.nets.quadratic` callables), autograd
        for σ' otherwise.

    Raises
    ------
    ValueError, TypeError
        As :func:`~saddlebook.nets.get_activation` for an unknown name.
    """
    name, fn = get_activation(sigma)
    a = getattr(fn, "a", None)
    if a is not None and name.startswith("quadratic"):
        return name, lambda z: (z + a * z * z, 1.0 + 2.0 * a * z)
    if isinstance(sigma, str) and sigma in _PAIRS:
        return name, _PAIRS[sigma]
    return name, lambda z: (fn(z), derivative(fn, z))


class NetworkBatch:
    """Loss, gradient and escape observable of B networks on shared data.

    Parameters
    ----------
    sigma : str or callable
        Activation of every hidden layer (the last layer is linear).
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    y : torch.Tensor
        Scalar targets, shape ``(n,)``.
    sample_weights : torch.Tensor, optional
        π, shape ``(n,)``, non-negative; default ``1/n`` each.
    observable : {"loss", "moment"}, default "loss"
        What :meth:`observe` returns per run: the loss, or the norm of the
        network's linear moment ``‖Σ_i π_i ŷ_i x_i‖`` (compare with
        Γ = ``‖Σ_i π_i y_i x_i‖``).

    Notes
    -----
    ``x``, ``y`` and π are converted to the dtype of the weights passed to
    :meth:`evaluate` on first use and cached per dtype.
    """

    def __init__(
        self,
        sigma: str | Activation,
        x: torch.Tensor,
        y: torch.Tensor,
        sample_weights: torch.Tensor | None = None,
        observable: str = "loss",
    ) -> None:
        if observable not in ("loss", "moment"):
            raise ValueError(f"parameter 'observable' is {observable!r}; allowed: loss, moment")
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            raise ValueError("parameter 'x' must be a 2-D tensor of shape (n, d)")
        if not isinstance(y, torch.Tensor) or tuple(y.shape) != (x.shape[0],):
            raise ValueError(f"parameter 'y' must have shape ({x.shape[0]},)")
        n = x.shape[0]
        if sample_weights is None:
            sample_weights = torch.full((n,), 1.0 / n, dtype=torch.float64)
        if tuple(sample_weights.shape) != (n,) or bool((sample_weights < 0).any()):
            raise ValueError(f"parameter 'sample_weights' must be non-negative of shape ({n},)")
        self.name, self.pair = activation_pair(sigma)
        self.observable = observable
        self._data = {torch.float64: (x.to(torch.float64), y.to(torch.float64), sample_weights.to(torch.float64))}

    def data(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x, y, π)`` in ``dtype`` (cached)."""
        if dtype not in self._data:
            self._data[dtype] = tuple(t.to(dtype) for t in self._data[torch.float64])
        return self._data[dtype]

    def gamma(self) -> float:
        """Γ = ‖Σ_i π_i y_i x_i‖, the target's linear moment (float64)."""
        x, y, pi = self._data[torch.float64]
        return float(torch.linalg.vector_norm((pi * y) @ x))

    def _forward(self, weights: Sequence[torch.Tensor], keep: bool):
        x, _, _ = self.data(weights[0].dtype)
        acts, slopes = [x], []
        z = torch.matmul(x, weights[0].transpose(1, 2))  # (B, n, n_1)
        for w in weights[1:]:
            a, s = self.pair(z)
            if keep:
                acts.append(a)
                slopes.append(s)
            z = torch.bmm(a, w.transpose(1, 2))
        return z[..., 0], acts, slopes

    def _observe(self, out: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
        if self.observable == "loss":
            return loss
        x, _, pi = self.data(out.dtype)
        return torch.linalg.vector_norm((out * pi) @ x, dim=1)

    def observe(self, weights: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and observable of every run, forward pass only.

        Parameters
        ----------
        weights : list of torch.Tensor
            Batched weights, ``W_ℓ`` of shape ``(B, n_ℓ, n_{ℓ−1})``.

        Returns
        -------
        loss, observable : torch.Tensor
            Shapes ``(B,)`` each.
        """
        out, _, _ = self._forward(weights, keep=False)
        _, y, pi = self.data(out.dtype)
        loss = 0.5 * ((out - y) ** 2) @ pi
        return loss, self._observe(out, loss)

    def evaluate(self, weights: Sequence[torch.Tensor]):
        """Loss, observable and gradient of every run.

        Parameters
        ----------
        weights : list of torch.Tensor
            Batched weights, ``W_ℓ`` of shape ``(B, n_ℓ, n_{ℓ−1})``.

        Returns
        -------
        loss : torch.Tensor
            Shape ``(B,)``.
        observable : torch.Tensor
            Shape ``(B,)`` (see the class docstring).
        grads : list of torch.Tensor
            ``∇_{W_ℓ} 𝓛_b``, same shapes as ``weights``.
        """
        out, acts, slopes = self._forward(weights, keep=True)
        _, y, pi = self.data(out.dtype)
        resid = out - y
        loss = 0.5 * (resid * resid) @ pi
        delta = (resid * pi).unsqueeze(2)  # ∂𝓛/∂z_L, (B, n, 1)
        grads = [None] * len(weights)
        for k in range(len(weights) - 1, 0, -1):
            # ∇W_ℓ = δ_ℓᵀ a_{ℓ−1}; δ_{ℓ−1} = (δ_ℓ W_ℓ) ⊙ σ'(z_{ℓ−1})
            grads[k] = torch.bmm(delta.transpose(1, 2), acts[k])
            delta = torch.bmm(delta, weights[k]) * slopes[k - 1]
        grads[0] = torch.matmul(delta.transpose(1, 2), acts[0])
        grads = bend_gradients(grads, lambda: torch.stack([w.flatten(1).norm(dim=1) for w in weights]).amin(0))
        return loss, self._observe(out, loss), grads
