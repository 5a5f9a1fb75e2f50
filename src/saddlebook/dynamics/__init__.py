"""Training dynamics: the problem protocol, batched full-network gradients,
the batched adaptive integrator, gradient descent, the scipy reference flow, escape times and
sweeps, weights along flows, escapes from uninformed starts, throughput.
"""
from ._batch import (
    NetworkBatch,
)
from ._batch_escape import (
    batch_escape_times,
)
from ._crossing import (
    crossing_time,
)
from ._descent import (
    Descent,
    DescentBatchResult,
    DescentResult,
    descend,
    gradient_descent,
)
from ._escape import (
    CRITERIA,
    DATA,
    MODELS,
    SweepConfig,
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
    activation_seconds,
    gd_escape,
    gd_step_for_accuracy,
    gd_trial,
    gradient_flops,
    gradient_rate,
    load_average,
    matmul_rate,
)
from ._problem import (
    MAX_LOSS_RATIO,
    AutogradProblem,
    Problem,
)
from ._reference import (
    FlowResult,
    ReferenceSolution,
    flow_through_escape,
    gradient,
    gradient_flow,
    reference_flow,
)
from ._sgd_noise import (
    clock_spread,
    minibatch_rates,
    minibatch_rows,
    random_clock_escape,
    rate_spread,
    row_rates,
)
from ._sharpness import (
    MAX_SHARPNESS_PARAMETERS,
    hessian,
    sharpness,
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
    "Problem",
    "AutogradProblem",
    "MAX_LOSS_RATIO",
    "NetworkBatch",
    "integrate",
    "EngineResult",
    "progress_enabled",
    "gradient",
    "gradient_flow",
    "flow_through_escape",
    "FlowResult",
    "reference_flow",
    "ReferenceSolution",
    "gradient_descent",
    "DescentResult",
    "Descent",
    "descend",
    "DescentBatchResult",
    "crossing_time",
    "batch_escape_times",
    "escape_time",
    "sweep",
    "SweepConfig",
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
    "activation_seconds",
    "gd_step_for_accuracy",
    "gd_trial",
    "load_average",
    "minibatch_rows",
    "row_rates",
    "minibatch_rates",
    "rate_spread",
    "clock_spread",
    "random_clock_escape",
    "hessian",
    "sharpness",
    "MAX_SHARPNESS_PARAMETERS",
]
