"""Sweeps: what is missing, who computes it, store it, table it.

Each run is keyed by the hash of its config (`kdlib.run.run_one` computes one); `sweep(configs)` runs the missing
ones, stores each as soon as it finishes (a killed sweep resumes where it stopped) and returns the tidy table of all
of them.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from .run import run_one
from .store import Store
from .train import resolve_device


def compute(cfg, results_dir="results", device="auto") -> str:
    """Run `cfg` and store it, unless it is stored already ('cached') or another live worker has claimed it
    ('busy'); 'done' once this call stored it. Safe to call from many processes and hosts on one store; this is
    the function an executor runs."""
    store = Store(results_dir)
    key = cfg.key()
    if store.get(key) is not None:
        return "cached"
    held = store.claim(key)
    if held is None:
        return "busy"
    with held:
        if store.get(key) is None:  # it may have been finished between the check above and the claim
            store.put(run_one(cfg, device, results_dir))
    return "done"


def sweep(configs, results_dir="results", device="auto", progress: bool = True, desc: str = "runs",
          executor=None, poll: float = 2.0) -> pd.DataFrame:
    """Run every config not yet in the store, storing each as it finishes; return the table of all of them.

    `executor`: None runs here, one run after another. Anything with `submit(fn, *args)` returning a future with
    `.result()` spreads the runs: a `concurrent.futures` pool (`kdlib.executors.process_pool`, one worker per
    GPU), or a submitit executor for SLURM (`kdlib.executors.slurm`; submitted as one array job). Workers
    coordinate through the store's claims, so overlapping sweeps from several machines compute each run once;
    a run another worker holds is waited for (checked every `poll` seconds).
    """
    configs = [c.validate().canonical() for c in configs]
    resolve_device(device)  # a bad device fails here, before any training
    store = Store(results_dir)
    unique = list({c.key(): c for c in configs}.values())
    todo = [c for c in unique if store.get(c.key()) is None]
    bar = tqdm(total=len(todo), desc=f"{desc} ({len(unique) - len(todo)} cached)", disable=not progress)
    while todo:
        if executor is None:
            outcomes = []
            for cfg in todo:
                outcomes.append(compute(cfg, results_dir, device))
                bar.update(outcomes[-1] != "busy")
        else:
            futures = _submit_all(executor, [(cfg, str(Path(results_dir).resolve()), device) for cfg in todo])
            outcomes = [f.result() for f in futures]
            bar.update(sum(o != "busy" for o in outcomes))
        todo = [cfg for cfg, outcome in zip(todo, outcomes) if outcome == "busy"]
        if todo:  # held by other workers: wait for them (or for their claims to go stale)
            time.sleep(poll)
    bar.close()
    store.clear_stale_claims(c.key() for c in unique)  # a worker killed between storing and releasing
    records = [store.get(c.key()) for c in unique]
    if store.rejected:
        warnings.warn(f"{len(store.rejected)} stored record(s) in {store.root} were not used and were recomputed "
                      f"(first: {store.rejected[0][0]}: {store.rejected[0][1]})")
    return table(records)


def _submit_all(executor, arguments):
    if hasattr(executor, "batch"):  # submitit: one array job rather than one job per run
        with executor.batch():
            jobs = [executor.submit(compute, *args) for args in arguments]
        return jobs
    return [executor.submit(compute, *args) for args in arguments]


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
                                          "device", "kdlib_version")})
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_rows(spec, results_dir="results", device="auto", progress: bool = True, desc: str = "runs") -> pd.DataFrame:
    """`sweep` for a list of (row name, config) pairs: the table gets a `row` column naming each run's setting.
    A run under two names (say the labels run that is also lambda = 0) appears once under each; each run is
    computed once."""
    spec = [(name, cfg.validate().canonical()) for name, cfg in spec]
    df = sweep([cfg for _, cfg in spec], results_dir, device, progress, desc)
    rows = pd.DataFrame([(name, cfg.key()) for name, cfg in spec], columns=["row", "key"]).drop_duplicates()
    return rows.merge(df, on="key", how="left")
