"""The book's tools: claim checks, chapter-parameter validation, the plotting
style, and the counterfactual switches of the falsification run.

Chapters import these as ``from saddlebook.book import check, figures, parameters as P, setup``;
the mathematics comes from the top-level namespace (``import saddlebook as sb``).
"""

from . import checks, counterfactual, figures, parameters
from ._setup import setup
from ._tables import table
from .checks import KINDS, CheckFailed, check, margin, records, reset

__all__ = [
    "setup",
    "table",
    "check",
    "CheckFailed",
    "KINDS",
    "margin",
    "records",
    "reset",
    "checks",
    "counterfactual",
    "figures",
    "parameters",
]
