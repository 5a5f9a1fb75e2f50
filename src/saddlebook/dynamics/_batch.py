"""Batched full-network loss and gradient, back-propagated by hand.

A *batch* is B independent networks of the same architecture trained on one
shared (weighted) data set. Weights are a list ``[W_1, …, W_L]`` of 3-D
tensors, ``W_ℓ`` of shape ``(B, n_ℓ, n_{ℓ−1})``. The loss of run b is

.. math:: \\mathcal L_b = \\tfrac12 \\sum_i \\pi_i\\,(\\hat y_{b,i} - y_i)^2,

with sample weights π (``1/n`` each for an ordinary data set, Gauss–Hermite
weights for a population quadrature). Every product is a batched matmul, so
one gradient evaluation costs ≈ 6 n Σ_ℓ n_ℓ n_{ℓ−1} flops per run and is
matmul-bound for widths of a few tens and thousands of samples.

σ and σ' come together from the activation registry
(:func:`saddlebook.nets.activation_pair`: closed forms for the registry names,
sharing work, e.g. tanh' = 1 − tanh²); any other callable falls back to
autograd for σ' only.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .._validate import choice
from ..book.counterfactual import bend_gradients
from ..data import moment
from ..errors import ParameterError
from ..nets import Activation, activation_pair

__all__ = ["NetworkBatch"]


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
    ``x``, ``y`` and π are converted to the dtype and device of the weights
    passed to :meth:`evaluate` on first use and cached per dtype and device.
    """

    def __init__(
        self,
        sigma: str | Activation,
        x: torch.Tensor,
        y: torch.Tensor,
        sample_weights: torch.Tensor | None = None,
        observable: str = "loss",
    ) -> None:
        choice("observable", observable, ("loss", "moment"))
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            raise ParameterError("parameter 'x' must be a 2-D tensor of shape (n, d)")
        if not isinstance(y, torch.Tensor) or tuple(y.shape) != (x.shape[0],):
            raise ParameterError(f"parameter 'y' must be a tensor of shape ({x.shape[0]},)")
        n = x.shape[0]
        if sample_weights is None:
            sample_weights = torch.full((n,), 1.0 / n, dtype=torch.float64)
        if (
            not isinstance(sample_weights, torch.Tensor)
            or tuple(sample_weights.shape) != (n,)
            or bool((sample_weights < 0).any())
        ):
            raise ParameterError(f"parameter 'sample_weights' must be a non-negative tensor of shape ({n},)")
        self.name, self.pair = activation_pair(sigma)
        self.observable = observable
        self._data = {torch.float64: (x.to(torch.float64), y.to(torch.float64), sample_weights.to(torch.float64))}

    def data(self, dtype: torch.dtype, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
        """``(x, y, π)`` in ``dtype`` on ``device`` (cached)."""
        key = dtype if torch.device(device).type == "cpu" else (dtype, str(device))
        if key not in self._data:
            self._data[key] = tuple(t.to(device=device, dtype=dtype) for t in self._data[torch.float64])
        return self._data[key]

    @property
    def n_rows(self) -> int:
        """Number n of data rows."""
        return self._data[torch.float64][0].shape[0]

    def rows(self, index: torch.Tensor) -> "NetworkBatch":
        """The same problem on the rows ``index`` of the data: a minibatch.

        Parameters
        ----------
        index : torch.Tensor or sequence of int
            m distinct row indices.

        Returns
        -------
        NetworkBatch
            Same activation and observable on ``x[index]``, ``y[index]`` with
            sample weights ``π_i n/m``. For a uniform sample of m distinct rows
            its loss and gradient are then unbiased estimates of the full ones;
            with π = 1/n (an ordinary data set) its loss is the minibatch mean
            ½ (1/m) Σ_{i∈S} (ŷ_i − y_i)².
        """
        x, y, pi = self._data[torch.float64]
        index = torch.as_tensor(index, dtype=torch.long)
        sub = object.__new__(type(self))
        sub.__dict__.update(self.__dict__)  # every setting of this problem, and its own data cache below
        sub._data = {torch.float64: (x[index], y[index], pi[index] * (x.shape[0] / index.numel()))}
        return sub

    def gamma(self) -> float:
        """Γ = ‖Σ_i π_i y_i x_i‖, the target's linear moment (float64)."""
        x, y, pi = self._data[torch.float64]
        return float(torch.linalg.vector_norm(moment(x, y, pi)))

    def _forward(self, weights: Sequence[torch.Tensor], keep: bool):
        # Features along the last axis: z_ℓ and a_ℓ are (B, n_ℓ, n), so every product is W (small) times a
        # wide matrix, MKL's fast layout (benchmarks/escape_engine.py times it against (B, n, n_ℓ)).
        x, _, _ = self.data(weights[0].dtype, weights[0].device)
        xt = x.T.expand(weights[0].shape[0], -1, -1)  # (B, d, n), a view
        acts, slopes = [xt], []
        z = torch.bmm(weights[0], xt)
        for w in weights[1:]:
            a, s = self.pair(z)
            if keep:
                acts.append(a)
                slopes.append(s)
            z = torch.bmm(w, a) if w is not weights[-1] else None
        # The scalar output as a sum over features, not a matrix-vector product: MKL rounds a batch of one
        # differently, and no run's numbers may depend on the runs beside it.
        out = (weights[-1].transpose(1, 2) * a).sum(1) if len(weights) > 1 else z[:, 0]
        return out, acts, slopes

    def _observe(self, out: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
        if self.observable == "loss":
            return loss
        x, _, pi = self.data(out.dtype, out.device)
        return torch.linalg.vector_norm(moment(x, out, pi, dtype=out.dtype), dim=1)

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
        _, y, pi = self.data(out.dtype, out.device)
        loss = 0.5 * (((out - y) ** 2) * pi).sum(-1)  # not `@ pi`: a matrix-vector product's rounding depends on B
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
        _, y, pi = self.data(out.dtype, out.device)
        resid = out - y
        loss = 0.5 * (resid * resid * pi).sum(-1)
        delta = (resid * pi).unsqueeze(1)  # ∂𝓛/∂z_L, (B, 1, n)
        grads = [None] * len(weights)
        for k in range(len(weights) - 1, -1, -1):
            # ∇W_ℓ = δ_ℓ a_{ℓ−1}ᵀ; δ_{ℓ−1} = (W_ℓᵀ δ_ℓ) ⊙ σ'(z_{ℓ−1}); the last layer's as sums (see _forward)
            if k == len(weights) - 1:
                grads[k] = (delta * acts[k]).sum(-1).unsqueeze(1)
                if k:
                    delta = weights[k].transpose(1, 2) * delta * slopes[k - 1]
                continue
            grads[k] = torch.bmm(delta, acts[k].transpose(1, 2))
            if k:
                delta = torch.bmm(weights[k].transpose(1, 2), delta) * slopes[k - 1]
        grads = bend_gradients(grads, lambda: torch.stack([w.flatten(1).norm(dim=1) for w in weights]).amin(0))
        return loss, self._observe(out, loss), grads
