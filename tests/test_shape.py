"""The claim notebooks keep the shape of a claim (../shared/NOTEBOOK_SHAPE.md): the experiment in view, the bookkeeping
in kdlib, declared once per row (kdlib/reports.py).

Per claim notebook (01–08, 10): at most 40 code lines outside its parameters and Colab cells, 25 for a notebook of
one scoreboard row; no lambda, no rounding and no error raised by hand (numbers and checks live in kdlib); at most 6
names imported from kdlib; the verdict rule is not restated (notebook 00 renders it from kdlib/claims.py). A line is
a non-blank, non-comment line of a code cell. And every declared row has its context and its report in kdlib."""
from __future__ import annotations

import ast
import json

import pytest

from kdlib import claims, reports
from nbsetup import NOTEBOOKS

CLAIM_NOTEBOOKS = [p for p in NOTEBOOKS if p.stem[:2] not in ("00", "09")]
ONE_ROW = {"01", "04", "07", "08"}  # notebooks that record a single scoreboard row
BUDGET, ONE_ROW_BUDGET, KDLIB_NAMES = 40, 25, 6


def code_cells(nb: dict) -> list[str]:
    """The code a reader reads: every code cell but the parameters and the (generated) Colab cell."""
    out = []
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or "parameters" in cell["metadata"].get("tags", []) or "google.colab" in source:
            continue
        out.append(source)
    return out


def sloc(sources) -> int:
    return sum(1 for s in sources for line in s.splitlines() if line.strip() and not line.strip().startswith("#"))


def shape(sources) -> dict:
    """What the guards read from a notebook's code: its lines, lambdas, rounding calls, hand-raised errors and the
    names it imports from kdlib."""
    tree = [ast.parse(s) for s in sources]
    nodes = [n for t in tree for n in ast.walk(t)]
    names = set()
    for n in nodes:
        if isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "kdlib":
            names |= {a.asname or a.name for a in n.names}
        elif isinstance(n, ast.Import):
            names |= {a.asname or a.name for a in n.names if a.name.split(".")[0] == "kdlib"}
    return {"sloc": sloc(sources),
            "lambdas": sum(isinstance(n, ast.Lambda) for n in nodes),
            "rounding": sum(isinstance(n, ast.Call) and getattr(n.func, "id", None) == "round" for n in nodes),
            "raises": sum(isinstance(n, ast.Raise) for n in nodes)
                      + sum(isinstance(n, ast.Attribute) and getattr(n.value, "id", None) == "errors" for n in nodes),
            "kdlib_names": sorted(names)}


@pytest.mark.parametrize("path", CLAIM_NOTEBOOKS, ids=[p.stem for p in CLAIM_NOTEBOOKS])
def test_a_claim_notebook_keeps_its_budget(path):
    s = shape(code_cells(json.loads(path.read_text())))
    budget = ONE_ROW_BUDGET if path.stem[:2] in ONE_ROW else BUDGET
    assert s["sloc"] <= budget, f"{path.name}: {s['sloc']} code lines, budget {budget}: move bookkeeping to kdlib"
    assert s["lambdas"] == 0 and s["rounding"] == 0 and s["raises"] == 0, (path.name, s)
    assert len(s["kdlib_names"]) <= KDLIB_NAMES, (path.name, s["kdlib_names"])


@pytest.mark.parametrize("path", CLAIM_NOTEBOOKS, ids=[p.stem for p in CLAIM_NOTEBOOKS])
def test_the_rule_is_written_once(path):
    """The rule's own words (kdlib.claims.rule_text) appear in no claim notebook; each links to the tour instead."""
    markdown = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")
    assert "Pocock" not in markdown and "Student-t interval" not in markdown
    assert "00_tour.ipynb" in markdown


def test_the_guards_see_what_they_guard():
    """Worked by hand: 4 lines (a comment and a blank line do not count), one lambda, one round, one raise, one
    `errors.` call, and three kdlib names."""
    s = shape(["from kdlib import analysis, plots\n# a comment\n\nf = lambda x: round(x, 2)\n",
               "from kdlib.notebook import setting\nerrors.check_list('a', [1])\n"])
    assert s == {"sloc": 4, "lambdas": 1, "rounding": 1, "raises": 1, "kdlib_names": ["analysis", "plots", "setting"]}
    assert shape(["raise ValueError('x')\n"])["raises"] == 1


def test_every_declared_row_has_its_context_and_report():
    assert set(reports.CONTEXT) == set(claims.CLAIMS) == set(reports.REPORTS)
    assert [reports.base_of(r) for r in ("C2 (τ = 4)", "C6-ViT from vit-small", "C1 cnn-small<-cnn-base")] == \
        ["C2", "C6-ViT", "C1"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_markdown_lines_are_short(path):
    """No pasted paragraph: every markdown line but a table's row fits in 120 characters."""
    cells = json.loads(path.read_text())["cells"]
    long = [line for c in cells if c["cell_type"] == "markdown" for line in "".join(c["source"]).splitlines()
            if len(line) > 120 and not line.lstrip().startswith("|")]
    assert not long, f"{path.name}: {long[0][:80]}…"


@pytest.mark.parametrize("key", list(claims.CLAIMS))
def test_the_claim_cell_names_its_rows_and_their_delta(key):
    """A notebook's first cell names each of its scoreboard rows and that row's Δ as declared, so the criterion in the
    prose cannot drift from kdlib/claims.py."""
    c = claims.CLAIMS[key]
    path = next(p for p in CLAIM_NOTEBOOKS if p.name == c.notebook)
    first = next("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]
                 if cell["cell_type"] == "markdown")
    delta = f"Δ = {claims.scale_of(c.unit) * c.delta:.3g}"
    assert f"`{key}`" in first and delta in first, f"{path.name}'s first cell lacks `{key}` or {delta!r}"


def test_every_recorded_number_has_one_key_grammar():
    """The committed scoreboard's numbers are keyed `metric[setting]@where` (kdlib.reports.key), nothing else."""
    import re
    from pathlib import Path

    grammar = re.compile(r"[a-z][a-z0-9_]*(\[[^\]]+\])?(@(κ=)?[0-9.e+-]+)?")
    board = json.loads((Path(__file__).resolve().parent.parent / "figures" / "scoreboard.json").read_text())
    odd = [k for e in board.values() for k in e["numbers"] if not grammar.fullmatch(k)]
    assert board and not odd, odd[:5]
    assert reports.key("gain", "kd", 0.02) == "gain[kd]@0.02" and reports.key("acc", "DKD", "κ=0.4") == "acc[DKD]@κ=0.4"
