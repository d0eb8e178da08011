"""Runs in parallel: a run's numbers do not depend on how many workers share the machine, workers land on the GPUs
the parent sees, the worker count is checked, and an unusable results folder is refused before any work."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import kdlib.executors as executors
import kdlib.sweep as sweep_mod
from kdlib.config import grid
from kdlib.errors import ConfigError
from kdlib.store import Store, check_folder
from kdlib.train import fixed_threads, run_threads

REPO = Path(__file__).resolve().parent.parent
METRICS = ["test_acc", "val_acc", "train_acc", "test_agreement", "test_kl_teacher", "steps", "n_train", "test_cka",
           "train_nc1", "test_nc2"]


def test_results_do_not_depend_on_the_worker_count(tmp_path):
    """The same configs with 1 (in this process) and 3 workers: bit-identical metrics, every run on one thread (four
    runs on three workers: some worker runs two, after another's)."""
    configs = grid("smoke", ("labels", "kd"), fractions=[0.1], seeds=[0, 1])
    tables = {}
    for n in (1, 3):
        df = sweep_mod.sweep(configs, tmp_path / f"w{n}", "cpu", progress=False, workers=n)
        tables[n] = df.set_index("key").sort_index()
        executors.close_shared()
    assert tables[3][METRICS].equals(tables[1][METRICS]), "3 workers differ from 1"
    for n in (1, 3):
        records = [Store(tmp_path / f"w{n}").get(k) for k in tables[n].index]
        assert {r["threads"] for r in records} == {1}
        assert all(set(r["time_s"]) == {"data", "teacher", "train", "eval"} for r in records)
    # each seed's teacher was trained once per store, whoever needed it first
    assert all(len(list((tmp_path / f"w{n}" / "teachers").glob("*.pt"))) == 2 for n in (1, 3))


def test_a_run_here_uses_the_run_threads_and_gives_the_threads_back(tmp_path):
    torch.set_num_threads(2)
    cfg = grid("smoke", ("kd",), fractions=[0.1], seeds=[0])[0]
    record = sweep_mod.run_one(cfg, "cpu", tmp_path)
    assert record["threads"] == 1 and torch.get_num_threads() == 2
    with fixed_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_worker_and_thread_counts_are_checked(monkeypatch):
    monkeypatch.delenv("KDLIB_WORKERS")
    assert executors.resolve_workers() == executors.cores() >= 1
    assert executors.resolve_workers(3) == 3
    monkeypatch.setenv("KDLIB_WORKERS", "5")
    assert executors.resolve_workers() == 5 and executors.resolve_workers(2) == 2  # the parameter wins
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("KDLIB_WORKERS", bad)
        with pytest.raises(ConfigError, match=f"KDLIB_WORKERS='{bad}' is not allowed; allowed: an integer >= 1"):
            executors.resolve_workers()
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ConfigError, match=f"workers={bad!r} is not allowed"):
            executors.resolve_workers(bad)
    monkeypatch.setenv("KDLIB_THREADS", "0")
    with pytest.raises(ConfigError, match="KDLIB_THREADS='0' is not allowed"):
        run_threads()
    monkeypatch.delenv("KDLIB_THREADS")
    assert run_threads() == 1


def test_a_bad_worker_count_stops_the_sweep_before_any_run(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_mod, "run_one", lambda *a, **k: pytest.fail("a run started"))
    with pytest.raises(ConfigError, match="workers=0"):
        sweep_mod.sweep(grid("smoke", ("labels",), fractions=[0.1], seeds=[0]), tmp_path, "cpu", workers=0)


def test_workers_take_the_gpus_the_parent_sees_by_name(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert executors.visible_gpus() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8f1c, MIG-4b2a")
    assert executors.visible_gpus() == ["GPU-8f1c", "MIG-4b2a"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert executors.visible_gpus() == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert executors.visible_gpus() == []
    assert executors.gpu_slots(5, ["2", "3"]) == ["2", "3", "2", "3", "2"]


def test_spread_pool_pins_each_worker_to_a_visible_gpu_name(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,7")
    with executors.process_pool(4, gpus="spread") as pool:
        seen = set(pool.map(_visible_devices, range(16)))
    assert seen <= {"4", "7"} and seen


def _visible_devices(_):
    import time

    time.sleep(0.05)
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def test_schedule_puts_each_teachers_first_run_first_then_the_longest():
    configs = grid("cpu", ("labels", "kd"), fractions=[0.1, 1.0], seeds=[0])  # 1000 and 1875 steps
    other = grid("cpu", ("kd",), fractions=[0.1], seeds=[0], teacher_seed=1)
    order = sweep_mod.schedule(configs + other)
    assert {c.teacher_key() for c in order[:2]} == {configs[0].teacher_key(), other[0].teacher_key()}
    assert order[0].fraction == 1.0  # the longest run of the first teacher starts its teacher
    rest = order[2:]
    assert [c.fraction for c in rest] == sorted((c.fraction for c in rest), reverse=True)
    assert sorted(c.key() for c in order) == sorted(c.key() for c in configs + other)


def test_a_folder_under_a_file_is_refused_by_name(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ConfigError, match=r"results_dir='.*a_file/sub' cannot be used: a file is in the way"):
        check_folder("results_dir", tmp_path / "a_file" / "sub")
    with pytest.raises(ConfigError, match="a file is in the way"):
        check_folder("results_dir", tmp_path / "a_file")
    assert check_folder("results_dir", tmp_path / "new" / "deeper").is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to a read-only folder")
def test_a_read_only_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="results_dir=.* cannot be used"):
            check_folder("results_dir", ro / "results")
    finally:
        ro.chmod(0o700)


def test_cli_refuses_a_results_dir_under_a_file_before_training(tmp_path):
    (tmp_path / "a_file").write_text("x")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "kdlib", "run", "--profile", "smoke", "--fraction", "0.1",
                           "--results-dir", str(tmp_path / "a_file" / "res")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "error: results_dir=" in proc.stderr and "a_file/res' cannot be used" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("*.pt"))  # no teacher was trained anywhere


def test_reproduce_refuses_an_unusable_folder_before_any_notebook(tmp_path):
    from kdlib.reproduce import reproduce

    (tmp_path / "a_file").write_text("x")
    started = []
    with pytest.raises(ConfigError, match="output_dir=.* cannot be used"):
        reproduce("smoke", output_dir=tmp_path / "a_file", results_dir=tmp_path / "res", log=started.append)
    assert started == []
