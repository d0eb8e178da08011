"""Sweeps: what is missing, who computes it, store it, table it.

Each run is keyed by the hash of its config (`kdlib.run.run_one` computes one); `sweep(configs)` runs the missing
ones, stores each as soon as it finishes (a killed sweep resumes where it stopped) and returns the tidy table of all
of them.
"""
from __future__ import annotations

import time
import warnings
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from .executors import close_shared, is_shared, resolve_workers, shared_pool
from .run import run_one
from .store import Store, check_folder
from .train import resolve_device


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by an interrupt (Ctrl-C; Jupyter's "Interrupt kernel"). Its message says how many runs are
    stored and how to resume. A KeyboardInterrupt, so whatever stops on one (a notebook, papermill) stops on it."""


def usable(record: dict | None, needs=()) -> bool:
    """Whether a stored record answers a sweep that `needs` these metrics: it exists, and a finished run has every one
    (a run stored before a metric was measured lacks it; a diverged run has none and is not run again)."""
    return record is not None and (record.get("status") != "ok" or all(m in record.get("metrics", {}) for m in needs))


def compute(cfg, results_dir="results", device="auto", needs=()) -> str:
    """Run `cfg` and store it, unless it is stored already ('cached') or another live worker has claimed it
    ('busy'); 'done' once this call stored it. A stored record without the metrics in `needs` is run again and
    replaced. Safe to call from many processes and hosts on one store; this is the function an executor runs."""
    store = Store(results_dir)
    key = cfg.key()
    if usable(store.get(key), needs):
        return "cached"
    held = store.claim(key)
    if held is None:
        return "busy"
    with held:
        if not usable(store.get(key), needs):  # it may have been finished between the check above and the claim
            store.put(run_one(cfg, device, results_dir))
    return "done"


def sweep(configs, results_dir="results", device="auto", progress: bool = True, desc: str = "runs",
          executor=None, poll: float = 2.0, workers: int | None = None, needs=()) -> pd.DataFrame:
    """Run every config not yet in the store, storing each as it finishes; return the table of all of them.

    The missing runs go to `workers` processes at once (None: $KDLIB_WORKERS, else one per core; 1 runs them here,
    one after another), each run on a fixed number of CPU threads, so its numbers do not depend on how many run
    beside it. `executor` replaces that pool: anything with `submit(fn, *args)` returning a future with
    `.result()`, e.g. a submitit executor for SLURM (`kdlib.executors.slurm`; submitted as one array job). Workers
    coordinate through the store's claims, so overlapping sweeps from several machines compute each run once;
    a run another worker holds is waited for (checked every `poll` seconds). `needs`: metric names every finished
    run must have; a run stored before they were measured is run again (kdlib.same_runs: the same numbers, and these).

    An interrupt (Ctrl-C, Jupyter's "Interrupt kernel") stops the sweep at once: the finished runs stay stored, the
    runs in progress are stopped (the default pool's workers are killed; nothing half-done is stored) and
    `SweepInterrupted` says how many runs are stored. Rerunning resumes: the next sweep starts a fresh pool.
    """
    configs = [c.validate().canonical() for c in configs]
    dev = resolve_device(device)  # a bad device, worker count or results folder fails here, before any training
    n_workers = resolve_workers(workers)
    check_folder("results_dir", results_dir)
    store = Store(results_dir)
    unique = list({c.key(): c for c in configs}.values())
    needs = tuple(needs)
    todo = schedule([c for c in unique if not usable(store.get(c.key()), needs)])
    stored_before = len(unique) - len(todo)
    bar = tqdm(total=len(todo), desc=f"{desc} ({stored_before} cached)", disable=not progress)
    try:
        while todo:
            pool = executor
            if pool is None and n_workers > 1 and len(todo) > 1:
                pool = shared_pool(n_workers, dev)
            if pool is None:
                outcomes = []
                for cfg in todo:
                    outcomes.append(compute(cfg, results_dir, device, needs))
                    bar.update(outcomes[-1] != "busy")
            else:
                outcomes = _gather(pool, [(cfg, str(Path(results_dir).resolve()), device, needs) for cfg in todo],
                                   bar)
            todo = [cfg for cfg, outcome in zip(todo, outcomes) if outcome == "busy"]
            if todo:  # held by other workers: wait for them (or for their claims to go stale)
                time.sleep(poll)
    except KeyboardInterrupt:
        bar.close()
        raise SweepInterrupted(_interrupted(store, unique, needs, stored_before, own_pool=executor is None)) from None
    bar.close()
    store.clear_stale_claims(c.key() for c in unique)  # a worker killed between storing and releasing
    records = [store.get(c.key()) for c in unique]
    if store.rejected:
        warnings.warn(f"{len(store.rejected)} stored record(s) in {store.root} were not used and were recomputed "
                      f"(first: {store.rejected[0][0]}: {store.rejected[0][1]})")
    return table(records)


def _interrupted(store, unique, needs, stored_before: int, own_pool: bool) -> str:
    """What an interrupted sweep says: what is stored, what became of the rest, how to resume."""
    stored = sum(usable(store.get(c.key()), needs) for c in unique)
    if own_pool:
        fate = "the runs in progress were stopped, nothing half-done is stored, and no worker is left running"
    else:
        fate = "the runs in progress in the executor you passed go on, and are stored if they finish"
    return (f"Interrupted: {stored} of {len(unique)} runs stored ({stored - stored_before} finished in this sweep), "
            f"{len(unique) - stored} not: {fate}. Rerun the cell to resume: stored runs are read back, not run again.")


def schedule(configs) -> list:
    """The order in which runs are handed out: the first run of each teacher first (distinct teachers then train at
    once, each by one worker, while the others wait for theirs), then the rest, longest first (so the last runs to
    finish are short ones). The order changes when a run finishes, never its numbers."""
    first, rest, seen = [], [], set()
    for cfg in sorted(configs, key=_steps, reverse=True):  # sorted() is stable: ties keep the caller's order
        teacher = cfg.teacher_key() if cfg.teacher is not None else None
        (first if teacher is not None and teacher not in seen else rest).append(cfg)
        seen.add(teacher)
    return first + rest


def _steps(cfg) -> float:
    """A guess at a run's length for `schedule`: the step rule on its share of the data (1 when unknown)."""
    n = (cfg.data or {}).get("n_train") or (cfg.data or {}).get("train_chars") or 1
    train = cfg.train
    return max(train.min_steps, train.epochs * cfg.fraction * n / train.batch_size)


def _gather(pool, arguments, bar) -> list:
    """Submit every run to `pool`; return their outcomes in order, ticking `bar` as each finishes. If the sweep is
    interrupted or a run fails, the runs not yet started are cancelled (the finished ones are stored already); an
    interrupt also kills the shared pool's workers, so the runs in progress stop too (and are not stored), and the
    next sweep starts a fresh pool."""
    if hasattr(pool, "batch"):  # submitit: one array job rather than one job per run
        with pool.batch():
            jobs = [pool.submit(compute, *args) for args in arguments]
        outcomes = [job.result() for job in jobs]
        bar.update(sum(o != "busy" for o in outcomes))
        return outcomes
    futures = []
    try:
        for args in arguments:
            futures.append(pool.submit(compute, *args))
        for future in as_completed(futures):
            bar.update(future.result() != "busy")
    except BrokenProcessPool:
        close_shared()  # a worker died (killed, out of memory): the next sweep starts a fresh pool
        raise
    except BaseException as e:
        for future in futures:
            future.cancel()
        if isinstance(e, KeyboardInterrupt) and is_shared(pool):
            close_shared(kill=True)  # the workers would otherwise finish their runs after the interrupt
        raise
    return [future.result() for future in futures]


def table(records) -> pd.DataFrame:
    """Records -> one row per run: the config's scalar fields, the student's lr, metrics and bookkeeping."""
    rows = []
    for r in records:
        c = r["config"]
        row = {k: v for k, v in c.items() if not isinstance(v, dict)}
        row["lr"] = c["train"]["lr"]
        # one name per kind of student: labels, ls, kd, or the KD control's signal
        row["variant"] = c["signal"] if c["method"] == "kd" and c.get("signal", "teacher") != "teacher" else c["method"]
        row.update(r.get("metrics", {}))
        row.update({k: r.get(k) for k in ("key", "status", "diverged_step", "n_train", "steps", "wall_time_s",
                                          "features_time_s",
                                          "device", "machine", "teacher_machine", "kdlib_version")})
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_rows(spec, results_dir="results", device="auto", progress: bool = True, desc: str = "runs",
               workers: int | None = None, needs=()) -> pd.DataFrame:
    """`sweep` for a list of (row name, config) pairs: the table gets a `row` column naming each run's setting.
    A run under two names (say the labels run that is also lambda = 0) appears once under each; each run is
    computed once."""
    spec = [(name, cfg.validate().canonical()) for name, cfg in spec]
    df = sweep([cfg for _, cfg in spec], results_dir, device, progress, desc, workers=workers, needs=needs)
    rows = pd.DataFrame([(name, cfg.key()) for name, cfg in spec], columns=["row", "key"]).drop_duplicates()
    return rows.merge(df, on="key", how="left")
