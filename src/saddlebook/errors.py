"""The package's three error types.

Every function that takes a parameter raises :class:`ParameterError` (a
``ValueError``) naming the parameter and its allowed values before any compute;
a run whose loss stops being finite raises :class:`DivergenceError`; an
activation with no Taylor expansion at 0 raises :class:`NotSmoothError` from
the classifier.
"""

__all__ = ["ParameterError", "DivergenceError", "NotSmoothError"]


class ParameterError(ValueError):
    """A chapter or function parameter is out of its allowed range or type."""


class DivergenceError(FloatingPointError):
    """Training diverged: the loss became non-finite or exploded.

    Attributes
    ----------
    t : float
        Flow time at which divergence was detected.
    loss : float
        Loss value there (may be NaN or inf).
    config : str
        Short description of the run (integrator, step size, ...).
    """

    def __init__(self, t: float, loss: float, config: str = "", reason: str = "") -> None:
        self.t = float(t)
        self.loss = float(loss)
        self.config = config
        self.reason = reason
        msg = f"training diverged at t={self.t:.6g} with loss={self.loss:.6g}"
        if reason:
            msg += f" ({reason})"
        if config:
            msg += f" [{config}]"
        super().__init__(msg)

    def __reduce__(self):
        # Rebuilt from its fields, so that it survives the pickling of a worker process or a Dask cluster.
        return (type(self), (self.t, self.loss, self.config, self.reason))


class NotSmoothError(ValueError):
    """The activation is not smooth at 0 and not positively homogeneous.

    Such an activation has no Taylor expansion at 0, so it belongs to none of
    the classes A–D. Attributes give the evidence.

    Attributes
    ----------
    name : str
        Display name of the activation.
    order : int
        Lowest derivative order k at which the one-sided limits of σ^{(k)}
        at 0 disagree (or disagree with the value at 0).
    left, right : float
        σ^{(k)}(−h) and σ^{(k)}(+h) at the smallest step h used.
    at_zero : float
        σ^{(k)}(0) as autograd returns it (possibly torch's subgradient
        convention, i.e. silently wrong).
    """

    def __init__(self, name: str, order: int, left: float, right: float, at_zero: float, h: float):
        self.name = name
        self.order = int(order)
        self.left = float(left)
        self.right = float(right)
        self.at_zero = float(at_zero)
        what = "value" if order == 0 else f"derivative of order {order}"
        super().__init__(
            f"activation {name!r} is not smooth at 0: its {what} has one-sided values "
            f"{self.left:.6g} (z = -{h:g}) and {self.right:.6g} (z = +{h:g}) while autograd "
            f"returns {self.at_zero:.6g} at z = 0, and it is not positively homogeneous "
            f"(φ_σ ≢ 0). It has no Taylor expansion at 0, so it belongs to none of the "
            f"classes A-D (nested autograd at 0 would have classified it silently and wrongly)."
        )
