"""Faults a paper-scale sweep meets: kills at random points, overlapping writers, stale claims, diverging runs,
other executors. The store must hold every finished run exactly once, complete, and never mix in foreign results."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import kdlib.sweep as sweep_mod  # noqa: E402
import kdlib.tasks as tasks  # noqa: E402
from kdlib.train import resolve_device  # noqa: E402
import kdlib.teachers as teachers  # noqa: E402
from kdlib import plots, store as store_mod  # noqa: E402
from kdlib.config import grid, make_config  # noqa: E402
from kdlib.store import Store, claim  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
GRID = dict(fractions=[0.1, 0.3, 0.6, 1.0], seeds=[0, 1])  # 8 labels + 8 KD smoke runs
N_RUNS = 16
KILLS = 8  # SIGKILLs at random points of one sweep

# a worker: runs a slice of the grid into a store, logging every run it computes and every teacher it trains
WORKER = """
import sys
import kdlib.sweep as sweep_mod, kdlib.teachers as teachers
from kdlib.config import grid
results, log, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def logged(name, fn):
    def wrapper(*args, **kwargs):
        key = args[0].key() if name == "run" else "teacher"
        with open(log, "a") as f:
            f.write(f"start {name} {key}\\n")
        out = fn(*args, **kwargs)
        with open(log, "a") as f:
            f.write(f"end {name} {key}\\n")
        return out
    return wrapper
sweep_mod.run_one = logged("run", sweep_mod.run_one)
teachers.train = logged("teach", teachers.train)
configs = grid("smoke", ("labels", "kd"), **%r)[lo:hi]
sweep_mod.sweep(configs, results, "cpu", progress=False, poll=0.2)
""" % (GRID,)


def _worker(results, log, lo=0, hi=N_RUNS):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", WORKER, str(results), str(log), str(lo), str(hi)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _events(log: Path, kind="run"):
    lines = log.read_text().split("\n") if log.exists() else []
    return [ln.split()[2] for ln in lines if ln.startswith(f"end {kind}")]


def _check_store(results: Path, configs):
    """Every config stored once, complete and accepted; nothing but records and at most temp files left."""
    store = Store(results)
    keys = {c.key() for c in configs}
    assert set(store.keys()) == keys
    records = [store.get(k) for k in keys]
    assert store.rejected == [] and all(r is not None and r["status"] == "ok" for r in records)
    names = [p.name for p in (results / "runs").iterdir()]
    assert not [n for n in names if n.endswith(".lock")], names  # every claim released or taken over
    assert all(n.endswith(".json") or n.endswith(".tmp") for n in names), names
    return records


def test_sigkill_at_random_points_loses_nothing(tmp_path, monkeypatch):
    configs = grid("smoke", ("labels", "kd"), **GRID)
    assert len(configs) == N_RUNS
    results, log = tmp_path / "results", tmp_path / "log"
    rng = random.Random(0)
    kill_points = []
    for _ in range(KILLS):
        proc = _worker(results, log)
        before = len(Store(results).keys())
        # wait until it has stored 0-2 more runs, then a random extra moment (inside training, or a store write)
        target, deadline = before + rng.randint(0, 2), time.time() + 60
        while time.time() < deadline and len(Store(results).keys()) < target and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kill_points.append(len(Store(results).keys()))
        if kill_points[-1] == len(configs):
            break
    print("runs stored at each kill:", kill_points)
    assert len(set(kill_points)) >= 3, f"the kills landed at too few points: {kill_points}"
    assert kill_points[0] < len(configs)
    finished_before = {k: Store(results).path(k).read_text() for k in Store(results).keys()}

    calls = []
    real = sweep_mod.run_one
    monkeypatch.setattr(sweep_mod, "run_one", lambda cfg, *a, **k: calls.append(cfg.key()) or real(cfg, *a, **k))
    teachers._MEMORY.clear()
    df = sweep_mod.sweep(configs, results, "cpu", progress=False, poll=0.1)
    assert sorted(calls) == sorted(set(c.key() for c in configs) - set(finished_before))  # only the missing ones
    _check_store(results, configs)
    for k, text in finished_before.items():
        assert Store(results).path(k).read_text() == text  # finished runs untouched
    assert len(df) == len(configs) and set(df["status"]) == {"ok"}


def test_two_overlapping_sweeps_compute_each_run_once(tmp_path):
    configs = grid("smoke", ("labels", "kd"), **GRID)
    results, log_a, log_b = tmp_path / "results", tmp_path / "a.log", tmp_path / "b.log"
    a = _worker(results, log_a, 0, 11)  # overlap: runs 5..10 are in both slices
    b = _worker(results, log_b, 5, N_RUNS)
    for p in (a, b):
        assert p.wait(timeout=300) == 0, p.stderr.read()[-2000:]
    runs = _events(log_a) + _events(log_b)
    assert sorted(runs) == sorted(c.key() for c in configs)  # each run computed by exactly one process
    # each seed's teacher (two seeds), shared by both processes, trained once
    assert len(_events(log_a, "teach") + _events(log_b, "teach")) == 2
    records = _check_store(results, configs)
    assert {r["key"] for r in records} == {c.key() for c in configs}


def test_stale_claims_are_taken_over(tmp_path):
    lock = tmp_path / "runs" / "k.lock"
    held = claim(lock)
    assert held is not None and claim(lock) is None  # a live claim (this process) blocks others
    held.release()
    assert not lock.exists()
    # a dead process on this host
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "token": "x"}))
    taken = claim(lock)
    assert taken is not None and json.loads(lock.read_text())["pid"] == os.getpid()
    taken.release()
    # another host: alive until its heartbeat is older than STALE_AFTER
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "y"}))
    assert claim(lock) is None
    old = time.time() - store_mod.STALE_AFTER - 1
    os.utime(lock, (old, old))
    taken = claim(lock)
    assert taken is not None
    taken.release()


def test_claim_left_by_a_worker_killed_after_storing_is_cleared(tmp_path):
    """A SIGKILL between storing a record and releasing its claim leaves a lock that no worker needs again (the
    random-kill test above hit this gap once); the sweep clears it. A live claim is left alone."""
    configs = grid("smoke", ("labels",), fractions=[0.1, 0.2], seeds=[0])
    sweep_mod.sweep(configs, tmp_path, "cpu", progress=False)
    store = Store(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    dead_lock, live_lock = (store.root / f"{c.key()}.lock" for c in configs)
    dead_lock.write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "token": "x"}))
    live = claim(live_lock)
    calls = []
    real = sweep_mod.run_one
    sweep_mod.run_one = lambda cfg, *a, **k: calls.append(cfg) or real(cfg, *a, **k)
    try:
        sweep_mod.sweep(configs, tmp_path, "cpu", progress=False)
    finally:
        sweep_mod.run_one = real
    assert calls == [] and not dead_lock.exists() and live_lock.exists()
    live.release()


def test_heartbeat_keeps_a_long_claim_fresh(tmp_path):
    lock = tmp_path / "k.lock"
    held = claim(lock, heartbeat=0.05)
    old = time.time() - 1000
    os.utime(lock, (old, old))
    time.sleep(0.3)
    assert time.time() - lock.stat().st_mtime < 5  # refreshed by the holder's heartbeat
    assert claim(lock, stale_after=10) is None
    held.release()


def test_diverging_run_is_stored_the_sweep_goes_on_and_the_figure_says_so(tmp_path):
    good = grid("smoke", ("labels",), fractions=[0.3], seeds=[0, 1])
    bad = make_config("smoke", method="labels", fraction=0.3, seed=2, lr=1e20)
    df = sweep_mod.sweep(good[:1] + [bad] + good[1:], tmp_path, "cpu", progress=False)
    assert list(df["status"]) == ["ok", "diverged", "ok"]  # the runs after it still ran
    step = int(df.loc[df["status"] == "diverged", "diverged_step"].iloc[0])
    assert 1 <= step <= 100
    record = json.loads(Store(tmp_path).path(bad.key()).read_text())
    assert record["status"] == "diverged" and record["diverged_step"] == step
    fig = plt.figure()
    assert plots.note_failures(fig, df) == 1
    text = " ".join(t.get_text() for t in fig.texts)
    assert f"labels α=0.3 seed 2 (diverged at step {step})" in text
    plt.close(fig)
    fig = plt.figure()
    assert plots.note_failures(fig, df[df["status"] == "ok"]) == 0 and not fig.texts
    plt.close(fig)


def test_outdated_teacher_is_retrained(tmp_path, monkeypatch):
    import torch

    cfg = make_config("smoke", method="kd", fraction=0.3)
    teachers._MEMORY.clear()
    sweep_mod.run_one(cfg, "cpu", tmp_path)
    path = tmp_path / "teachers" / f"{cfg.teacher_key()}.pt"
    blob = torch.load(path, weights_only=True)
    blob["version"] = "0.0.1"
    torch.save(blob, path)
    teachers._MEMORY.clear()
    trained = []
    real = teachers.train
    monkeypatch.setattr(teachers, "train", lambda *a, **k: trained.append(1) or real(*a, **k))
    with pytest.warns(UserWarning, match="made by kdlib 0.0.1"):
        teachers.get_teacher(cfg, tasks.dataset_for(cfg), resolve_device("cpu"), tmp_path)
    assert trained == [1]
    teachers._MEMORY.clear()


def test_process_pool_executor_gives_the_sequential_results(tmp_path):
    from kdlib.executors import process_pool

    configs = grid("smoke", ("labels", "kd"), fractions=[0.3], seeds=[0, 1])
    teachers._MEMORY.clear()
    seq = sweep_mod.sweep(configs, tmp_path / "seq", "cpu", progress=False).set_index("key")
    with process_pool(2) as pool:
        par = sweep_mod.sweep(configs, tmp_path / "par", "cpu", progress=False, executor=pool).set_index("key")
    assert par.loc[seq.index, "test_acc"].tolist() == seq["test_acc"].tolist()  # bit-identical on CPU
    _check_store(tmp_path / "par", configs)


def test_submitit_local_executor(tmp_path):
    submitit = pytest.importorskip("submitit")

    configs = grid("smoke", ("labels", "kd"), fractions=[0.3], seeds=[0])
    executor = submitit.LocalExecutor(folder=str(tmp_path / "jobs"))
    executor.update_parameters(timeout_min=10)
    df = sweep_mod.sweep(configs, tmp_path / "res", "cpu", progress=False, executor=executor, poll=0.2)
    assert len(df) == 2 and set(df["status"]) == {"ok"}
    _check_store(tmp_path / "res", configs)


def test_process_pool_pins_one_gpu_per_worker():
    from kdlib.executors import process_pool
    from kdlib.errors import ConfigError

    with process_pool(gpus=[3, 5]) as pool:
        seen = sorted(set(pool.map(_visible_devices, range(8))))
    assert set(seen) <= {"3", "5"} and seen  # every task ran in a worker pinned to one of the two
    with pytest.raises(ConfigError, match="one worker per GPU"):
        process_pool(workers=3, gpus=[0, 1])


def _visible_devices(_):
    time.sleep(0.05)
    return os.environ.get("CUDA_VISIBLE_DEVICES")
