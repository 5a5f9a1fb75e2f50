"""Escape times of a batch of initial weights of one problem, in one batched integration.

:func:`saddlebook.dynamics.sweep` builds its problem and its initial weights
from a configuration; :func:`batch_escape_times` takes both as given (any
problem of the protocol of :mod:`saddlebook.dynamics._integrator`, any list of
initial weights), for a chapter whose data and draws are its own. The escape
time is the package's one definition (:mod:`saddlebook.dynamics._crossing`):
the first time a run's loss reaches ``fraction`` × its initial loss, located
on the integrator's continuous extension.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..book import parameters as P
from ..errors import ParameterError
from ._integrator import integrate

__all__ = ["batch_escape_times"]


def batch_escape_times(
    problem,
    inits: Sequence[Sequence[torch.Tensor]],
    fraction: float,
    t_max: float,
    *,
    rtol: float = 1e-9,
    config: Sequence[str] | None = None,
) -> np.ndarray:
    """Escape time of every initial weight set, all advanced by one :func:`~saddlebook.dynamics.integrate` call.

    Parameters
    ----------
    problem : object
        A problem of the protocol (``evaluate``, ``observe``), e.g.
        :class:`~saddlebook.dynamics.NetworkBatch`.
    inits : sequence of lists of torch.Tensor
        One weight list ``[W_1, …, W_L]`` per run, all of the same shapes.
    fraction : float
        Escape level, in (0, 1): a run escapes when its loss first reaches
        ``fraction`` × its loss at t = 0.
    t_max : float
        Horizon (> 0): it only bounds a run that never escapes.
    rtol : float, default 1e-9
        Relative local error per layer and step of the integrator.
    config : sequence of str, optional
        Description of every run, used in error messages.

    Returns
    -------
    numpy.ndarray
        Escape times, shape ``(len(inits),)``; NaN for a run that did not
        escape by ``t_max``.

    Raises
    ------
    saddlebook.errors.ParameterError
        Bad ``inits``, ``fraction``, ``t_max``, ``rtol`` or ``config``, before
        any compute.
    saddlebook.errors.DivergenceError
        A run diverged.
    """
    fraction = P.real("fraction", fraction, 0, 1, lo_open=True, hi_open=True)
    t_max = P.real("t_max", t_max, 0, None, lo_open=True)
    rtol = P.real("rtol", rtol, 0, None, lo_open=True)
    params = _stacked(inits)
    if config is not None and len(config) != len(inits):
        raise ParameterError(f"parameter 'config' must have one description per run ({len(inits)}), got {len(config)}")
    with torch.no_grad():
        loss0, _ = problem.observe(params)
        res = integrate(problem, params, t_max=t_max, event_level=fraction * loss0.numpy(), rtol=rtol, config=config)
    return res.t_event


def _stacked(inits) -> list[torch.Tensor]:
    # Run-major weight lists -> layer-major batched tensors (B, ...).
    if not (isinstance(inits, (list, tuple)) and inits and all(isinstance(w, (list, tuple)) and w for w in inits)):
        raise ParameterError("parameter 'inits' must be a non-empty list of weight lists [W_1, ..., W_L]")
    shapes = [tuple(w.shape) for w in inits[0]]
    if any([tuple(w.shape) for w in ws] != shapes for ws in inits):
        raise ParameterError(f"parameter 'inits': every run must have the weight shapes of the first, {shapes}")
    return [torch.stack([ws[k] for ws in inits]) for k in range(len(shapes))]
