"""Real covariates: scikit-learn's 8×8 handwritten digits, and targets built on them.

The data set ships inside the installed scikit-learn package
(``sklearn.datasets.load_digits``: 1797 images of 8×8 pixels with integer
intensities 0–16, ten classes; a copy of the UCI "Optical Recognition of
Handwritten Digits" test set), so nothing is downloaded at run time.

Preprocessing (:func:`load_digits_covariates`): a seeded subsample, every
pixel centred, and *one* global scale factor so that the average pixel
variance is 1 (tr Σ̂ = d). Per-pixel standardisation or whitening would
divide by the zero variance of the always-blank border pixels and, worse,
would erase the anisotropy of the input covariance that the theory says
enters Γ through u = ‖Σv‖/s; a single global scale keeps Σ̂'s shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .parameters import ParameterError

__all__ = ["Covariates", "load_digits_covariates", "label_target", "principal_directions"]


@dataclass(frozen=True, eq=False)
class Covariates:
    """A real-data design matrix and its labels.

    Attributes
    ----------
    x : torch.Tensor
        Centred, globally scaled inputs, shape ``(n, d)``, float64.
    labels : torch.Tensor
        Integer class labels, shape ``(n,)``.
    scale : float
        The factor the centred raw pixels were divided by.
    source : str
        Where the data come from (package and version).
    """

    x: torch.Tensor
    labels: torch.Tensor
    scale: float
    source: str


def load_digits_covariates(n: int | None = 512, seed: int = 0) -> Covariates:
    """Load the scikit-learn digits as centred, globally scaled covariates.

    Parameters
    ----------
    n : int or None, default 512
        Number of images, drawn without replacement by a seeded permutation
        (2 … 1797); None keeps all 1797 in their stored order.
    seed : int, default 0
        Seed of the subsample.

    Returns
    -------
    Covariates
        ``x`` has zero column means and ``tr(xᵀx/n) = 64`` up to round-off.
    """
    import sklearn
    from sklearn.datasets import load_digits

    raw = load_digits()
    data = np.asarray(raw.data, dtype=np.float64)
    target = np.asarray(raw.target, dtype=np.int64)
    total = data.shape[0]
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 2 <= n <= total:
            raise ParameterError(f"parameter 'n' = {n!r} must be an integer in [2, {total}] or None")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ParameterError(f"parameter 'seed' = {seed!r} must be an integer >= 0")
        idx = np.random.default_rng(int(seed)).permutation(total)[: int(n)]
        data, target = data[idx], target[idx]
    data = data - data.mean(axis=0)
    scale = float(np.sqrt((data**2).sum() / (data.shape[0] * data.shape[1])))
    x = torch.as_tensor(data / scale, dtype=torch.float64)
    return Covariates(x=x, labels=torch.as_tensor(target), scale=scale,
                      source=f"sklearn.datasets.load_digits (scikit-learn {sklearn.__version__})")


def label_target(labels: torch.Tensor, classes: Sequence[int]) -> torch.Tensor:
    """Centred indicator target y = 1[label ∈ classes] − (fraction in classes).

    Centring removes the constant part, which a bias-free network cannot fit
    and which does not enter E[y x] for centred x anyway.

    Parameters
    ----------
    labels : torch.Tensor
        Integer labels, shape ``(n,)``.
    classes : sequence of int
        The positive classes (non-empty).

    Returns
    -------
    torch.Tensor
        Shape ``(n,)``, float64, mean zero.
    """
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1:
        raise ParameterError("parameter 'labels' must be a 1-D tensor")
    classes = list(classes)
    if not classes or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in classes):
        raise ParameterError(f"parameter 'classes' = {classes!r} must be a non-empty list of integers")
    ind = torch.zeros(labels.shape[0], dtype=torch.float64)
    for c in classes:
        ind = ind + (labels == int(c)).to(torch.float64)
    if float(ind.sum()) == 0:
        raise ParameterError(f"parameter 'classes' = {classes!r}: no sample has one of these labels")
    return ind - ind.mean()


def principal_directions(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending) and eigenvectors (columns) of Σ̂ = xᵀx/n.

    Parameters
    ----------
    x : torch.Tensor
        Centred inputs, shape ``(n, d)``.

    Returns
    -------
    eigenvalues : torch.Tensor
        Shape ``(d,)``, descending.
    eigenvectors : torch.Tensor
        Shape ``(d, d)``; column k belongs to eigenvalue k.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ParameterError("parameter 'x' must be a 2-D tensor of shape (n, d)")
    x = x.to(torch.float64)
    evals, evecs = torch.linalg.eigh(x.T @ x / x.shape[0])
    return evals.flip(0), evecs.flip(1)
