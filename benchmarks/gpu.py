"""GPU against CPU throughput on the same sweep, printed (never asserted).

    .venv/bin/python benchmarks/gpu.py [--runs 64] [--width 16] [--samples 4096]

Runs one escape sweep (tanh, depth 6, r = 3, He-normal starts with the first
three layers at eps, Gaussian data) three ways: on the CPU in float64 (the
book's setting), on the GPU in float32 (the GPU default) and on the GPU in
float64, and prints wall time, runs per second, the GPU/CPU speed ratio and
the largest relative difference of the escape times against the CPU float64
sweep. Without a CUDA device it says so and measures the CPU only.
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

import saddlebook as sb


def timed(options: dict) -> tuple[sb.SweepResult, float]:
    start = time.perf_counter()
    res = sb.sweep(**options)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return res, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=64, help="runs in the sweep (8 eps values x runs/8 seeds)")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--samples", type=int, default=4096)
    args = ap.parse_args()
    n_seeds = max(1, args.runs // 8)
    options = dict(activation="tanh", depth=6, r=3, eps=list(np.geomspace(1e-3, 1e-2, 8)), seeds=list(range(n_seeds)),
                   init="he", width=args.width, input_dim=16, n_samples=args.samples, threads=1)
    print(f"machine: {platform.machine()}, torch {torch.__version__}; sweep: {8 * n_seeds} runs, width {args.width}, "
          f"{args.samples} samples, depth 6, r = 3, He-normal")
    cpu, t_cpu = timed(dict(options, device="cpu"))
    print(f"cpu  float64: {t_cpu:8.2f} s  {cpu.tau.size / t_cpu:8.2f} runs/s  (1 thread)")
    if not torch.cuda.is_available():
        print("no CUDA device: torch.cuda.is_available() is False here, so there is no GPU figure to report")
        return
    print(f"gpu: {torch.cuda.get_device_name(0)}")
    timed(dict(options, device="cuda", eps=options["eps"][-1:], seeds=[0]))  # CUDA context and kernels, untimed
    for dtype in ("float32", "float64"):
        gpu, t_gpu = timed(dict(options, device="cuda", dtype=dtype))
        diff = float(np.nanmax(np.abs(gpu.tau / cpu.tau - 1)))
        print(f"cuda {dtype}: {t_gpu:8.2f} s  {gpu.tau.size / t_gpu:8.2f} runs/s  gpu/cpu speed {t_cpu / t_gpu:6.2f}x  "
              f"max |tau/tau_cpu - 1| = {diff:.2e}")


if __name__ == "__main__":
    main()
