"""Theory: the imbalance identity (Theorem 1), closed forms for deep linear
networks, the reduced ODE and its laws (Theorem 4, critical depth), exponent fits.
"""
from ._identity import (
    imbalance,
    imbalance_rates,
    identity_scale,
    matrix_imbalance,
    matrix_imbalance_rates,
    gd_imbalance_step,
)
from ._linear import (
    saxe_mode_strength,
    two_layer_aligned_init,
    saxe_half_time,
    two_layer_modes_init,
    mode_strengths,
    growing_mode_strength,
)
from ._reduced import (
    quadrature_data,
    ReducedChain,
    reduced_flow,
    ReducedTrajectory,
    blowup_time,
    balanced_scalar,
    critical_depth_integral,
)
from ._fits import (
    loglog_slope,
    local_slopes,
    corrected_exponent,
    log_power,
    limit_at_zero,
    fit_power,
    fit_log,
    PowerFit,
    LogFit,
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
