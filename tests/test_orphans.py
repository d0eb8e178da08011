"""A sweep's workers end with it (issue 35): when the process that owns them is killed (a kernel restarted or shut
down by JupyterLab, a crash), and when the sweep is interrupted (Jupyter's "Interrupt kernel": SIGINT to the kernel
alone). An interrupt keeps the finished runs, stores nothing half-done, says how to resume, and the next sweep in the
same process finishes the rest."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kdlib.config import grid
from kdlib.store import Store

psutil = pytest.importorskip("psutil")  # installed with ipykernel, a kdlib dependency

REPO = Path(__file__).resolve().parent.parent
CONFIGS = dict(methods=("labels", "kd"), fractions=[0.1, 0.3], seeds=[0, 1])  # 8 smoke runs, one teacher

OWNER = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a kernel, even if this test runs in the background
from kdlib.config import grid
from kdlib.sweep import SweepInterrupted, sweep
configs = grid("smoke", **%r)
try:
    sweep(configs, sys.argv[1], "cpu", progress=False, workers=2)
    print("FINISHED", flush=True)
except SweepInterrupted as e:
    print("INTERRUPTED", e, flush=True)
    sys.stdin.readline()  # the test looks at the workers and the store, then runs the next cell
    df = sweep(configs, sys.argv[1], "cpu", progress=False, workers=2)  # the next cell, in the same process
    print("RESUMED", len(df), sorted(set(df["status"])), flush=True)
""" % (CONFIGS,)


def _owner(results: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("KDLIB_WORKERS", None)
    return subprocess.Popen([sys.executable, "-c", OWNER, str(results)], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _workers(owner: subprocess.Popen) -> list:
    """The owner's pool workers (its other child, multiprocessing's resource tracker, ends with them)."""
    kids = psutil.Process(owner.pid).children()
    return [k for k in kids if "spawn_main" in " ".join(_cmdline(k))]


def _cmdline(proc) -> list:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def _gone(proc) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_for(what, timeout: float, owner: subprocess.Popen):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = what()
        if value:
            return value
        if owner.poll() is not None:
            pytest.fail(f"the sweep ended early: {owner.stderr.read()[-2000:]}")
        time.sleep(0.05)
    pytest.fail(f"waited {timeout} s in vain")


def _stored(results: Path) -> dict:
    store = Store(results)
    return {k: store.path(k).read_bytes() for k in store.keys()}


def test_workers_exit_when_the_sweeps_owner_is_killed(tmp_path):
    results = tmp_path / "results"
    owner, workers = _owner(results), []
    try:
        workers = _wait_for(lambda: len(_workers(owner)) == 2 and _workers(owner), 120, owner)
        _wait_for(lambda: (results / "runs").is_dir() and list((results / "runs").glob("*.lock")), 120, owner)
        owner.kill()  # SIGKILL, as JupyterLab restarts a kernel that does not answer
        owner.wait()
        killed = time.time()
        while time.time() < killed + 20 and not all(_gone(w) for w in workers):  # generous: a loaded machine
            time.sleep(0.05)
        print(f"last worker gone {time.time() - killed:.2f} s after the owner's SIGKILL")
        assert not [w.pid for w in workers if not _gone(w)], "workers outlived their killed owner by 20 s"
    finally:
        for proc in [owner] + workers:  # nothing of this test's left behind if it failed
            if proc.poll() is None if proc is owner else not _gone(proc):
                proc.kill()
    # the runs the kill stopped do not hold up a rerun: their claims name dead processes, taken over at once
    store = Store(results)
    for lock in store.root.glob("*.lock"):
        held = store.claim(lock.stem)
        assert held is not None, lock.read_text()
        held.release()


def test_an_interrupt_ends_the_workers_keeps_the_finished_runs_and_a_rerun_finishes(tmp_path):
    results = tmp_path / "results"
    configs = grid("smoke", **CONFIGS)
    owner = _owner(results)
    try:
        _wait_for(lambda: len(Store(results).keys()) >= 1, 180, owner)
        workers = _workers(owner)
        assert len(workers) == 2
        owner.send_signal(signal.SIGINT)  # Jupyter's "Interrupt kernel": the kernel alone, not its workers
        line = owner.stdout.readline()
        at_interrupt = {w.pid: _gone(w) for w in workers}
        stored = _stored(results)
        out, err = owner.communicate("\n", timeout=300)
    finally:
        if owner.poll() is None:
            owner.kill()
    assert line.startswith("INTERRUPTED"), (line, err[-2000:])
    print(line)
    assert all(at_interrupt.values()), f"workers still running when the interrupt was reported: {at_interrupt}"
    n = len(stored)
    assert 1 <= n < len(configs), f"the interrupt came too late to test anything: {n} runs stored"
    assert line == (f"INTERRUPTED Interrupted: {n} of {len(configs)} runs stored ({n} finished in this sweep), "
                    f"{len(configs) - n} not: the runs in progress were stopped, nothing half-done is stored, and no "
                    f"worker is left running. Rerun the cell to resume: stored runs are read back, not run again.\n")
    assert owner.returncode == 0, err[-2000:]
    assert out.split()[:2] == ["RESUMED", str(len(configs))] and "['ok']" in out, out
    after = _stored(results)
    assert set(after) == {c.key() for c in configs}
    assert all(after[k] == v for k, v in stored.items())  # the finished runs were read back, not run again
    assert not list((results / "runs").glob("*.lock"))
