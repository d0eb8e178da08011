"""Executors for `kdlib.sweep.sweep(..., executor=...)`: existing engines, not a home-made scheduler.

- `process_pool(workers)`: a `concurrent.futures.ProcessPoolExecutor` on this machine; with `gpus`, one worker per
  GPU, each seeing only its own device (CUDA_VISIBLE_DEVICES is set before the worker imports torch).
- `slurm(folder, **params)`: a submitit executor; `sweep` submits the missing runs as one SLURM array job.

Workers coordinate through the results store (claims on `<key>.lock`), so several sweeps, machines or Colab
sessions may share one results folder: each run is computed once, and a killed worker's runs are taken over.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from .errors import ConfigError


def _pin_worker(slots, threads: int) -> None:
    """Worker initializer: take one GPU slot (if any) before torch starts, and a fair share of CPU threads."""
    if slots is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(slots.get())
    import torch

    torch.set_num_threads(threads)


def process_pool(workers: int | None = None, gpus: list[int] | str | None = None) -> ProcessPoolExecutor:
    """A pool of `workers` processes (started with 'spawn', so no CUDA or OpenMP state is forked).

    gpus: None (CPU, or every worker sees all GPUs), "all" (one worker per visible GPU), or a list of GPU indices
    (one worker per index). CPU threads are split evenly between workers.
    """
    if gpus == "all":
        import torch

        gpus = list(range(torch.cuda.device_count()))
        if not gpus:
            raise ConfigError("gpus='all' but no CUDA device is visible; allowed here: gpus=None")
    if gpus is not None:
        gpus = [int(g) for g in gpus]
        if workers is not None and workers != len(gpus):
            raise ConfigError(f"workers={workers} with gpus={gpus}: one worker per GPU; allowed: workers=None "
                              f"or {len(gpus)}")
        workers = len(gpus)
    workers = workers or max(1, (os.cpu_count() or 1) // 2)
    if workers < 1:
        raise ConfigError(f"workers={workers} is not allowed; allowed: an integer >= 1")
    ctx = multiprocessing.get_context("spawn")
    slots = None
    if gpus is not None:
        slots = ctx.Manager().Queue()
        for g in gpus:
            slots.put(g)
    threads = max(1, (os.cpu_count() or 1) // workers)
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_pin_worker, initargs=(slots, threads))


def slurm(folder, **params):
    """A submitit executor for SLURM (or, where there is no SLURM, submitit's local fallback).

    `params` go to `update_parameters`, e.g. `timeout_min=60, slurm_partition="gpu", gpus_per_node=1,
    slurm_array_parallelism=16`. Needs `pip install submitit` (the `cluster` extra).
    """
    try:
        import submitit
    except ImportError:
        raise ConfigError("the slurm executor needs submitit: pip install 'kdlib[cluster]'") from None
    executor = submitit.AutoExecutor(folder=str(folder))
    executor.update_parameters(**params)
    return executor
