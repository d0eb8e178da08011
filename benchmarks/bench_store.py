"""Load test of the results store: N worker processes claim and write M runs each into one store, with overlap.

Each worker walks the same list of run keys (from a different starting point, so they collide), claims each key,
writes a record of realistic size if none is stored, and logs what it wrote. Prints the throughput and checks that
every run is stored exactly once, complete and accepted. Not a test: the numbers depend on the machine and the
file system (run it on the cluster's shared file system before trusting it with many workers there).

    python benchmarks/bench_store.py --workers 8 --runs 400
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from kdlib import __version__
from kdlib.store import Store, config_hash


def fake_record(i: int) -> dict:
    config = {"run": i, "dataset": "mnist1d", "data": {"n_train": 4000}, "train": {"lr": 0.003, "epochs": 60}}
    metrics = {f"{split}_{m}": 0.5 for split in ("train", "val", "test") for m in ("acc", "nll", "ece", "agreement")}
    return {"key": config_hash(config), "config": config, "status": "ok", "metrics": metrics,
            "kdlib_version": __version__, "wall_time_s": 1.0}


def worker(args) -> list[str]:
    root, runs, offset = args
    store, written = Store(root), []
    for j in range(runs):
        record = fake_record((j + offset) % runs)
        key = record["key"]
        if store.get(key) is not None:
            continue
        held = store.claim(key)
        if held is None:
            continue  # another worker has it
        with held:
            if store.get(key) is None:
                store.put(record)
                written.append(key)
    return written


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--runs", type=int, default=200, help="distinct runs; every worker walks all of them")
    p.add_argument("--dir", default=None, help="store location (default: a temporary folder, removed after)")
    a = p.parse_args()
    root = Path(a.dir) if a.dir else Path(tempfile.mkdtemp(prefix="kdlib-store-bench-"))
    ctx = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with ctx.Pool(a.workers) as pool:
        written = pool.map(worker, [(str(root), a.runs, w * a.runs // a.workers) for w in range(a.workers)])
    elapsed = time.perf_counter() - start
    all_written = [k for w in written for k in w]
    store = Store(root)
    expected = {r["key"]: r for r in map(fake_record, range(a.runs))}
    keys, stored = set(expected), set(store.keys())
    bad = [k for k in keys if store.get(k) != expected[k]]
    leftovers = [n for n in os.listdir(root / "runs") if not n.endswith(".json")]
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"{a.workers} workers x {a.runs} runs (each worker walks every run): {elapsed:.2f} s, "
          f"{a.runs / elapsed:.0f} stored runs/s, {a.workers * a.runs / elapsed:.0f} claim-or-skip decisions/s")
    print(json.dumps({"runs": a.runs, "stored": len(stored), "written": len(all_written),
                      "written_twice": len(all_written) - len(set(all_written)), "missing": len(keys - stored),
                      "wrong": len(bad), "leftover_files": len(leftovers)}))
    ok = stored == keys and len(all_written) == len(set(all_written)) == a.runs and not bad and not leftovers
    print("OK: every run stored exactly once" if ok else "FAILED")
    if not a.dir:
        shutil.rmtree(root)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
