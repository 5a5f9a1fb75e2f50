"""One sweep serially and on a local Dask cluster of 1 and 2 worker processes, printed (never asserted).

    .venv/bin/python benchmarks/cluster.py [--seeds 4]

The sweep is the Performance page's r = 4 one made wider in seeds: tanh,
depth 6, width 16, d = 16, 1024 samples, symmetric start, 4 values of eps
from 1e-5, rtol 1e-7, times the seeds given (He-normal starts, so every seed
is a different run). Prints the wall time of each, the speed-up over the
serial sweep, and whether the escape times equal the serial ones exactly.
The cluster's start (spawning the workers, which then import the package) is
timed separately.
"""
from __future__ import annotations

import argparse
import importlib
import os
import time

import numpy as np

import saddlebook as sb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    args = ap.parse_args()
    from dask.distributed import Client, LocalCluster

    cfg = sb.SweepConfig("tanh", 6, 4, list(1e-5 * 10 ** (np.arange(4) / 4)), seeds=list(range(args.seeds)),
                         init="he", width=16, input_dim=16, n_samples=1024, t_max=1e13, rtol=1e-7, threads=1)
    print(f"{os.cpu_count()} cores; sweep of {4 * args.seeds} runs (depth 6, r = 4, width 16, 1024 samples)")
    serial = sb.sweep(cfg)
    print(f"serial, this process     {serial.wall_time:8.2f} s")
    for workers in (1, 2):
        start = time.perf_counter()
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
                Client(lc) as client:
            client.run(importlib.import_module, "saddlebook")  # workers import torch before the clock starts
            up = time.perf_counter() - start
            res = sb.sweep(cfg, executor=client)
        exact = np.array_equal(res.tau, serial.tau, equal_nan=True)
        print(f"Dask, {workers} worker(s)        {res.wall_time:8.2f} s  "
              f"speed-up {serial.wall_time / res.wall_time:5.2f}x  (cluster start {up:.1f} s)  "
              f"escape times equal the serial ones: {exact}")


if __name__ == "__main__":
    main()
