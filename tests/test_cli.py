"""`python -m kdlib run` as a user calls it: one JSON line on success, a one-line error (exit 2) on bad input.

The good commands and one bad one are started as real processes, once and all at the same time, by a module
fixture (each process imports torch); every bad input is also checked in this process through the same entry
point (`kdlib.__main__.main`), which is what the process runs after its imports.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
BASE = ["--profile", "smoke", "--fraction", "0.1"]

GOOD = {
    "kd": ["--method", "kd", "--seed", "0"],
    "labels_no_teacher": ["--method", "labels", "--teacher", "none", "--seed", "1"],
}

# name -> (extra arguments, parameter that must be named, value that must be named, further text)
BAD = {
    "dataset": (["--dataset", "imagenet"], "dataset", "imagenet", "mnist1d"),
    "method": (["--method", "distill"], "method", "distill", "kd"),
    "fraction_0": (["--fraction", "0"], "fraction", "0", "(0, 1]"),
    "fraction_1.5": (["--fraction", "1.5"], "fraction", "1.5", "(0, 1]"),
    "tau_0": (["--tau", "0"], "tau", "0", None),
    "lam_1.5": (["--lam", "1.5"], "lam", "1.5", None),
    "student": (["--student", "resnet-9"], "student", "resnet-9", "cnn-tiny"),
    "device_banana": (["--device", "banana"], "device", "banana", None),
    "seed_-1": (["--seed", "-1"], "seed", "-1", None),
    "teacher_seed_-1": (["--teacher-seed", "-1"], "teacher_seed", "-1", None),
    "signal": (["--signal", "shuffled"], "signal", "shuffled", "permuted_dark"),
    "objective": (["--objective", "js"], "objective", "js", "reverse_kl"),
    "teacher_fraction": (["--teacher-fraction", "2"], "teacher_fraction", "2", "(0, 1]"),
    "distill_data": (["--distill-data", "more"], "distill_data", "more", "mixup"),
    "teacher_members": (["--teacher-members", "0"], "teacher_members", "0", "[1, 20]"),
    "recipe_unknown": (["--dataset", "cifar10", "--recipe", "slow"], "recipe", "slow", "fast, paper"),
    "recipe_on_mnist1d": (["--recipe", "paper"], "recipe", "paper", "cifar10, cifar100"),
    "cifar_student": (["--dataset", "cifar100", "--student", "cnn-base"], "student", "cnn-base", "resnet18"),
}
if not torch.cuda.is_available():
    BAD["device_cuda"] = (["--device", "cuda"], "device", "cuda", None)


def _run_cli(args, workdir: Path):
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "kdlib", "run", *BASE, *args, "--results-dir", str(workdir / "res")]
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)


IN_A_PROCESS = "fraction_1.5"  # the bad input that is also run as a real process


def _run_here(args, workdir: Path, capsys, monkeypatch):
    """`python -m kdlib run ...` through kdlib.__main__.main in this process: (exit code, stdout, stderr)."""
    from kdlib.__main__ import main

    workdir.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(workdir)
    capsys.readouterr()
    try:
        code = main(["run", *BASE, *args, "--results-dir", str(workdir / "res")])
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    jobs = {**{k: v for k, v in GOOD.items()}, IN_A_PROCESS: BAD[IN_A_PROCESS][0]}
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(_run_cli, args, root / name) for name, args in jobs.items()}
        results = {name: f.result() for name, f in futures.items()}
    return root, results


def _one_json_line(proc):
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


def test_kd_run_prints_one_json_line(cli):
    root, results = cli
    proc = results["kd"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = _one_json_line(proc)
    assert 0.0 <= out["test_acc"] <= 1.0
    assert out["status"] == "ok" and out["cached"] is False and out["device"] == "cpu"
    assert out["config"]["method"] == "kd" and out["config"]["fraction"] == 0.1 and out["config"]["tau"] == 4.0
    assert out["metrics"]["test_acc"] == out["test_acc"]
    assert 0.0 <= out["metrics"]["test_agreement"] <= 1.0
    res = root / "kd" / "res"
    assert [p.name for p in (res / "runs").iterdir()] == [f"{out['key']}.json"]
    assert len(list((res / "teachers").glob("*.pt"))) == 1
    assert json.loads((res / "runs" / f"{out['key']}.json").read_text())["metrics"] == out["metrics"]
    assert not (root / "kd" / "results").exists()  # nothing written to the default folder
    assert "Traceback" not in proc.stderr


def test_labels_run_without_teacher(cli):
    root, results = cli
    proc = results["labels_no_teacher"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = _one_json_line(proc)
    assert 0.0 <= out["test_acc"] <= 1.0 and out["status"] == "ok"
    assert out["config"]["method"] == "labels" and out["config"]["teacher"] is None
    assert out["config"]["tau"] is None and out["config"]["lam"] is None
    assert "test_agreement" not in out["metrics"] and "teacher_test_acc" not in out["metrics"]
    assert not (root / "labels_no_teacher" / "res" / "teachers").exists()  # no teacher was trained
    assert len(list((root / "labels_no_teacher" / "res" / "runs").glob("*.json"))) == 1


def _check_refusal(name, code, out, err, folder):
    _, param, value, extra = BAD[name]
    assert code == 2, (code, err[-2000:])
    assert "Traceback" not in err, err[-2000:]
    assert out == ""
    err = err.strip()
    assert param in err and value in err, err
    if extra is not None:
        assert extra in err, err
    assert len(err.splitlines()) == 1, err
    # nothing was run or stored
    assert not list(folder.rglob("*.json")) and not list(folder.rglob("*.pt"))
    assert not (folder / "res" / "runs").exists()


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_reported_without_traceback(name, tmp_path, capsys, monkeypatch):
    _check_refusal(name, *_run_here(BAD[name][0], tmp_path / name, capsys, monkeypatch), tmp_path / name)


def test_a_bad_input_stops_the_process_with_one_line(cli):
    root, results = cli
    proc = results[IN_A_PROCESS]
    _check_refusal(IN_A_PROCESS, proc.returncode, proc.stdout, proc.stderr, root / IN_A_PROCESS)


def test_colab_command_reports_that_the_notebooks_agree(tmp_path):
    """`python -m kdlib colab` writes the badges and set-up cells from kdlib/colab.py; on the committed notebooks
    (already written from it) it changes nothing."""
    import shutil

    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "kdlib", "colab", "--notebooks-dir", str(tmp_path / "notebooks")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "0 notebook(s) updated" in proc.stdout, proc.stderr
