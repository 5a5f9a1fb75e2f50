"""Training losses: squared error and logistic.

Both are means over samples; for vector outputs (``n_L > 1``) the per-sample
loss sums over output coordinates, so ``mse`` is ½ E‖ŷ − y‖², the
normalization under which Saxe et al.'s mode dynamics read u̇ = 2u(s − u).
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..errors import ParameterError
from ._activations import Activation, get_activation
from ._network import check_shapes, network_output, preactivations_unchecked

__all__ = ["LOSSES", "loss_value", "network_loss"]

LOSSES: tuple[str, ...] = ("mse", "logistic")
"""Names of the supported losses."""


def check_loss(loss: str) -> str:
    """Validate a loss name.

    Parameters
    ----------
    loss : str
        One of :data:`LOSSES`.

    Returns
    -------
    str
        The same name.

    Raises
    ------
    saddlebook.errors.ParameterError
        (a ValueError) If ``loss`` is not in :data:`LOSSES`.
    """
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ParameterError(f"loss {loss!r} is unknown; parameter 'loss' must be one of: {', '.join(LOSSES)}")
    return loss


def loss_unchecked(yhat: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    # Unchecked core shared by the integrators.
    n = yhat.shape[0]
    if loss == "mse":
        return 0.5 * ((yhat - y) ** 2).sum() / n
    margin = -y * yhat
    return torch.logaddexp(margin, torch.zeros((), dtype=margin.dtype, device=margin.device)).sum() / n


def loss_value(yhat: torch.Tensor, y: torch.Tensor, loss: str = "mse") -> torch.Tensor:
    """Mean loss of predictions against targets.

    Parameters
    ----------
    yhat : torch.Tensor
        Predictions, shape ``(n,)`` or ``(n, k)``.
    y : torch.Tensor
        Targets, same shape as ``yhat``.
    loss : {"mse", "logistic"}, default "mse"
        ``"mse"``: ½ · mean over samples of (ŷ − y)² (summed over output
        coordinates). ``"logistic"``: mean of softplus(−y ŷ) with real y,
        typically ±1.

    Returns
    -------
    torch.Tensor
        0-dimensional tensor (differentiable).

    Raises
    ------
    saddlebook.errors.ParameterError
        (a ValueError) Unknown ``loss`` or mismatched shapes.
    """
    check_loss(loss)
    if not isinstance(yhat, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError("parameters 'yhat' and 'y' must be torch.Tensor")
    if yhat.shape != y.shape:
        raise ParameterError(
            f"parameters 'yhat' and 'y' must have the same shape: yhat has shape {tuple(yhat.shape)} "
            f"but y has shape {tuple(y.shape)}"
        )
    if yhat.dim() == 0 or yhat.shape[0] == 0:
        raise ParameterError(f"parameter 'yhat' must have at least one sample, got shape {tuple(yhat.shape)}")
    return loss_unchecked(yhat, y, loss)


def network_loss(
    weights: Sequence[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    sigma: str | Activation,
    loss: str = "mse",
) -> torch.Tensor:
    """Mean training loss 𝓛(W) of a network on a data set.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]``.
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    y : torch.Tensor
        Targets, shape ``(n,)`` (or ``(n, n_L)``).
    sigma : str or callable
        Activation.
    loss : {"mse", "logistic"}, default "mse"

    Returns
    -------
    torch.Tensor
        0-dimensional, differentiable with respect to the weights.
    """
    check_loss(loss)
    _, fn = get_activation(sigma)
    check_shapes(weights, x, y)
    return loss_unchecked(network_output(preactivations_unchecked(weights, x, fn)), y, loss)
