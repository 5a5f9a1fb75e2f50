import pytest
import torch

import saddlebook as sb
from saddlebook.dynamics import flow_states
from saddlebook.geometry import _manifold as M
from saddlebook.geometry import perturb
from saddlebook.nets import symmetric_weights

WID = [4, 5, 5, 5, 1]


def test_flow_states_stay_on_manifold_and_match_scipy():
    x = sb.gaussian_inputs(64, 4, seed=0)
    v = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    y = sb.SingleIndexTeacher(v, "tanh")(x)
    w = symmetric_weights(WID, [0.2, 0.2, 1.0, 1.0], direction=v)
    q = perturb(w, 1e-2, seed=1)
    ts = [0.0, 5.0, 20.0]
    st = flow_states("tanh", x, y, [w, q], ts, rtol=1e-10)
    assert len(st) == 3 and len(st[0]) == 2
    assert max(float(M.deviation(s[0])) for s in st) < 1e-13
    ref = sb.gradient_flow(q, "tanh", x, y, t_max=20.0, t_eval=ts, rtol=1e-11, atol=1e-14)
    for k in range(3):
        for a, b in zip(st[k][1], ref.weights[k]):
            assert torch.allclose(a, b, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="times"):
        flow_states("tanh", x, y, [w], [1.0, 0.5])
    with pytest.raises(ValueError, match="weights0"):
        flow_states("tanh", x, y, [], [1.0])
