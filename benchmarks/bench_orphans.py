"""How long a sweep's worker processes outlive their owner (issue 35).

Starts a smoke-profile sweep with `--workers` workers in a child Python process (the "owner", as a notebook's kernel
is), waits until its workers are training, kills the owner with `--signal` (KILL, as JupyterLab does to a kernel that
does not answer; TERM, as a test runner or `kill` does) and reports, for every process the owner had started before
the kill (its workers, and the helper processes multiprocessing starts), how long after the kill it was gone. The
wait is capped at `--cap` seconds; what is left then is reported as still alive and killed.

    python benchmarks/bench_orphans.py --signal KILL --workers 2
    python benchmarks/bench_orphans.py --signal TERM --workers 2
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil  # installed with ipykernel, a kdlib dependency

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OWNER = """
import sys
from kdlib.config import grid
from kdlib.sweep import sweep
sweep(grid("smoke", fractions=[0.1, 0.2, 0.3, 0.5, 1.0], seeds=[0, 1]), sys.argv[1], "cpu", progress=False,
      workers=int(sys.argv[2]))
"""


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        return f"{fields.get('Model name', '?').strip()} ({fields.get('CPU(s)', '?').strip()} CPUs)"
    except OSError:
        return platform.processor() or platform.machine()


def gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # exited, not yet reaped by whoever adopted it
    except psutil.NoSuchProcess:
        return True


def describe(proc: psutil.Process) -> str:
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return "?"
    if "resource_tracker" in cmd:
        return "resource tracker"
    return "worker" if ("spawn_main" in cmd or "loky" in cmd) else cmd[:60]


def measure(sig: str, workers: int, cap: float) -> None:
    results = Path(tempfile.mkdtemp(prefix="kdlib-orphans-"))
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(results), str(workers)], env=env,
                             stderr=subprocess.DEVNULL)
    parent = psutil.Process(owner.pid)
    deadline = time.time() + 300
    kids: list[psutil.Process] = []
    while time.time() < deadline and owner.poll() is None:
        kids = parent.children(recursive=True)
        busy = [k for k in kids if describe(k) == "worker" and k.cpu_percent(0.2) > 20]
        if len(busy) >= min(workers, 2):
            break
        time.sleep(0.2)
    else:
        raise SystemExit("the workers never started training")
    time.sleep(2.0)  # well into a run
    kids = parent.children(recursive=True)
    rss = {k.pid: k.memory_info().rss / 2**30 for k in kids if not gone(k)}
    kinds = {k.pid: describe(k) for k in kids}
    stored = len(list((results / "runs").glob("*.json")))
    t0 = time.perf_counter()
    owner.send_signal(getattr(signal, f"SIG{sig}"))
    owner.wait()
    left, exit_s = set(kids), {}
    while left and time.perf_counter() - t0 < cap:
        for k in list(left):
            if gone(k):
                exit_s[k.pid] = time.perf_counter() - t0
                left.discard(k)
        time.sleep(0.05)
    print(f"SIG{sig} to the owner of a {workers}-worker smoke sweep ({stored} runs stored before it):")
    for k in kids:
        when = f"exited after {exit_s[k.pid]:.2f} s" if k.pid in exit_s else f"still alive after {cap:g} s"
        print(f"  pid {k.pid:>7} {kinds[k.pid]:<17} {rss.get(k.pid, 0):5.2f} GB resident: {when}")
    workers_s = [exit_s.get(k.pid) for k in kids if kinds[k.pid] == "worker"]
    last = f"{max(workers_s):.2f} s" if None not in workers_s else f"> {cap:g} s (still alive)"
    print(f"  last worker gone: {last}")
    for k in left:  # clean up what this benchmark left behind
        try:
            k.kill()
        except psutil.Error:
            pass
    shutil.rmtree(results, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--signal", default="KILL", choices=["KILL", "TERM"], nargs="+")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cap", type=float, default=60.0, help="seconds to wait for the workers to exit")
    a = p.parse_args()
    import kdlib

    print(f"machine: {cpu_name()}; {platform.system()} {platform.release()}; Python {platform.python_version()}; "
          f"kdlib {kdlib.__version__} at {Path(kdlib.__file__).parent}")
    for sig in a.signal:
        measure(sig, a.workers, a.cap)


if __name__ == "__main__":
    main()
