"""States of batched gradient flows at chosen times.

Quantities that need the weights themselves along the way (distance to the
symmetric manifold, the signal energy) are read off at a few output times by
one :func:`saddlebook.dynamics.integrate` call with ``t_eval``: the states
there come from the Dormand–Prince continuous extension of the step that
brackets each time (fourth order, accurate to about the local tolerance).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import ParameterError
from ._batch import NetworkBatch
from ._integrator import integrate

__all__ = ["flow_states"]


def flow_states(
    sigma,
    x: torch.Tensor,
    y: torch.Tensor,
    weights0: Sequence[Sequence[torch.Tensor]],
    times: Sequence[float],
    rtol: float = 1e-9,
) -> list[list[list[torch.Tensor]]]:
    """Weights of B full networks at the given flow times.

    Parameters
    ----------
    sigma : str or callable
        Activation.
    x, y : torch.Tensor
        Inputs ``(n, d)`` and targets ``(n,)``; loss ½ · mean (ŷ − y)².
    weights0 : sequence of weight lists
        B initial networks ``[W_1, …, W_L]`` of one architecture.
    times : sequence of float
        Increasing output times ≥ 0.
    rtol : float, default 1e-9
        Engine tolerance.

    Returns
    -------
    list
        ``out[k][b]`` is the weight list of run b at ``times[k]``.

    Raises
    ------
    saddlebook.errors.ParameterError
        Times not increasing or negative, or no runs.
    """
    ts = np.asarray(times, dtype=float).ravel()
    if ts.size == 0 or not np.all(np.isfinite(ts)) or ts[0] < 0 or np.any(np.diff(ts) <= 0):
        raise ParameterError("parameter 'times' must be finite, >= 0 and strictly increasing")
    runs = [list(w) for w in weights0]
    if not runs:
        raise ParameterError("parameter 'weights0' must hold at least one network")
    state = [torch.stack([w[k] for w in runs]) for k in range(len(runs[0]))]
    if ts[-1] == 0:
        return [[[p[b].clone() for p in state] for b in range(len(runs))]]
    res = integrate(NetworkBatch(sigma, x, y), state, t_max=float(ts[-1]), rtol=rtol, t_eval=ts)
    return [[[s[k, b].clone() for s in res.states] for b in range(len(runs))] for k in range(ts.size)]
