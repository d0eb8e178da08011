"""Shared set-up: sweeps run in this process (KDLIB_WORKERS=1) unless a test asks for workers, so that tests which
patch kdlib see their patches used; every test starts with an empty in-process teacher cache.

The suite's time budget (`make test` runs it over every core with pytest-xdist): a test's time is its set-up, call and
tear-down together (a module fixture's cost lands on the first test that uses it). The session fails when any test
takes longer than KDLIB_TEST_BUDGET_S seconds, and it prints its time per file at the end, so a new slow test is seen
the day it lands. The default, 90 s, is 1.5 times the 60 s the slowest test may take under `make test` on the 2-core
AMD EPYC machines (measured: 2026-12-03), for the other CPU kind CI runs on, seen about 1.5 times slower."""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest
import torch

import kdlib.teachers

os.environ["KDLIB_WORKERS"] = "1"  # set on import, so module-scoped fixtures see it too
# under pytest-xdist the tests already fill every core: a test process that also ran torch on every core would
# oversubscribe them (test_gpu_ready.py under `make test`: 110 s so, 28 s on one thread); kdlib's runs use one
# thread each anyway (kdlib.train.run_threads)
XDIST = bool(os.environ.get("PYTEST_XDIST_WORKER"))
if XDIST:
    torch.set_num_threads(1)

BUDGET_S = float(os.environ.get("KDLIB_TEST_BUDGET_S", "90"))
_seconds: dict = defaultdict(float)  # test id -> set-up + call + tear-down seconds


@pytest.fixture(autouse=True)
def _empty_teacher_memory():
    """kdlib.teachers._MEMORY outlives results_dir; clear it so each test sees only its own disk cache."""
    kdlib.teachers._MEMORY.clear()
    yield
    kdlib.teachers._MEMORY.clear()
    if XDIST:
        torch.set_num_threads(1)  # a test that set another count leaves none behind


@pytest.fixture
def fake_cifar10(monkeypatch, tmp_path):
    """torchvision's CIFAR classes replaced, in this process, by small fake ones (tests/fake_cifar.py: 300 training and
    100 test images), the data caches emptied around the test; yields the test's results folder."""
    import fake_cifar
    import kdlib.data
    import kdlib.tasks

    fake_cifar.install(monkeypatch)
    monkeypatch.setenv("KDLIB_DATA", str(tmp_path / "data"))
    kdlib.data._cifar.cache_clear()
    kdlib.tasks._data_on.cache_clear()
    yield tmp_path / "results"
    kdlib.data._cifar.cache_clear()
    kdlib.tasks._data_on.cache_clear()


def pytest_runtest_logreport(report):
    _seconds[report.nodeid] += report.duration  # on the controller too: xdist forwards every worker's reports


def _over_budget():
    return sorted(((s, t) for t, s in _seconds.items() if s > BUDGET_S), reverse=True)


def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller judges the whole suite
        return
    if _over_budget() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput") or not _seconds:
        return
    per_file: dict = defaultdict(float)
    for test, s in _seconds.items():
        per_file[test.split("::")[0]] += s
    tr = terminalreporter
    tr.section("time per file (set-up + call + tear-down, summed over its tests)")
    for name, s in sorted(per_file.items(), key=lambda kv: -kv[1]):
        tr.write_line(f"{s:8.1f} s  {Path(name).name}")
    tr.write_line(f"{sum(per_file.values()):8.1f} s  in all (wall time is less: the tests run on every core)")
    over = _over_budget()
    if over:
        tr.section("over the time budget", red=True)
        for s, test in over:
            tr.write_line(f"{s:6.1f} s > {BUDGET_S:g} s (KDLIB_TEST_BUDGET_S): {test}", red=True)
        tr.write_line("make the test cheaper (smaller data, a shared fixture, an in-process check) rather than "
                      "raising the budget", red=True)
