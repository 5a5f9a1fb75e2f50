"""Geometry of the flow: the permutation-symmetric manifold and its reduced
coordinates, symmetry breaking off it, feature overlaps, the signal energy.
"""
from ._manifold import (
    deviation,
    from_reduced,
    project,
    reduced_distance,
    row_deviation,
    to_reduced,
)
from ._overlaps import (
    METRICS,
    feature_weights,
    gram,
    linear_coefficient,
    moment_overlaps,
    overlap_matrix,
    overlap_trajectory,
    predicted_ratios,
    principal_overlaps,
    teacher_directions,
)
from ._signal_energy import (
    escape_exponent,
    fit_growth,
    growth_exponent,
    linear_moment,
    plateau_time,
    signal_energy,
    signal_energy_rate,
)
from ._symmetry_breaking import (
    distance,
    layer_distances,
    off_manifold,
    perturb,
)

__all__ = [
    "project",
    "deviation",
    "row_deviation",
    "to_reduced",
    "reduced_distance",
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
