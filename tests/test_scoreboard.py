"""The scoreboard (intervals, halves, machines) and the README's results section written from it."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from kdlib import scoreboard
from kdlib.analysis import combine, judge
from kdlib.devices import machine

REPO = Path(__file__).resolve().parent.parent
STRONG = pd.Series([0.2, 0.25, 0.3, 0.22, 0.28], index=range(5))  # reproduced; halves reproduced / inconclusive


def test_record_keeps_the_interval_halves_and_machines(tmp_path):
    e = scoreboard.record(tmp_path, "C9", "a claim", judge(STRONG), "d = something", {"x": 0.5}, "cpu", "mnist1d",
                          "01.ipynb", figure=str(tmp_path / "f.png"), machines={"CPU A", "CPU A", "CPU B"},
                          summary="It holds.")
    assert e["verdict"] == "reproduced" and e["halves"] == ["reproduced", "inconclusive"] and not e["halves_agree"]
    assert e["interval"][0] == pytest.approx(0.1988, abs=1e-4) and e["interval"][1] == pytest.approx(0.3012, abs=1e-4)
    assert e["machines"] == ["CPU A", "CPU B"] and e["n_seeds"] == 5 and e["figure"] == "f.png"
    board = json.loads((tmp_path / "scoreboard.json").read_text())
    assert board["C9/mnist1d/cpu"]["summary"] == "It holds."
    md = (tmp_path / "scoreboard.md").read_text()
    assert "0.25 [0.199, 0.301]" in md and "halves disagree" in md and "CPU A; CPU B" in md


def test_record_refuses_a_bare_verdict(tmp_path):
    with pytest.raises(TypeError, match="judgement"):
        scoreboard.record(tmp_path, "C9", "a claim", "reproduced", "d", {}, "cpu", "mnist1d", "01.ipynb")
    assert not (tmp_path / "scoreboard.json").exists()


def test_a_factor_row_has_no_single_interval(tmp_path):
    e = scoreboard.record(tmp_path, "C5-x", "a factor", combine([judge(STRONG), judge(-STRONG)]), "d", {}, "cpu",
                          "mnist1d", "05.ipynb")
    assert e["verdict"] == "mixed" and e["interval"] is None
    assert "| — |" in (tmp_path / "scoreboard.md").read_text()


def test_infinite_bounds_are_written_as_json_null(tmp_path):
    scoreboard.record(tmp_path, "C9", "one seed", judge(pd.Series([0.3])), "d", {}, "cpu", "mnist1d", "01.ipynb")
    text = (tmp_path / "scoreboard.json").read_text()
    assert "Infinity" not in text and json.loads(text)["C9/mnist1d/cpu"]["interval"] == [None, None]
    assert "[−∞, ∞]" in scoreboard.interval_text(json.loads(text)["C9/mnist1d/cpu"])


def test_update_readme_rewrites_only_between_the_markers(tmp_path):
    figures = tmp_path / "figures"
    figures.mkdir()
    scoreboard.record(figures, "C1", "data efficiency", judge(STRONG), "d = gain", {}, "cpu", "mnist1d",
                      "01_data_efficiency.ipynb", figure="c1.png", machines={"CPU A"}, summary="Gain 25%.")
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n{scoreboard.README_START}\nOLD CONTENT\n{scoreboard.README_END}\nafter\n")
    assert scoreboard.update_readme(readme, figures)
    text = readme.read_text()
    assert text.startswith("# Title\n\nbefore\n") and text.endswith("after\n") and "OLD CONTENT" not in text
    assert "![C1](figures/c1.png)" in text and "Gain 25%." in text and "**reproduced**" in text
    assert not scoreboard.update_readme(readme, figures)  # nothing new: unchanged
    bare = tmp_path / "bare.md"
    bare.write_text("no markers\n")
    assert not scoreboard.update_readme(bare, figures) and bare.read_text() == "no markers\n"


def test_the_committed_readme_shows_the_committed_scoreboard():
    """No result in the README is typed by hand: its block is what `python -m kdlib readme` writes from
    figures/scoreboard.json."""
    text = (REPO / "README.md").read_text()
    assert text.count(scoreboard.README_START) == 1 and text.count(scoreboard.README_END) == 1
    block = text.split(scoreboard.README_START, 1)[1].split(scoreboard.README_END, 1)[0]
    expected = scoreboard.readme_block(scoreboard.load(REPO / "figures"), "figures")
    assert scoreboard.README_START + block + scoreboard.README_END == expected, \
        "README.md's results section is stale: run `python -m kdlib readme`"
    for e in scoreboard.load(REPO / "figures").values():  # every row was made with kdlib 0.6's rule
        assert {"halves", "machines", "interval", "summary"} <= set(e) and e["machines"]


def test_machine_line_names_cpu_instruction_set_torch_and_threads():
    import torch

    line = machine("cpu")
    assert f"[{torch.backends.cpu.get_cpu_capability()}]" in line and f"torch {torch.__version__}" in line
    assert f"{torch.get_num_threads()} thread(s)" in line
