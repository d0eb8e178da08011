"""The Colab path without Colab: badges and set-up cells come from kdlib.colab.REPOSITORY alone, and the set-up cell's
logic runs with `google.colab` faked (pip recorded, not run; Drive a temporary folder)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from kdlib import colab
from kdlib.errors import ConfigError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _copy(tmp_path) -> Path:
    dest = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, dest)
    return dest


def _cell(path: Path, cell_id: str):
    return next(c for c in nbformat.read(path, as_version=4).cells if c.get("id") == cell_id)


def test_committed_notebooks_agree_with_the_one_repository_setting(tmp_path):
    assert colab.stamp(_copy(tmp_path), colab.REPOSITORY) == []  # else: run `python -m kdlib colab`


def test_stamp_writes_a_badge_and_a_setup_cell_after_the_parameters(tmp_path):
    folder = _copy(tmp_path)
    changed = colab.stamp(folder, "someone/kd-companion")
    assert len(changed) == len(list(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))) >= 9
    for path in changed:
        cells = nbformat.read(path, as_version=4).cells
        assert cells[0].id == colab.BADGE_ID and cells[0].source == (
            "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research."
            f"google.com/github/someone/kd-companion/blob/main/notebooks/{path.name})")
        at = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
        assert cells[at + 1].id == colab.SETUP_ID and cells[at + 1].metadata.jupyter.source_hidden  # collapsed
        assert '"git+https://github.com/someone/kd-companion@main"' in cells[at + 1].source
    assert colab.stamp(folder, "someone/kd-companion") == []  # a second stamp changes nothing
    colab.stamp(folder, None)  # and unpublishing removes the badges again
    assert all(nbformat.read(p, as_version=4).cells[0].id != colab.BADGE_ID for p in changed)


def _run_setup(source: str, monkeypatch, on_colab: bool, **params) -> tuple[dict, list]:
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, check: calls.append(cmd))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    namespace = {"results_dir": "../results", "figures_dir": "../figures", **params}
    exec(compile(source, "setup-cell", "exec"), namespace)
    return namespace, calls


def test_setup_cell_installs_kdlib_and_keeps_results_on_drive(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(colab, "DRIVE", str(tmp_path / "MyDrive"))
    monkeypatch.setattr(colab, "LOCAL", str(tmp_path / "content"))
    source = colab.setup_source("someone/kd-companion")

    ns, calls = _run_setup(source, monkeypatch, on_colab=True)
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet",
                      "git+https://github.com/someone/kd-companion@main"]]
    assert (ns["results_dir"], ns["figures_dir"]) == (str(tmp_path / "content/results"),
                                                     str(tmp_path / "content/figures"))
    assert "Google Drive is not mounted" in capsys.readouterr().out

    (tmp_path / "MyDrive").mkdir()  # Drive mounted: a disconnect loses nothing
    ns, _ = _run_setup(source, monkeypatch, on_colab=True)
    assert ns["results_dir"] == str(tmp_path / "MyDrive/kdlib/results")
    assert "not mounted" not in capsys.readouterr().out

    ns, _ = _run_setup(source, monkeypatch, on_colab=True, results_dir="/mine")  # the user's choice is kept
    assert ns["results_dir"] == "/mine" and ns["figures_dir"] == str(tmp_path / "MyDrive/kdlib/figures")


def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    ns, calls = _run_setup(colab.setup_source("someone/kd-companion"), monkeypatch, on_colab=False)
    assert calls == [] and ns["results_dir"] == "../results"


def test_setup_cell_without_a_repository_says_what_to_do(monkeypatch):
    with pytest.raises(RuntimeError, match="does not know where kdlib is published"):
        _run_setup(colab.setup_source(None), monkeypatch, on_colab=True)


def test_a_malformed_repository_is_refused():
    with pytest.raises(ConfigError, match="repository='https://github.com/x' is not allowed; allowed: 'owner/name'"):
        colab.badge("https://github.com/x", "01_data_efficiency.ipynb")
