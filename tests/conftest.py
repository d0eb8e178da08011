"""Shared fixtures: every test starts with an empty in-process teacher cache."""
from __future__ import annotations

import pytest

import kdlib.teachers


@pytest.fixture(autouse=True)
def _empty_teacher_memory():
    """kdlib.teachers._MEMORY outlives results_dir; clear it so each test sees only its own disk cache."""
    kdlib.teachers._MEMORY.clear()
    yield
    kdlib.teachers._MEMORY.clear()
