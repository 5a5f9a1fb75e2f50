"""States of batched gradient flows at chosen times.

:func:`saddlebook.dynamics.integrate` returns only the final state of each run
(and, with ``record=True``, loss and layer norms). Quantities that need the
weights themselves along the way (distance to the symmetric manifold, the
signal energy) are read off at a few output times by restarting the engine
from each output state: the flow is autonomous, so a restart changes only
the step-size history, not the trajectory (to the engine's tolerance).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

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
        Engine tolerance per segment.

    Returns
    -------
    list
        ``out[k][b]`` is the weight list of run b at ``times[k]``.

    Raises
    ------
    ValueError
        Times not increasing or negative, or no runs.
    """
    ts = np.asarray(times, dtype=float).ravel()
    if ts.size == 0 or not np.all(np.isfinite(ts)) or ts[0] < 0 or np.any(np.diff(ts) <= 0):
        raise ValueError("parameter 'times' must be finite, >= 0 and strictly increasing")
    runs = [list(w) for w in weights0]
    if not runs:
        raise ValueError("parameter 'weights0' must hold at least one network")
    problem = NetworkBatch(sigma, x, y)
    state = [torch.stack([w[k] for w in runs]) for k in range(len(runs[0]))]
    t, out = 0.0, []
    for tk in ts:
        if tk > t:
            state = integrate(problem, state, t_max=float(tk - t), rtol=rtol).final
            t = float(tk)
        out.append([[p[b].clone() for p in state] for b in range(len(runs))])
    return out
