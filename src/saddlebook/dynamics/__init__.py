"""Training dynamics: batched full-network gradients, the batched adaptive
integrator, gradient descent, the scipy reference flow, escape times and
sweeps, weights along flows, escapes from uninformed starts, throughput.
"""
from ._batch import (
    activation_pair,
    NetworkBatch,
)
from ._integrator import (
    integrate,
    EngineResult,
    progress_enabled,
)
from ._reference import (
    gradient,
    gradient_flow,
    flow_through_escape,
    FlowResult,
)
from ._descent import (
    gradient_descent,
    DescentResult,
)
from ._escape import (
    escape_time,
    sweep,
    SweepResult,
    MODELS,
    DATA,
    CRITERIA,
)
from ._trajectory import (
    flow_states,
)
from ._uninformed import (
    first_layer_moment,
    linear_first_layer_moment,
    middle_bottleneck,
    he_escapes,
    he_escape_grid,
)
from ._perf import (
    gradient_flops,
    matmul_rate,
    gradient_rate,
    gd_escape,
    gd_step_for_accuracy,
    load_average,
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
