"""The problem protocol of the flows, and its plain autograd implementation.

Every flow of the package (the batched Dormand–Prince core
:func:`saddlebook.dynamics.integrate` and the scipy reference
:func:`saddlebook.dynamics.reference_flow`) integrates θ̇ = −∇𝓛(θ) of a
*problem*: an object with the two methods of :class:`Problem` on batched
parameters. The package has three problems:

- :class:`saddlebook.dynamics.NetworkBatch`: B full networks, gradients
  back-propagated by hand in batched matmuls (the fast one);
- :class:`saddlebook.theory.ReducedChain`: the scalar chain of the symmetric
  manifold in reduced coordinates;
- :class:`AutogradProblem`: B full networks, one at a time, with autograd
  gradients of the package's loss (the reference and test implementation).

:data:`MAX_LOSS_RATIO` is the package's one divergence rule for flows: a run
whose loss exceeds that multiple of its initial loss diverged.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import torch

from ..book.counterfactual import bend_gradients
from ..data import moment
from ..errors import ParameterError
from ..nets._activations import Activation, get_activation
from ..nets._losses import check_loss, loss_unchecked
from ..nets._network import network_output, preactivations_unchecked

__all__ = ["Problem", "AutogradProblem", "MAX_LOSS_RATIO"]

# A gradient flow never raises its loss, so a run whose loss grew by this factor left the flow numerically.
MAX_LOSS_RATIO = 1e6

_OBSERVABLES = ("loss", "moment")


@runtime_checkable
class Problem(Protocol):
    """What a flow integrates: loss, escape observable and gradient of B runs.

    Parameters are a list of tensors whose first dimension is the run index b
    (``B`` runs, each tensor of shape ``(B, ...)``). The flow is
    θ̇_b = −∇𝓛_b(θ_b), run by run; the *observable* is the scalar whose
    crossing of a level is the event (the escape) of a run.
    """

    def evaluate(self, params: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Loss, observable and gradient of every run.

        Parameters
        ----------
        params : list of torch.Tensor
            Batched parameters, each of shape ``(B, ...)``.

        Returns
        -------
        loss, observable : torch.Tensor
            Shapes ``(B,)`` each.
        grads : list of torch.Tensor
            ∇𝓛_b, of the shapes (and dtype) of ``params``.
        """

    def observe(self, params: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and observable of every run (forward only), shapes ``(B,)`` each.

        Parameters
        ----------
        params : list of torch.Tensor
            Batched parameters, each of shape ``(B, ...)``.
        """


def loss_and_gradient(
    weights: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, fn: Activation, loss: str
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Loss value and ∇_W 𝓛 of one network by autograd (unchecked: inputs are trusted).

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]`` of one network (no batch dimension).
    x, y : torch.Tensor
        Inputs ``(n, d)`` and targets ``(n,)`` or ``(n, n_L)``, dtype of the weights.
    fn : callable
        The activation σ.
    loss : {"mse", "logistic"}

    Returns
    -------
    value : torch.Tensor
        The mean loss (0-d, detached).
    grads : list of torch.Tensor
        ``[∇_{W_1} 𝓛, …]``, detached, after the counterfactual hook
        :func:`saddlebook.book.counterfactual.bend_gradients`.
    """
    leaves = [w.detach().requires_grad_(True) for w in weights]
    with torch.enable_grad():
        value = loss_unchecked(network_output(preactivations_unchecked(leaves, x, fn)), y, loss)
        grads = torch.autograd.grad(value, leaves)
    grads = bend_gradients([g.detach() for g in grads], lambda: min(float(w.norm()) for w in weights))
    return value.detach(), grads


class AutogradProblem:
    """B full networks, one at a time, with autograd gradients: the reference problem.

    Nothing but the loss is shared with :class:`saddlebook.dynamics.NetworkBatch`
    (hand-written batched back-propagation), so the two test each other.

    Parameters
    ----------
    sigma : str or callable
        Activation of every hidden layer (the last layer is linear).
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    y : torch.Tensor
        Targets, shape ``(n,)`` (or ``(n, n_L)`` with ``observable="loss"``).
    loss : {"mse", "logistic"}, default "mse"
        The mean training loss (:func:`saddlebook.nets.loss_value`).
    observable : {"loss", "moment"}, default "loss"
        As in :class:`saddlebook.dynamics.NetworkBatch`: the loss, or the
        norm of the network's linear moment ``‖(1/n) Σ_i ŷ_i x_i‖``
        (scalar targets only).

    Raises
    ------
    saddlebook.errors.ParameterError
        Bad ``loss``, ``sigma``, ``observable``, ``x`` or ``y``.

    Notes
    -----
    ``x`` and ``y`` are converted to the dtype of the parameters on first use
    and cached per dtype. The weights of a network are the slices ``p[b]`` of
    the batched parameters; shapes are not checked here (see
    :func:`saddlebook.nets.check_shapes`).
    """

    def __init__(self, sigma: str | Activation, x: torch.Tensor, y: torch.Tensor, loss: str = "mse",
                 observable: str = "loss") -> None:
        check_loss(loss)
        if observable not in _OBSERVABLES:
            raise ParameterError(f"parameter 'observable' is {observable!r}; allowed: {', '.join(_OBSERVABLES)}")
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            raise ParameterError("parameter 'x' must be a 2-D tensor of shape (n, d)")
        if not isinstance(y, torch.Tensor) or y.dim() not in (1, 2) or y.shape[0] != x.shape[0]:
            raise ParameterError(f"parameter 'y' must have shape ({x.shape[0]},) or ({x.shape[0]}, n_L)")
        if observable == "moment" and y.dim() != 1:
            raise ParameterError("parameter 'observable' = 'moment' needs scalar targets y of shape (n,)")
        _, self.fn = get_activation(sigma)
        self.loss, self.observable = loss, observable
        self._data = {torch.float64: (x.to(torch.float64), y.to(torch.float64))}

    def data(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` in ``dtype`` (cached)."""
        if dtype not in self._data:
            self._data[dtype] = tuple(t.to(dtype) for t in self._data[torch.float64])
        return self._data[dtype]

    def _observable(self, ws, x, value):
        if self.observable == "loss":
            return value
        out = network_output(preactivations_unchecked(ws, x, self.fn))
        return torch.linalg.vector_norm(moment(x, out, dtype=out.dtype))

    def observe(self, params: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and observable of every run, forward only; see :class:`Problem`."""
        x, y = self.data(params[0].dtype)
        losses, obs = [], []
        with torch.no_grad():
            for b in range(params[0].shape[0]):
                ws = [p[b] for p in params]
                value = loss_unchecked(network_output(preactivations_unchecked(ws, x, self.fn)), y, self.loss)
                losses.append(value)
                obs.append(self._observable(ws, x, value))
        return torch.stack(losses), torch.stack(obs)

    def evaluate(self, params: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Loss, observable and autograd gradient of every run; see :class:`Problem`."""
        x, y = self.data(params[0].dtype)
        losses, obs, grads = [], [], []
        for b in range(params[0].shape[0]):
            ws = [p[b] for p in params]
            value, g = loss_and_gradient(ws, x, y, self.fn, self.loss)
            losses.append(value)
            grads.append(g)
            if self.observable != "loss":
                with torch.no_grad():
                    obs.append(self._observable(ws, x, value))
        if len(grads) == 1:  # the reference solver's one run: a view, not a copy per evaluation
            grads, losses = [g.unsqueeze(0) for g in grads[0]], losses[0].reshape(1)
        else:
            grads, losses = [torch.stack([g[k] for g in grads]) for k in range(len(params))], torch.stack(losses)
        return losses, (losses if self.observable == "loss" else torch.stack(obs)), grads

    def hessian(self, params: Sequence[torch.Tensor]) -> torch.Tensor:
        """∇²𝓛 of one run (B = 1) with respect to its flattened parameters, by autograd (reverse over reverse).

        Implicit solvers need the Jacobian −∇²𝓛 of the flow; this exact one replaces scipy's finite
        differences, one gradient per parameter, which dominate a stiff run's cost.

        Parameters
        ----------
        params : list of torch.Tensor
            Parameters of one run, each of shape ``(1, ...)``.

        Returns
        -------
        torch.Tensor
            Shape ``(P, P)`` with P the number of parameters, in the order of
            ``torch.cat([p.reshape(-1) for p in params])``.
        """
        x, y = self.data(params[0].dtype)
        shapes = [tuple(p.shape[1:]) for p in params]
        sizes = [p[0].numel() for p in params]

        def loss_of(flat):
            ws = [w.reshape(s) for w, s in zip(torch.split(flat, sizes), shapes)]
            return loss_unchecked(network_output(preactivations_unchecked(ws, x, self.fn)), y, self.loss)

        flat = torch.cat([p[0].reshape(-1) for p in params]).detach()
        return torch.func.jacrev(torch.func.jacrev(loss_of))(flat)
