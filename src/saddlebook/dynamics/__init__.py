"""Training dynamics: batched full-network gradients, the batched adaptive
integrator, gradient descent, the scipy reference flow, escape times and
sweeps, weights along flows, escapes from uninformed starts, throughput.
"""
from ._batch import (
    NetworkBatch,
    activation_pair,
)
from ._descent import (
    DescentResult,
    gradient_descent,
)
from ._escape import (
    CRITERIA,
    DATA,
    MODELS,
    SweepResult,
    escape_time,
    sweep,
)
from ._integrator import (
    EngineResult,
    integrate,
    progress_enabled,
)
from ._perf import (
    gd_escape,
    gd_step_for_accuracy,
    gradient_flops,
    gradient_rate,
    load_average,
    matmul_rate,
)
from ._reference import (
    FlowResult,
    flow_through_escape,
    gradient,
    gradient_flow,
)
from ._trajectory import (
    flow_states,
)
from ._uninformed import (
    first_layer_moment,
    he_escape_grid,
    he_escapes,
    linear_first_layer_moment,
    middle_bottleneck,
)

__all__ = [
    "activation_pair",
    "NetworkBatch",
    "integrate",
    "EngineResult",
    "progress_enabled",
    "gradient",
    "gradient_flow",
    "flow_through_escape",
    "FlowResult",
    "gradient_descent",
    "DescentResult",
    "escape_time",
    "sweep",
    "SweepResult",
    "MODELS",
    "DATA",
    "CRITERIA",
    "flow_states",
    "first_layer_moment",
    "linear_first_layer_moment",
    "middle_bottleneck",
    "he_escapes",
    "he_escape_grid",
    "gradient_flops",
    "matmul_rate",
    "gradient_rate",
    "gd_escape",
    "gd_step_for_accuracy",
    "load_average",
]
