"""Counterfactual mathematics for the falsification run.

A claim check is evidence only if it would fail were the claim false. The
falsification run (``python -m saddlebook falsify``) re-executes chapters with
one of the switches below turned on and records which claim checks fail. Each
switch changes one piece of the mathematics at the single place the package
computes it:

``gradient_scale``
    The full network's first-layer gradient is multiplied by 1.25 (in every
    full-network gradient: autograd and batched). The reduced chain and the
    pre-activation gradients of the imbalance identity are left alone, so a
    claim that the full network follows the theory should notice.
``phi_zero``
    The Euler defect φ_σ(z) = zσ'(z) − σ(z) is taken to be 0 (in
    :func:`~saddlebook.nets.phi` and in the classifier's Taylor series).
``wrong_moment``
    The data moment E[y x] is replaced by E[y³ x] / E[y²] (sample form; per
    feature in the population form): a theory in which the cubic part of the
    target sets the clock.
``variance_clock``
    Γ = ‖E[y x]‖ is replaced by √E[y²], the target's scale (moments keep their
    direction and take that norm).
``time_rescale``
    The flow's speed is multiplied by (smallest layer norm)^0.2 in every
    gradient (full network, batched, reduced chain), so a run whose bottleneck
    sits at scale ε moves ε^0.2 slower on the plateau: the escape exponent
    moves by 0.2 while the flow's fixed points and direction are unchanged.

Switches are read from the environment variable ``SADDLEBOOK_COUNTERFACTUAL``
(one name; empty or unset: the true mathematics). This module is a leaf.
"""
from __future__ import annotations

import os

from ..errors import ParameterError

__all__ = ["COUNTERFACTUALS", "ENV", "active", "bend_gradients", "current"]

ENV = "SADDLEBOOK_COUNTERFACTUAL"

COUNTERFACTUALS = {
    "gradient_scale": "the full network's first-layer gradient × 1.25 (reduced chain unchanged)",
    "phi_zero": "the Euler defect φ_σ taken to be 0",
    "wrong_moment": "the moment E[yx] replaced by E[y³x]/E[y²]",
    "variance_clock": "Γ = ‖E[yx]‖ replaced by √E[y²]",
    "time_rescale": "flow speed × (smallest layer norm)^0.2: the plateau clock runs ε-dependently",
}

GRADIENT_SCALE = 1.25
TIME_EXPONENT = 0.2


def current() -> str | None:
    """The switch that is on, or None; an unknown name is refused."""
    name = os.environ.get(ENV, "").strip()
    if not name:
        return None
    if name not in COUNTERFACTUALS:
        raise ValueError(
            f"environment variable {ENV} = {name!r} is not a counterfactual; "
            f"allowed: {', '.join(COUNTERFACTUALS)}"
        )
    return name


def active(name: str) -> bool:
    """True when the counterfactual ``name`` is switched on."""
    if name not in COUNTERFACTUALS:
        raise ParameterError(
            f"parameter 'name': unknown counterfactual {name!r}; allowed: {', '.join(COUNTERFACTUALS)}"
        )
    return current() == name


def bend_gradients(grads: list, norms, *, full_network: bool = True) -> list:
    """Apply ``gradient_scale`` / ``time_rescale`` to a list of layer gradients.

    Parameters
    ----------
    grads : list of torch.Tensor
        Layer gradients (leading batch dimension allowed).
    norms : callable
        Returns the smallest layer norm, a float or a ``(B,)`` tensor; called
        only under ``time_rescale``.
    full_network : bool, default True
        False for the reduced chain, which ``gradient_scale`` leaves alone.
    """
    name = current()
    if name == "gradient_scale" and full_network:
        grads = list(grads)
        grads[0] = grads[0] * GRADIENT_SCALE
    elif name == "time_rescale":
        factor = norms() ** TIME_EXPONENT
        if hasattr(factor, "dim") and factor.dim() > 0:
            grads = [g * factor.reshape((-1,) + (1,) * (g.dim() - 1)) for g in grads]
        else:
            grads = [g * factor for g in grads]
    return grads
