"""Networks: activations and their universality classes, bias-free deep networks,
initializations and losses.
"""
from ._activations import (
    ACTIVATIONS,
    SMOOTH,
    quadratic,
    get_activation,
    derivative,
    phi,
)
from ._classes import (
    ActivationClass,
    classify,
    taylor_coefficients,
    CLASS_LABELS,
)
from ._network import (
    check_shapes,
    preactivations,
    forward,
    widths_for,
    init_gaussian,
)
from ._initializers import (
    INITIALIZATIONS,
    bottleneck_layers,
    layer_scales,
    symmetric_weights,
    he_weights,
    small_weights,
)
from ._losses import (
    LOSSES,
    loss_value,
    network_loss,
)

__all__ = [
    "ACTIVATIONS",
    "SMOOTH",
    "quadratic",
    "get_activation",
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
