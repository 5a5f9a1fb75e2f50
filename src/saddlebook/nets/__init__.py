"""Networks: activations and their universality classes, bias-free deep networks,
initializations and losses.
"""
from ._activations import (
    ACTIVATIONS,
    REGISTRY,
    SMOOTH,
    Activation,
    ActivationSpec,
    Pair,
    activation_pair,
    derivative,
    get_activation,
    phi,
    quadratic,
)
from ._classes import (
    CLASS_LABELS,
    ActivationClass,
    classify,
    taylor_coefficients,
)
from ._initializers import (
    INITIALIZATIONS,
    bottleneck_layers,
    he_weights,
    layer_scales,
    small_weights,
    symmetric_weights,
)
from ._losses import (
    LOSSES,
    loss_value,
    network_loss,
)
from ._network import (
    check_shapes,
    forward,
    init_gaussian,
    preactivations,
    widths_for,
)

__all__ = [
    "Activation",
    "Pair",
    "ActivationSpec",
    "REGISTRY",
    "ACTIVATIONS",
    "SMOOTH",
    "quadratic",
    "get_activation",
    "activation_pair",
    "derivative",
    "phi",
    "ActivationClass",
    "classify",
    "taylor_coefficients",
    "CLASS_LABELS",
    "check_shapes",
    "preactivations",
    "forward",
    "widths_for",
    "init_gaussian",
    "INITIALIZATIONS",
    "bottleneck_layers",
    "layer_scales",
    "symmetric_weights",
    "he_weights",
    "small_weights",
    "LOSSES",
    "loss_value",
    "network_loss",
]
