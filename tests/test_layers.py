"""kdlib's shape: imports run one way, data -> models -> losses -> train -> run -> sweep -> analysis/plots ->
notebooks, with no cycles. Every import is read from the source (function-level ones too)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

KDLIB = Path(__file__).resolve().parent.parent / "kdlib"
LAYERS = [  # a module may import modules of its own layer or of a layer above it in this list, never below
    ("__init__", "errors", "store", "devices"),  # utilities
    ("text", "vision", "data", "owndata"),  # data, CIFAR loading and the reader's own data included
    ("convnets", "models"),  # every model builder
    ("signals", "metrics", "features", "losses", "lm"),  # losses, teacher-signal controls, metrics (C7's included)
    ("train",),  # the loop
    ("profiles", "config"),  # what a run is
    ("tasks", "teachers", "run"),  # one run
    ("sweep", "executors"),  # many runs
    ("analysis", "plots"),  # numbers over seeds and figures
    ("claims", "scoreboard"),  # every scoreboard row and its rule; the scoreboard
    ("reports", "figures"),  # each row's settings and report, each notebook's figure
    ("notebook", "explore", "audit", "reproduce", "colab", "__main__"),  # what the notebooks and the command line call
]
LAYER = {m: i for i, names in enumerate(LAYERS) for m in names}


def imports(path: Path) -> set[str]:
    """The kdlib modules a file imports: `from . import x`, `from .x import y`, `import kdlib.x`, `from kdlib.x ...`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 or node.module == "kdlib" or (node.module or "").startswith("kdlib."):
                module = (node.module or "").removeprefix("kdlib").lstrip(".")
                if module:
                    found.add(module.split(".")[0])
                else:  # from . import a, b
                    found |= {a.name for a in node.names if (KDLIB / f"{a.name}.py").exists()}
                if any(a.name == "__version__" for a in node.names) and not module:
                    found.add("__init__")
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("kdlib.")}
    return found


GRAPH = {p.stem: imports(p) - {p.stem} for p in sorted(KDLIB.glob("*.py"))}


def test_every_module_has_a_layer():
    assert set(GRAPH) <= set(LAYER), f"give these modules a layer in tests/test_layers.py: {set(GRAPH) - set(LAYER)}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_never_run_up_the_layers(module):
    upward = {m for m in GRAPH[module] if LAYER[m] > LAYER[module]}
    assert not upward, f"kdlib.{module} (layer {LAYER[module]}) imports {sorted(upward)} from a later layer"


def test_no_import_cycles():
    state: dict = {}

    def visit(m, path):
        if state.get(m) == "open":
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(m):] + [m]))
        if state.get(m) != "done":
            state[m] = "open"
            for n in sorted(GRAPH.get(m, ())):
                visit(n, path + [m])
            state[m] = "done"

    for m in GRAPH:
        visit(m, [])


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path):
    (tmp_path / "a.py").write_text("from .b import f\n")
    (tmp_path / "b.py").write_text("def g():\n    from kdlib.a import h\n")
    assert imports(tmp_path / "a.py") == {"b"} and imports(tmp_path / "b.py") == {"a"}
