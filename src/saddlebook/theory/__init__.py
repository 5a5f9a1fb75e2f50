"""Theory: the imbalance identity (Theorem 1), closed forms for deep linear
networks, the reduced ODE and its laws (Theorem 4, critical depth), exponent fits.
"""
from ._fits import (
    LogFit,
    PowerFit,
    corrected_exponent,
    fit_log,
    fit_power,
    limit_at_zero,
    local_slopes,
    log_power,
    loglog_slope,
)
from ._identity import (
    gd_imbalance_step,
    identity_scale,
    imbalance,
    imbalance_rates,
    matrix_imbalance,
    matrix_imbalance_rates,
)
from ._linear import (
    growing_mode_strength,
    mode_strengths,
    saxe_half_time,
    saxe_mode_strength,
    two_layer_aligned_init,
    two_layer_modes_init,
)
from ._reduced import (
    ReducedChain,
    ReducedTrajectory,
    balanced_scalar,
    blowup_time,
    critical_depth_integral,
    quadrature_data,
    reduced_flow,
)

__all__ = [
    "imbalance",
    "imbalance_rates",
    "identity_scale",
    "matrix_imbalance",
    "matrix_imbalance_rates",
    "gd_imbalance_step",
    "saxe_mode_strength",
    "two_layer_aligned_init",
    "saxe_half_time",
    "two_layer_modes_init",
    "mode_strengths",
    "growing_mode_strength",
    "quadrature_data",
    "ReducedChain",
    "reduced_flow",
    "ReducedTrajectory",
    "blowup_time",
    "balanced_scalar",
    "critical_depth_integral",
    "loglog_slope",
    "local_slopes",
    "corrected_exponent",
    "log_power",
    "limit_at_zero",
    "fit_power",
    "fit_log",
    "PowerFit",
    "LogFit",
]
