"""Run a notebook the two ways the tests need.

`execute(path, out, **parameters)`: end to end through papermill, as `make reproduce` does, with a per-cell time limit
so that a stuck kernel fails the test instead of the suite.

`setup(path, **parameters)`: the notebook's own code, in this process, up to and including its cell tagged `setup`
(the parameters, the Colab cell, every check and `setting(...)`; no training). The parameters are applied after the
cell tagged `parameters`, as papermill injects them. A bad parameter must stop there, so checking it needs no kernel.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import papermill as pm

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CELL_TIMEOUT_S = 300  # a smoke cell takes seconds; a kernel that never answers fails here


def notebook(prefix: str) -> Path:
    return next(p for p in NOTEBOOKS if p.stem.startswith(prefix))


def execute(path: Path, out: Path, **parameters):
    pm.execute_notebook(str(path), str(out), cwd=str(path.parent), kernel_name="python3", progress_bar=False,
                        parameters=parameters, execution_timeout=CELL_TIMEOUT_S)
    return nbformat.read(out, as_version=4)


def setup(path: Path, **parameters) -> dict:
    """The notebook's namespace after its `setup` cell (see the module docstring)."""
    nb = nbformat.read(path, as_version=4)
    namespace: dict = {"__name__": "__notebook__"}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        exec(compile(cell.source, f"{path.name}[cell {i}]", "exec"), namespace)
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags:
            namespace.update(parameters)
        if "setup" in tags:
            return namespace
    raise AssertionError(f"{path.name} has no code cell tagged 'setup'")
