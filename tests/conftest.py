"""Shared set-up: sweeps run in this process (KDLIB_WORKERS=1) unless a test asks for workers, so that tests which
patch kdlib see their patches used; every test starts with an empty in-process teacher cache."""
from __future__ import annotations

import os

import pytest

import kdlib.teachers

os.environ["KDLIB_WORKERS"] = "1"  # set on import, so module-scoped fixtures see it too


@pytest.fixture(autouse=True)
def _empty_teacher_memory():
    """kdlib.teachers._MEMORY outlives results_dir; clear it so each test sees only its own disk cache."""
    kdlib.teachers._MEMORY.clear()
    yield
    kdlib.teachers._MEMORY.clear()
