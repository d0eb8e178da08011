"""Shared fixtures: every test starts with an empty in-process teacher cache, and runs its sweeps in this process
(KDLIB_WORKERS=1) unless it asks for workers, so that tests which patch kdlib see their patches used."""
from __future__ import annotations

import pytest

import kdlib.teachers


@pytest.fixture(autouse=True)
def _empty_teacher_memory():
    """kdlib.teachers._MEMORY outlives results_dir; clear it so each test sees only its own disk cache."""
    kdlib.teachers._MEMORY.clear()
    yield
    kdlib.teachers._MEMORY.clear()


@pytest.fixture(autouse=True)
def _one_worker(monkeypatch):
    monkeypatch.setenv("KDLIB_WORKERS", "1")
