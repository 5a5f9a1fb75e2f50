"""One plotting style for every chapter (a leaf: no mathematics here).

Figures are drawn with matplotlib, sized for the book's text column, with
colour-blind-safe colours assigned by activation name so that "tanh" has the
same colour on every page.
"""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

# Okabe–Ito palette: distinguishable under the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

_ACTIVATION_ORDER = [
    "tanh", "sin", "erf", "gelu", "silu", "quadratic", "sigmoid", "softplus", "identity", "relu",
    "leaky_relu",
]

STYLE = {
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=PALETTE),
    "legend.frameon": False,
    "font.size": 10,
}


def use_style() -> None:
    """Apply the book's matplotlib style (idempotent)."""
    mpl.rcParams.update(STYLE)


def color(name: str) -> str:
    """The fixed colour of an activation (or any label) across the book."""
    if name in _ACTIVATION_ORDER:
        return PALETTE[_ACTIVATION_ORDER.index(name) % len(PALETTE)]
    return PALETTE[sum(map(ord, name)) % len(PALETTE)]


def subplots(nrows: int = 1, ncols: int = 1, *, width: float = 6.4, height: float = 3.6, **kw):
    """``plt.subplots`` in the book's style, with a layout that keeps labels inside."""
    use_style()
    return plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", **kw)
