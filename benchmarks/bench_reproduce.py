"""Where the time of `reproduce` goes: run it (or some notebooks) and attribute its wall time, or attribute a run
already made.

    python benchmarks/bench_reproduce.py --profile cpu --notebooks 01 --workers 2      # fresh folders, then attribute
    python benchmarks/bench_reproduce.py --analyse outputs/cpu --results-dir results --workers 2   # what was made

Per notebook it splits the wall time into: kernel start, imports (the first cell that starts with an import, which also resolves the setting), the sweeps (cells during
which runs were stored) and the other cells ("cells": plotting, tables, verdicts). A sweep's time is split further by
what its workers did, in worker-seconds divided by the worker count: students' training steps, their evaluation,
data and targets, teacher training, and the rest (waiting: for a teacher another worker trains, for the last run
of a sweep, for workers to start). It reads the executed notebooks' papermill timings, the runs' records
(`time_s`, `finished_at`) and the teacher files (`train_s`), and prints the machine. From the same numbers it
predicts the series' time on more cores: the serial parts stay, each sweep takes max(its work / cores, its
teacher + its longest run), on the assumption that a one-thread run is as fast beside 15 others as beside one.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PARTS = ("kernel", "imports", "train", "eval", "data", "teacher", "waiting", "cells")


def _t(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.node()} | {platform.platform()} | {cpu} | {os.cpu_count()} cores | {gpu} | "
            f"torch {torch.__version__} | python {platform.python_version()}")


def runs_and_teachers(results_dir: Path):
    runs = []
    for p in (results_dir / "runs").glob("*.json"):
        r = json.loads(p.read_text())
        if "time_s" in r and r.get("finished_at"):
            runs.append((_t(r["finished_at"]), r["time_s"]))
    teachers = []
    for p in (results_dir / "teachers").glob("*.pt"):
        blob = torch.load(p, map_location="cpu", weights_only=True)
        if "train_s" in blob:
            teachers.append((p.stat().st_mtime, float(blob["train_s"])))
    return runs, teachers


def attribute(notebook: Path, runs, teachers, workers: int) -> dict:
    nb = json.loads(notebook.read_text())
    meta = nb["metadata"]["papermill"]
    start, end = _t(meta["start_time"]), _t(meta["end_time"])
    cells = [c for c in nb["cells"] if c["metadata"].get("papermill", {}).get("start_time")]
    out = {p: 0.0 for p in PARTS}
    out.update(notebook=notebook.stem, wall=end - start, sweeps=[], start=start, end=end)
    out["kernel"] = _t(cells[0]["metadata"]["papermill"]["start_time"]) - start if cells else 0.0
    code = [c for c in cells if c["cell_type"] == "code"]
    first_code = next((c for c in code if "".join(c["source"]).startswith(("import", "from"))), None)
    for c in cells:
        m = c["metadata"]["papermill"]
        c0, c1 = _t(m["start_time"]), _t(m["end_time"])
        mine = [t for f, t in runs if c0 - 1 <= f <= c1]  # finished_at is truncated to the second
        made = [s for f, s in teachers if c0 <= f <= c1 + 1]
        if c is first_code:
            out["imports"] += c1 - c0
        elif mine or made:
            work = {k: sum(t[k] for t in mine) for k in ("train", "eval", "data")}
            work["teacher"] = sum(made)
            busy = sum(work.values())
            for k, v in work.items():
                out[k] += v / workers
            out["waiting"] += max(0.0, (c1 - c0) - busy / workers)
            longest = max((t["train"] + t["eval"] + t["data"] for t in mine), default=0.0)
            out["sweeps"].append({"wall": c1 - c0, "work": busy, "critical": max(made, default=0.0) + longest})
        else:
            out["cells"] += c1 - c0
    return out


def predict(rows, cores: int) -> float:
    """The series' seconds on `cores` one-thread workers, from the attributed rows (see the module docstring)."""
    total = 0.0
    for r in rows:
        serial = r["kernel"] + r["imports"] + r["cells"]
        total += serial + sum(max(s["work"] / cores, s["critical"]) for s in r["sweeps"])
    return total


def report(output_dir: Path, results_dir: Path, workers: int, total: float | None = None) -> None:
    runs, teachers = runs_and_teachers(results_dir)
    notebooks = sorted(output_dir.glob("*.ipynb"), key=lambda p: json.loads(p.read_text())["metadata"]
                       ["papermill"]["start_time"])
    rows = [attribute(p, runs, teachers, workers) for p in notebooks]
    print(f"machine: {machine()}")
    print(f"{len(runs)} runs and {len(teachers)} teachers in {results_dir}; {workers} worker(s); seconds of wall "
          f"time (sweep parts: worker-seconds / workers)")
    head = f"{'notebook':32s} {'wall':>7s} " + " ".join(f"{p:>8s}" for p in PARTS)
    print(head)
    for r in rows:
        print(f"{r['notebook']:32s} {r['wall']:7.1f} " + " ".join(f"{r[p]:8.1f}" for p in PARTS))
    sums = {p: sum(r[p] for r in rows) for p in PARTS}
    wall = sum(r["wall"] for r in rows)
    print(f"{'all notebooks':32s} {wall:7.1f} " + " ".join(f"{sums[p]:8.1f}" for p in PARTS))
    print("share of the notebooks' wall time: " + ", ".join(f"{p} {100 * sums[p] / wall:.1f}%" for p in PARTS))
    if rows:
        between = rows[-1]["end"] - rows[0]["start"] - wall
        print(f"between notebooks (papermill start-up, HTML export): {between:.1f} s")
    if total is not None:
        print(f"reproduce, end to end: {total:.1f} s ({total / 60:.1f} min)")
    work = sum(s["work"] for r in rows for s in r["sweeps"])
    print(f"work in the sweeps: {work:.0f} worker-seconds; predicted series time (notebooks only) on one-thread "
          "workers: " + ", ".join(f"{n} cores {predict(rows, n) / 60:.1f} min" for n in (1, 2, 4, 8, 16)))


def seed_schedule(results_dir: Path, before: int = 5) -> None:
    """Where the seeds went (kdlib.claims adds them only where a row is open): stored runs grouped by their config
    without the seed, by how many seeds each group got, with their worker-seconds; and what the same groups would
    cost at `before` seeds each (the series before the looks gave every run 5 seeds; groups run at one seed only,
    the learning-rate and τ choices, stay at one), from this run's own mean time per group."""
    groups = {}
    for p in (results_dir / "runs").glob("*.json"):
        r = json.loads(p.read_text())
        if "time_s" not in r:
            continue
        cfg = {k: v for k, v in r["config"].items() if k not in ("seed", "teacher_seed")}  # kdlib 0.9: a teacher per seed
        g = groups.setdefault(json.dumps(cfg, sort_keys=True), [])
        g.append(sum(r["time_s"][k] for k in ("train", "eval", "data")))  # as `report`: the teacher's time apart
    by_n = {}
    for times in groups.values():
        n, t = by_n.setdefault(len(times), [0, 0, 0.0]), sum(times)
        n[0], n[1], n[2] = n[0] + 1, n[1] + len(times), n[2] + t
    print("seeds per config group: groups, runs, worker-seconds")
    for k in sorted(by_n):
        print(f"  {k:2d} seed(s): {by_n[k][0]:4d} groups, {by_n[k][1]:5d} runs, {by_n[k][2]:8.0f} s")
    now = sum(sum(t) for t in groups.values())
    then = sum(sum(t) / len(t) * (before if len(t) > 1 else 1) for t in groups.values())
    print(f"runs' worker-seconds: {now:.0f} with the looks; {then:.0f} at {before} seeds for every group of more than "
          f"one seed (same run's mean time per group): ratio {now / then:.2f}")
    _, teachers = runs_and_teachers(results_dir)
    taught = sum(t for _, t in teachers)
    print(f"with the {len(teachers)} teachers' training ({taught:.0f} s, the same either way): {now + taught:.0f} "
          f"against {then + taught:.0f} worker-seconds, ratio {(now + taught) / (then + taught):.2f}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="cpu")
    p.add_argument("--notebooks", nargs="*", default=None, help="numbers or names (default: all)")
    p.add_argument("--workers", type=int, default=None, help="default: $KDLIB_WORKERS, else one per core")
    p.add_argument("--device", default="auto")
    p.add_argument("--analyse", type=Path, default=None, help="attribute this folder of executed notebooks instead")
    p.add_argument("--results-dir", type=Path, default=None, help="with --analyse: the results folder it used")
    a = p.parse_args()
    from kdlib.executors import resolve_workers
    from kdlib.reproduce import reproduce

    workers = resolve_workers(a.workers)
    if a.analyse is not None:
        report(a.analyse, a.results_dir or REPO / "results", workers)
        seed_schedule(a.results_dir or REPO / "results")
        return
    with tempfile.TemporaryDirectory(prefix="kdlib-bench-") as tmp:  # cold: nothing cached, no figure overwritten
        tmp = Path(tmp)
        start = time.perf_counter()
        reproduce(a.profile, a.notebooks, output_dir=tmp / "out", results_dir=tmp / "results",
                  figures_dir=tmp / "figures", device=a.device, html=True, workers=workers,
                  log=lambda m: print(m, file=sys.stderr, flush=True))
        total = time.perf_counter() - start
        report(tmp / "out" / a.profile, tmp / "results", workers, total)
        seed_schedule(tmp / "results")


if __name__ == "__main__":
    main()
