"""One call that prepares a chapter's process."""
from __future__ import annotations

import ctypes
import glob
import os

import torch

from .figures import use_style

__all__ = ["setup"]


def setup(threads: int = 1) -> None:
    """Threads for torch and scipy's BLAS, and the book's figure style.

    The book's problems are tiny (widths of 2–64): on a shared machine one thread per
    kernel is much faster than two, for torch and for the LU solves of scipy's implicit
    integrators, whose bundled OpenBLAS has no Python-level switch (set here through its
    C entry point, best effort).

    Parameters
    ----------
    threads : int
        Threads per kernel, at least 1.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        from ..errors import ParameterError

        raise ParameterError(f"parameter 'threads' must be an integer >= 1, got {threads!r}")
    torch.set_num_threads(threads)
    import scipy

    libs = os.path.join(os.path.dirname(scipy.__file__), os.pardir, "scipy.libs", "libscipy_openblas*.so")
    for path in glob.glob(libs):
        try:
            ctypes.CDLL(path).scipy_openblas_set_num_threads(threads)
        except (OSError, AttributeError):
            pass
    use_style()
