"""Sweeps on an executor or a Dask cluster, and the device option: the same numbers as the serial sweep.

Exact equality (not a tolerance) is the claim: every run's arithmetic is
independent of the other runs in its batch, so splitting a sweep into batches
changes no bit. CPU only; the GPU path is measured by benchmarks/gpu.py.
"""
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from saddlebook import DivergenceError, ParameterError, sweep
from saddlebook.dynamics import Descent

# The book's sizes (width 16, d = 16): every run's tensors fill whole SIMD chunks.
BOOK = dict(width=16, input_dim=16, n_samples=512, eps=[0.01, 0.02, 0.05])
CASES = {
    "he, loss": dict(init="he", seeds=[0, 1, 2]),
    "symmetric": dict(),
    "moment": dict(init="he", seeds=[3, 4], criterion="moment"),
    "reduced, population": dict(model="reduced", data="population"),
    "descent": dict(init="he", seeds=[0, 1], stepper=Descent(2.0), eps=[0.2, 0.3]),
    "float32": dict(init="he", seeds=[0, 1], dtype="float32"),
}


def same(a, b) -> bool:
    return (np.array_equal(a.tau, b.tau, equal_nan=True) and np.array_equal(a.nfev, b.nfev)
            and np.array_equal(a.steps, b.steps) and np.array_equal(a.loss0, b.loss0))


@pytest.mark.parametrize("case", CASES)
def test_thread_pool_batches_equal_the_serial_sweep(case):
    options = {**BOOK, **CASES[case]}
    serial = sweep("tanh", 4, 3, **options)
    with ThreadPoolExecutor(2) as pool:
        for batches in (2, 3, len(serial.tau)):
            assert same(sweep("tanh", 4, 3, executor=pool, batches=batches, **options), serial), batches


def test_dask_local_cluster_equals_the_serial_sweep():
    from dask.distributed import Client, LocalCluster

    options = {**BOOK, "init": "he", "seeds": [0, 1, 2], "record": True}
    serial = sweep("tanh", 4, 3, **options)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        distributed = sweep("tanh", 4, 3, executor=client, **options)
    assert same(distributed, serial)
    assert distributed.config == serial.config
    for h, g in zip(distributed.history, serial.history):
        assert all(np.array_equal(h[k], g[k]) for k in ("t", "loss", "norms"))


def test_device_cpu_is_the_default_sweep():
    options = {**BOOK, "init": "he", "seeds": [0, 1]}
    default = sweep("tanh", 4, 3, **options)
    on_cpu = sweep("tanh", 4, 3, device="cpu", **options)
    assert same(on_cpu, default) and on_cpu.config["device"] == "cpu" and on_cpu.config["dtype"] == "float64"
    assert same(sweep("tanh", 4, 3, device=torch.device("cpu"), **options), default)


def test_unusable_device_and_executor_are_refused_before_any_work():
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="'device' = 'cuda'.*no CUDA device"):
            sweep("tanh", 4, 3, device="cuda", **BOOK)
    for bad in ("tpu", "gpu0", 3.5):
        with pytest.raises(ParameterError, match="'device'"):
            sweep("tanh", 4, 3, device=bad, **BOOK)
    with pytest.raises(ParameterError, match="'executor'"):
        sweep("tanh", 4, 3, executor=object(), **BOOK)
    with pytest.raises(ParameterError, match="'batches'"):
        sweep("tanh", 4, 3, batches=2, **BOOK)
    with ThreadPoolExecutor(1) as pool, pytest.raises(ParameterError, match="'batches'"):
        sweep("tanh", 4, 3, executor=pool, batches=0, **BOOK)


def test_a_divergence_on_a_worker_reaches_the_caller_with_its_configuration():
    err = pickle.loads(pickle.dumps(DivergenceError(3.0, float("inf"), "run eps=0.1", "loss exceeded")))
    assert (err.t, err.config, err.reason) == (3.0, "run eps=0.1", "loss exceeded") and "run eps=0.1" in str(err)
    with ThreadPoolExecutor(2) as pool, pytest.raises(DivergenceError, match="eps="):
        sweep("tanh", 3, 2, [0.5, 0.6], init="he", seeds=[0], width=8, input_dim=4, n_samples=64,
              stepper=Descent(500.0), executor=pool)


def test_local_workers_carry_the_kernels_malloc_settings_not_dasks(monkeypatch):
    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers; the chapters' kernels inherit the worker's
    # environment, so the build's workers must carry the book's thresholds instead.
    import os

    from saddlebook.publish._cluster import dask_client, isolated
    from saddlebook.publish.execute import MALLOC_ENV

    for k in MALLOC_ENV:
        monkeypatch.delenv(k, raising=False)

    def probe():
        with dask_client(workers=1) as client:
            return {k: client.submit(os.getenv, k, pure=False).result() for k in MALLOC_ENV}

    assert isolated(probe) == MALLOC_ENV
