"""The exact imbalance identity (Theorem 1) and its discrete-time version.

With layer imbalances Δ_ℓ = ‖W_{ℓ+1}‖_F² − ‖W_ℓ‖_F² (ℓ = 1, …, L−1),
gradient flow Ẇ = −∇_W 𝓛 on a mean loss 𝓛 = E[loss] satisfies

.. math:: \\dot\\Delta_\\ell = 2\\,E\\big[\\langle W_{\\ell+1}^\\top g_{\\ell+1},
          \\varphi_\\sigma(z_\\ell)\\rangle\\big],

where g_ℓ = ∇_{z_ℓ} of the per-sample loss and φ_σ(z) = zσ'(z) − σ(z).

Derivation. With u = W_{ℓ+1}ᵀ g_{ℓ+1} and a_{ℓ−1} the input of layer ℓ,
∇_{W_ℓ}𝓛 = E[g_ℓ a_{ℓ−1}ᵀ], so d‖W_ℓ‖²/dt = −2⟨W_ℓ, ∇_{W_ℓ}𝓛⟩ =
−2E⟨g_ℓ, z_ℓ⟩ and d‖W_{ℓ+1}‖²/dt = −2E⟨u, σ(z_ℓ)⟩. Backpropagation gives
g_ℓ = σ'(z_ℓ) ⊙ u, hence Δ̇_ℓ = 2E⟨u, σ'(z_ℓ) ⊙ z_ℓ − σ(z_ℓ)⟩.

Two independent computations are compared: ``lhs`` differentiates the norms
through autograd on the weights, ``rhs`` evaluates the identity from
autograd gradients with respect to the pre-activations and φ_σ. The gradient
of the *mean* loss with respect to z_i equals the per-sample gradient / n,
so E[·] over samples becomes a plain sum over samples here.

Indexing: Python index ``k = 0, …, L−2`` corresponds to ℓ = k + 1.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..dynamics._problem import loss_and_gradient
from ..dynamics._reference import validated_activation
from ..errors import ParameterError
from ..nets._activations import Activation, derivative, phi
from ..nets._losses import loss_unchecked
from ..nets._network import network_output, preactivations_unchecked

__all__ = [
    "imbalance",
    "imbalance_rates",
    "identity_scale",
    "matrix_imbalance",
    "matrix_imbalance_rates",
    "gd_imbalance_step",
]


def _sq(t: torch.Tensor) -> torch.Tensor:
    return (t * t).sum()


def _check_weights(weights) -> list[torch.Tensor]:
    if isinstance(weights, torch.Tensor) or not isinstance(weights, (list, tuple)) or len(weights) < 2:
        raise ParameterError("parameter 'weights' must be a list of at least 2 matrices (imbalances need L >= 2)")
    for k, w in enumerate(weights):
        if not isinstance(w, torch.Tensor) or w.dim() != 2:
            raise ParameterError(f"parameter 'weights' must hold 2-D tensors: weights[{k}] is not one")
        if k and w.shape[1] != weights[k - 1].shape[0]:
            raise ParameterError(
                f"parameter 'weights' must chain (columns of each = rows of the previous): "
                f"weights[{k}] has shape {tuple(w.shape)} but weights[{k - 1}] has {weights[k - 1].shape[0]} rows"
            )
    return list(weights)


def imbalance(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """Layer imbalances Δ_ℓ = ‖W_{ℓ+1}‖_F² − ‖W_ℓ‖_F².

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]`` with L ≥ 2.

    Returns
    -------
    torch.Tensor
        Length L − 1, entry k is Δ_{k+1}; dtype/device of the weights.
    """
    weights = _check_weights(weights)
    sq = torch.stack([_sq(w.detach()) for w in weights])
    return sq[1:] - sq[:-1]


def _norm_rates(weights, grads) -> torch.Tensor:
    # d‖W_ℓ‖²/dt = −2⟨W_ℓ, ∇_{W_ℓ}𝓛⟩ under gradient flow.
    return torch.stack([-2.0 * (w.detach() * g).sum() for w, g in zip(weights, grads)])


def _pre_grads(weights, x, y, fn, loss):
    # Pre-activations and ∂𝓛/∂z_ℓ of the mean loss, by autograd.
    with torch.enable_grad():
        leaves = [w.detach().requires_grad_(True) for w in weights]
        zs = preactivations_unchecked(leaves, x, fn)
        value = loss_unchecked(network_output(zs), y, loss)
        gz = torch.autograd.grad(value, zs)
    return [z.detach() for z in zs], [g.detach() for g in gz]


def imbalance_rates(
    weights: Sequence[torch.Tensor],
    sigma: str | Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: str = "mse",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sides of the imbalance identity at the current weights.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]``, L ≥ 2.
    sigma : str or callable
        Activation.
    x : torch.Tensor
        Inputs, shape ``(n, d)``.
    y : torch.Tensor
        Targets, shape ``(n,)`` (or ``(n, n_L)``).
    loss : {"mse", "logistic"}, default "mse"

    Returns
    -------
    lhs : torch.Tensor
        dΔ_ℓ/dt under gradient flow from weight gradients:
        −2⟨W_{ℓ+1}, ∇_{W_{ℓ+1}}𝓛⟩ + 2⟨W_ℓ, ∇_{W_ℓ}𝓛⟩. Length L − 1.
    rhs : torch.Tensor
        The identity 2 Σ_i ⟨W_{ℓ+1}ᵀ ∂𝓛/∂z_{ℓ+1,i}, φ_σ(z_{ℓ,i})⟩ from
        pre-activation gradients of the mean loss. Length L − 1.
    """
    weights = _check_weights(weights)
    fn = validated_activation(weights, sigma, x, y, loss)
    _, grads = loss_and_gradient(weights, x, y, fn, loss)
    rates = _norm_rates(weights, grads)
    lhs = rates[1:] - rates[:-1]
    zs, gz = _pre_grads(weights, x, y, fn, loss)
    rhs = []
    for k in range(len(weights) - 1):
        u = gz[k + 1] @ weights[k + 1].detach()
        rhs.append(2.0 * (u * phi(fn, zs[k])).sum())
    return lhs, torch.stack(rhs)


def identity_scale(
    weights: Sequence[torch.Tensor],
    sigma: str | Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: str = "mse",
) -> torch.Tensor:
    """Size of the two terms whose difference is dΔ_ℓ/dt.

    Parameters
    ----------
    weights, sigma, x, y, loss
        As in :func:`imbalance_rates`.

    Returns
    -------
    torch.Tensor
        ``|d‖W_{ℓ+1}‖²/dt| + |d‖W_ℓ‖²/dt|`` for ℓ = 1, …, L−1: the natural
        denominator for a relative error of the identity. Round-off in ``lhs``
        and ``rhs`` is a small multiple of machine epsilon times the sum of the
        absolute entries of ``W ∘ ∇W`` over the two layers, which is usually of
        the same size, but can be much larger when ``⟨W, ∇W⟩`` itself cancels
        (seen for wide networks with the logistic loss); relative errors
        against this scale are then larger than machine epsilon suggests.
    """
    weights = _check_weights(weights)
    fn = validated_activation(weights, sigma, x, y, loss)
    _, grads = loss_and_gradient(weights, x, y, fn, loss)
    rates = _norm_rates(weights, grads).abs()
    return rates[1:] + rates[:-1]


def matrix_imbalance(weights: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Matrix imbalances W_{ℓ+1}ᵀW_{ℓ+1} − W_ℓW_ℓᵀ.

    Parameters
    ----------
    weights : sequence of torch.Tensor
        ``[W_1, …, W_L]``, L ≥ 2.

    Returns
    -------
    list of torch.Tensor
        L − 1 matrices, entry k of shape ``(n_{k+1}, n_{k+1})``; its trace is
        Δ_{k+1}. Conserved by gradient flow when σ is the identity.
    """
    weights = [w.detach() for w in _check_weights(weights)]
    return [weights[k + 1].T @ weights[k + 1] - weights[k] @ weights[k].T for k in range(len(weights) - 1)]


def matrix_imbalance_rates(
    weights: Sequence[torch.Tensor],
    sigma: str | Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: str = "mse",
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Both sides of the matrix imbalance identity.

    Parameters
    ----------
    weights, sigma, x, y, loss
        As in :func:`imbalance_rates`.

    Returns
    -------
    lhs : list of torch.Tensor
        d/dt(W_{ℓ+1}ᵀW_{ℓ+1} − W_ℓW_ℓᵀ) = Ẇ_{ℓ+1}ᵀW_{ℓ+1} + W_{ℓ+1}ᵀẆ_{ℓ+1}
        − Ẇ_ℓW_ℓᵀ − W_ℓẆ_ℓᵀ with Ẇ = −∇_W 𝓛 from autograd.
    rhs : list of torch.Tensor
        E[(σ'(z)⊙u)zᵀ + z(σ'(z)⊙u)ᵀ − uσ(z)ᵀ − σ(z)uᵀ] with z = z_ℓ and
        u = W_{ℓ+1}ᵀ g_{ℓ+1}. Its trace is the scalar identity.

    Notes
    -----
    Derivation: ∇_{W_ℓ}𝓛 = E[g_ℓ a_{ℓ−1}ᵀ] and W_ℓ a_{ℓ−1} = z_ℓ give
    −d(W_ℓW_ℓᵀ)/dt = E[g_ℓ z_ℓᵀ + z_ℓ g_ℓᵀ]; likewise W_{ℓ+1}ᵀ∇_{W_{ℓ+1}}𝓛
    = E[u σ(z_ℓ)ᵀ] gives d(W_{ℓ+1}ᵀW_{ℓ+1})/dt = −E[uσ(z_ℓ)ᵀ + σ(z_ℓ)uᵀ];
    then substitute g_ℓ = σ'(z_ℓ) ⊙ u.
    """
    weights = _check_weights(weights)
    fn = validated_activation(weights, sigma, x, y, loss)
    _, grads = loss_and_gradient(weights, x, y, fn, loss)
    ws = [w.detach() for w in weights]
    wdot = [-g for g in grads]
    lhs = []
    for k in range(len(ws) - 1):
        a, b = ws[k], ws[k + 1]
        da, db = wdot[k], wdot[k + 1]
        lhs.append(db.T @ b + b.T @ db - da @ a.T - a @ da.T)
    zs, gz = _pre_grads(weights, x, y, fn, loss)
    rhs = []
    for k in range(len(ws) - 1):
        z = zs[k]
        u = gz[k + 1] @ ws[k + 1]
        g = derivative(fn, z) * u
        s = fn(z)
        # Sums over samples: gz already carries the 1/n of the mean loss.
        rhs.append(g.T @ z + z.T @ g - u.T @ s - s.T @ u)
    return lhs, rhs


def gd_imbalance_step(
    weights: Sequence[torch.Tensor],
    sigma: str | Activation,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    loss: str = "mse",
) -> dict[str, torch.Tensor]:
    """Change of the imbalances over one gradient-descent step, decomposed.

    Parameters
    ----------
    weights, sigma, x, y, loss
        As in :func:`imbalance_rates`.
    lr : float
        Learning rate η > 0.

    Returns
    -------
    dict
        ``measured``: Δ(W − η∇𝓛) − Δ(W);
        ``first_order``: η × dΔ/dt (the flow rate, ``lhs`` of
        :func:`imbalance_rates`);
        ``second_order``: η²(‖∇_{W_{ℓ+1}}𝓛‖² − ‖∇_{W_ℓ}𝓛‖²).
        Exactly ``measured = first_order + second_order``, because
        ‖W − η∇‖² = ‖W‖² − 2η⟨W, ∇⟩ + η²‖∇‖². All tensors have length L − 1.
    """
    weights = _check_weights(weights)
    fn = validated_activation(weights, sigma, x, y, loss)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (lr > 0) or lr == float("inf"):
        raise ParameterError(f"parameter 'lr' must be finite and > 0, got {lr!r}")
    _, grads = loss_and_gradient(weights, x, y, fn, loss)
    rates = _norm_rates(weights, grads)
    before = imbalance(weights)
    after = imbalance([w.detach() - lr * g for w, g in zip(weights, grads)])
    gsq = torch.stack([_sq(g) for g in grads])
    return {
        "measured": after - before,
        "first_order": lr * (rates[1:] - rates[:-1]),
        "second_order": lr**2 * (gsq[1:] - gsq[:-1]),
    }
