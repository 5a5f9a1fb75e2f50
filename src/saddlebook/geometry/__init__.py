"""Geometry of the flow: the permutation-symmetric manifold and its reduced
coordinates, symmetry breaking off it, feature overlaps, the signal energy.
"""
from ._manifold import (
    project,
    deviation,
    row_deviation,
    to_reduced,
    from_reduced,
)
from ._symmetry_breaking import (
    off_manifold,
    distance,
    layer_distances,
    perturb,
)
from ._overlaps import (
    METRICS,
    linear_coefficient,
    feature_weights,
    teacher_directions,
    gram,
    moment_overlaps,
    predicted_ratios,
    overlap_matrix,
    principal_overlaps,
    overlap_trajectory,
)
from ._signal_energy import (
    linear_moment,
    signal_energy,
    signal_energy_rate,
    growth_exponent,
    escape_exponent,
    plateau_time,
    fit_growth,
)

__all__ = [
    "project",
    "deviation",
    "row_deviation",
    "to_reduced",
    "from_reduced",
    "off_manifold",
    "distance",
    "layer_distances",
    "perturb",
    "METRICS",
    "linear_coefficient",
    "feature_weights",
    "teacher_directions",
    "gram",
    "moment_overlaps",
    "predicted_ratios",
    "overlap_matrix",
    "principal_overlaps",
    "overlap_trajectory",
    "linear_moment",
    "signal_energy",
    "signal_energy_rate",
    "growth_exponent",
    "escape_exponent",
    "plateau_time",
    "fit_growth",
]
