import json

import pytest

from saddlebook import checks
from saddlebook.checks import CheckFailed, check


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.delenv(checks.ENV_FILE, raising=False)
    checks.reset()
    yield
    checks.reset()


def test_pass_with_tolerance_returns_measured():
    assert check("a", 1.0 + 1e-10, expected=1.0, rtol=1e-9, source="test") == pytest.approx(1.0)
    assert checks.records()[0]["passed"] is True


def test_fail_raises_readable_message_and_is_recorded():
    with pytest.raises(CheckFailed, match=r"check 'slope' failed: measured 2\.5.*expected 2.*Source: NOTES §6"):
        check("slope", 2.5, expected=2.0, atol=0.05, source="NOTES §6")
    assert checks.records()[-1]["passed"] is False


def test_bounds():
    check("in", 0.5, lo=0, hi=1, source="t")
    with pytest.raises(CheckFailed, match="upper bound"):
        check("above", 1.5, hi=1, source="t")
    with pytest.raises(CheckFailed, match="lower bound"):
        check("below", -1, lo=0, source="t")


def test_nan_always_fails():
    with pytest.raises(CheckFailed, match="not finite"):
        check("nan", float("nan"), lo=0, source="t")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(expected=1.0), "needs rtol"),
        (dict(), "give expected"),
        (dict(expected=1.0, rtol=-1), "rtol must be >= 0"),
    ],
)
def test_malformed_checks_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        check("bad", 1.0, source="t", **kwargs)


def test_source_is_required():
    with pytest.raises(ValueError, match="source"):
        check("x", 1.0, lo=0, source="")


def test_records_written_to_env_file(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "checks.json"
    monkeypatch.setenv(checks.ENV_FILE, str(target))
    check("one", 1, lo=0, source="t")
    check("two", 2, expected=2, atol=0, source="t")
    data = json.loads(target.read_text())
    assert [r["name"] for r in data] == ["one", "two"]
    assert all(r["passed"] for r in data)


def test_torch_and_numpy_scalars_accepted():
    import numpy as np
    import torch

    check("np", np.float64(0.5), lo=0, source="t")
    check("torch", torch.tensor(0.5, dtype=torch.float64), lo=0, source="t")
    check("bool", True, expected=1, atol=0, source="t")
