"""Executors for `kdlib.sweep.sweep(..., executor=...)`: existing engines, not a home-made scheduler.

- `process_pool(workers)`: a `concurrent.futures.ProcessPoolExecutor` on this machine, each worker on a fixed number of
  CPU threads (`kdlib.train.run_threads`); with `gpus`, each worker sees only its own GPU (CUDA_VISIBLE_DEVICES,
  by the names the parent sees, is set before the worker starts CUDA). `shared_pool` is the one a process's sweeps
  use by default: one worker per core (`resolve_workers`: a `workers` argument, else $KDLIB_WORKERS).
- `slurm(folder, **params)`: a submitit executor; `sweep` submits the missing runs as one SLURM array job.

Workers coordinate through the results store (claims on `<key>.lock`), so several sweeps, machines or Colab
sessions may share one results folder: each run is computed once, and a killed worker's runs are taken over.
"""
from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

from .errors import ConfigError

WORKERS_ENV = "KDLIB_WORKERS"


def cores() -> int:
    """The CPU cores this process may use (its affinity mask: a container's or taskset's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def resolve_workers(workers: int | None = None) -> int:
    """How many runs go at once: `workers` if given, else $KDLIB_WORKERS, else one per core."""
    if workers is None:
        value = os.environ.get(WORKERS_ENV)
        if value is None:
            return cores()
        if not value.strip().isdigit() or int(value) < 1:
            raise ConfigError(f"{WORKERS_ENV}={value!r} is not allowed; allowed: an integer >= 1 (unset: one "
                              f"worker per core, {cores()} here)")
        return int(value)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers={workers!r} is not allowed; allowed: an integer >= 1, or None (${WORKERS_ENV}, "
                          f"else one per core: {cores()} here)")
    return workers


def visible_gpus() -> list[str]:
    """The GPUs this process can see, by the names a worker's CUDA_VISIBLE_DEVICES must use: the entries of the
    parent's CUDA_VISIBLE_DEVICES when it is set (indices, UUIDs or MIG names, as SLURM or a container gave them),
    else 0 .. device_count - 1."""
    import torch

    count = torch.cuda.device_count()
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return [str(i) for i in range(count)]
    return [name.strip() for name in listed.split(",") if name.strip()][:count]


def gpu_slots(workers: int, gpus: list[str]) -> list[str]:
    """The GPU each of `workers` workers is given: the names in turn (worker i gets gpus[i % len(gpus)])."""
    return [gpus[i % len(gpus)] for i in range(workers)]


def _pin_worker(slots, threads: int) -> None:
    """Worker initializer: take one GPU slot (if any) before torch starts CUDA, and a fixed number of CPU threads.
    Ctrl-C (and the interrupt Jupyter sends on shutdown) is for the parent: it cancels the runs not yet started,
    while a worker finishes and stores the one it is on."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if slots is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(slots.get())
    import torch

    torch.set_num_threads(threads)


def process_pool(workers: int | None = None, gpus: list | str | None = None) -> ProcessPoolExecutor:
    """A pool of `workers` processes (default `resolve_workers()`; started with 'spawn', so no CUDA or OpenMP state
    is forked), each on `kdlib.train.run_threads()` CPU threads.

    gpus: None (every worker sees what the parent sees), "spread" (the workers take the visible GPUs in turn, several
    per GPU when there are more workers than GPUs), "all" (one worker per visible GPU) or a list of GPU names or
    indices (one worker per entry).
    """
    from .train import run_threads

    spread = gpus == "spread"
    if gpus in ("all", "spread"):
        asked, gpus = gpus, visible_gpus()
        if not gpus:
            raise ConfigError(f"gpus={asked!r} but no CUDA device is visible; allowed here: gpus=None")
    if gpus is not None:
        gpus = [str(g) for g in gpus]
        if not spread:  # one worker per GPU
            if workers is not None and workers != len(gpus):
                raise ConfigError(f"workers={workers} with gpus={gpus}: one worker per GPU; allowed: workers=None "
                                  f"or {len(gpus)}")
            workers = len(gpus)
    workers = resolve_workers(workers)
    ctx = multiprocessing.get_context("spawn")
    slots = None
    if gpus is not None:
        slots = ctx.Queue()
        for name in gpu_slots(workers, gpus):
            slots.put(name)
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_pin_worker, initargs=(slots, run_threads()))


_SHARED: dict = {}  # (workers, spread over GPUs) -> the pool `shared_pool` keeps for this process


def shared_pool(workers: int, device) -> ProcessPoolExecutor:
    """The pool this process's sweeps share (started on first use, so a notebook pays the workers' start once; shut
    down at exit). On CUDA (`device` 'cuda' without an index) the workers take the visible GPUs in turn; a device with
    an index ('cuda:1') is used as it is by every worker."""
    spread = device.type == "cuda" and device.index is None
    key = (workers, spread)
    if key not in _SHARED:
        close_shared()
        _SHARED[key] = process_pool(workers, gpus="spread" if spread else None)
    return _SHARED[key]


def close_shared() -> None:
    """Shut the shared pool down (waiting for its workers); the next sweep starts a new one."""
    while _SHARED:
        _SHARED.popitem()[1].shutdown(wait=True, cancel_futures=True)


atexit.register(close_shared)


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
