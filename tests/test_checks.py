import json

import pytest

from saddlebook.book import checks
from saddlebook.book.checks import CheckFailed, check


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.delenv(checks.ENV_FILE, raising=False)
    checks.reset()
    yield
    checks.reset()


def test_pass_with_tolerance_returns_measured():
    assert check("a", 1.0 + 1e-10, expected=1.0, rtol=1e-9, source="test", kind="claim") == pytest.approx(1.0)
    assert checks.records()[0]["passed"] is True


def test_fail_raises_readable_message_and_is_recorded():
    with pytest.raises(CheckFailed, match=r"check 'slope' failed: measured 2\.5.*expected 2.*Source: NOTES §6"):
        check("slope", 2.5, expected=2.0, atol=0.05, source="NOTES §6", kind="claim")
    assert checks.records()[-1]["passed"] is False


def test_bounds():
    check("in", 0.5, lo=0, hi=1, source="t", kind="claim")
    with pytest.raises(CheckFailed, match="upper bound"):
        check("above", 1.5, hi=1, source="t", kind="claim")
    with pytest.raises(CheckFailed, match="lower bound"):
        check("below", -1, lo=0, source="t", kind="claim")


def test_nan_always_fails():
    with pytest.raises(CheckFailed, match="not finite"):
        check("nan", float("nan"), lo=0, source="t", kind="claim")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(expected=1.0), "needs rtol"),
        (dict(), "give expected"),
        (dict(expected=1.0, rtol=-1), "'rtol' must be >= 0"),
    ],
)
def test_malformed_checks_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        check("bad", 1.0, source="t", kind="claim", **kwargs)


def test_source_is_required():
    with pytest.raises(ValueError, match="source"):
        check("x", 1.0, lo=0, source="", kind="claim")


def test_records_written_to_env_file(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "checks.json"
    monkeypatch.setenv(checks.ENV_FILE, str(target))
    check("one", 1, lo=0, source="t", kind="claim")
    check("two", 2, expected=2, atol=0, source="t", kind="claim")
    data = json.loads(target.read_text())
    assert [r["name"] for r in data] == ["one", "two"]
    assert all(r["passed"] for r in data)


def test_torch_and_numpy_scalars_accepted():
    import numpy as np
    import torch

    check("np", np.float64(0.5), lo=0, source="t", kind="claim")
    check("torch", torch.tensor(0.5, dtype=torch.float64), lo=0, source="t", kind="claim")
    check("bool", True, expected=1, atol=0, source="t", kind="claim")


def test_kind_is_required_and_recorded():
    with pytest.raises(TypeError):
        check("no kind", 1.0, lo=0, source="t")
    with pytest.raises(ValueError, match="'kind' must be one of"):
        check("bad kind", 1.0, lo=0, source="t", kind="evidence")
    check("a claim", 1.0, lo=0, source="t", kind="claim")
    check("a cross-check", 1.0, lo=0, source="t", kind="consistency")
    assert [r["kind"] for r in checks.records()[-2:]] == ["claim", "consistency"]


@pytest.mark.parametrize(
    "kwargs, value, want",
    [
        (dict(expected=2.0, atol=0.1), 2.0, 1.0),
        (dict(expected=2.0, atol=0.1), 2.05, 0.5),
        (dict(lo=0.0, hi=4.0), 1.0, 0.5),
        (dict(lo=2.0), 3.0, 0.5),
        (dict(hi=0.0), -0.25, 0.25),
    ],
)
def test_margin_is_the_unused_fraction_of_the_tolerance(kwargs, value, want):
    check("m", value, source="t", kind="claim", **kwargs)
    assert checks.records()[-1]["margin"] == pytest.approx(want)


def test_falsify_mode_records_failures_without_raising(monkeypatch):
    monkeypatch.setenv(checks.ENV_FALSIFY, "1")
    assert check("fails quietly", 3.0, hi=1.0, source="t", kind="claim") == 3.0
    rec = checks.records()[-1]
    assert not rec["passed"] and rec["margin"] < 0
