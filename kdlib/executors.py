"""Executors for `kdlib.sweep.sweep(..., executor=...)`: existing engines, not a home-made scheduler.

- `process_pool(workers)`: a `concurrent.futures.ProcessPoolExecutor` on this machine, each worker on a fixed number of
  CPU threads (`kdlib.train.run_threads`); with `gpus`, each worker sees only its own GPU (CUDA_VISIBLE_DEVICES,
  by the names the parent sees, is set before the worker starts CUDA). `shared_pool` is the one a process's sweeps
  use by default: one worker per core (`resolve_workers`: a `workers` argument, else $KDLIB_WORKERS).
- `slurm(folder, **params)`: a submitit executor; `sweep` submits the missing runs as one SLURM array job.

Workers coordinate through the results store (claims on `<key>.lock`), so several sweeps, machines or Colab
sessions may share one results folder: each run is computed once, and a killed worker's runs are taken over.

A worker ends with the process that owns its pool: when that process is gone (SIGKILL from a kernel restart, SIGTERM,
a crash), its workers exit at once, even in the middle of a run (`_end_with_parent`).
"""
from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
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
    """Worker initializer: end with the parent (`_end_with_parent`), take one GPU slot (if any) before torch starts
    CUDA, and a fixed number of CPU threads. Ctrl-C in a terminal reaches the whole process group, and Jupyter's
    interrupt the kernel only: either way it is for the parent, which stops the sweep and ends its workers
    (`kdlib.sweep.sweep`), so a worker ignores it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with_parent()
    if slots is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(slots.get())
    import torch

    torch.set_num_threads(threads)


PARENT_GONE_EXIT = 75  # a worker's exit status when it ended because its parent had gone


def _end_with_parent() -> None:
    """Exit this worker process as soon as the process that started it is gone, whatever it is doing then.

    A pool's workers otherwise outlive a parent that dies without shutting the pool down (SIGKILL, as JupyterLab
    restarts a kernel that does not answer; SIGTERM; a crash): they block for ever on the pool's queue, whose write
    end each worker holds itself, so no end-of-file ever comes (issue 35: 1 GB resident per worker, for hours).
    loky (joblib's executor) was tried first and does not fit: 20 s after a SIGKILL of their parent its workers,
    busy or idle, were all still there (an idle one ends after its idle timeout, 300 s by default; a busy one finishes
    its task first). So it is done here, with the standard library: a spawned child gets the read end of a pipe
    whose write end only its parent holds (`multiprocessing.parent_process().sentinel`); it becomes readable (end of
    file) when the parent exits, however it exits. A daemon thread waits on it (no polling, no cost while the parent lives) and ends the process with
    `os._exit`. Linux's PR_SET_PDEATHSIG would do the same there only (not on macOS), and fires when the parent
    *thread* that started the worker ends, which in a notebook need not be the kernel's end.

    What a killed run leaves is harmless: the store writes a record whole or not at all, and the run's claim names a
    dead process, so the next sweep on this host takes it over at once."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing: nothing to watch
        return
    threading.Thread(target=_exit_when_readable, args=(parent.sentinel,), name="kdlib-end-with-parent",
                     daemon=True).start()


def _exit_when_readable(sentinel) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(PARENT_GONE_EXIT)


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


def is_shared(pool) -> bool:
    """Whether `pool` is the shared pool of this process's sweeps (`shared_pool`)."""
    return any(pool is p for p in _SHARED.values())


def close_shared(kill: bool = False) -> None:
    """Shut the shared pool down; the next sweep starts a new one. Waits for its workers to finish the runs they are
    on, or with `kill` ends them at once (`kill_workers`)."""
    while _SHARED:
        pool = _SHARED.popitem()[1]
        if kill:
            kill_workers(pool)
        else:
            pool.shutdown(wait=True, cancel_futures=True)


def kill_workers(pool: ProcessPoolExecutor, timeout: float = 30.0) -> None:
    """Cancel `pool`'s queued tasks, SIGKILL its workers and wait (up to `timeout` s) until they are gone: what
    `ProcessPoolExecutor.kill_workers` does from Python 3.14 on, plus the wait. The runs they were on are not stored
    (a record is written whole or not at all) and their claims name dead processes, so a rerun takes them over."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() forgets them
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        try:
            p.kill()
        except (ValueError, ProcessLookupError):  # closed or gone already
            pass
    for p in processes:
        try:
            p.join(timeout)
        except ValueError:
            pass
    if manager is not None:
        manager.join(timeout)  # it sees the workers gone, fails what was left and closes the queues


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
