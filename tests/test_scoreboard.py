"""The scoreboard (outcomes, settings, margins, machines) and the README's results section written from it."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from kdlib import claims, scoreboard
from kdlib.devices import machine

REPO = Path(__file__).resolve().parent.parent
STRONG = pd.Series([0.2, 0.25, 0.3, 0.22, 0.28], index=range(5))
C1 = claims.CLAIMS["C1"]


def judged(ds: dict, kind="one", level=0.025):
    c = claims.Claim("C9", "a claim", "01.ipynb", kind, "d", 0.05, "%", "a reason long enough")
    return claims.judgement(c, claims.judge(c, ds, level)[1], level, (5,)), c


def test_record_keeps_the_outcome_interval_margin_and_machines(tmp_path):
    j, c = judged({"only": STRONG})
    e = scoreboard.record(tmp_path, "C9", "a claim", j, c, {"x": 0.5}, "cpu", "mnist1d",
                          figure=str(tmp_path / "f.png"), machines={"CPU A", "CPU A", "CPU B"}, summary="It holds.")
    # mean 0.25, sd 0.04123, t(0.975, 4) = 2.7764: [0.1988, 0.3012]; margin 0.1988 / 0.0512 = 3.88
    assert e["verdict"] == "reproduced" and "halves" not in e
    assert e["interval"] == pytest.approx([0.1988, 0.3012], abs=1e-4) and e["margin"] == pytest.approx(3.88, abs=0.01)
    assert e["machines"] == ["CPU A", "CPU B"] and e["n_seeds"] == 5 and e["figure"] == "f.png"
    assert e["delta"] == 0.05 and e["delta_reason"] == "a reason long enough" and e["notebook"] == "01.ipynb"
    board = json.loads((tmp_path / "scoreboard.json").read_text())
    assert board["C9/mnist1d/cpu"]["summary"] == "It holds."
    md = (tmp_path / "scoreboard.md").read_text()
    assert "25% [19.9, 30.1]" in md and "CPU A; CPU B" in md and "| only | reproduced |" in md


def test_record_refuses_a_bare_verdict(tmp_path):
    with pytest.raises(TypeError, match="judgement"):
        scoreboard.record(tmp_path, "C9", "a claim", {"verdict": "reproduced"}, C1, {}, "cpu", "mnist1d")
    assert not (tmp_path / "scoreboard.json").exists()


def test_a_factor_row_counts_its_settings(tmp_path):
    j, c = judged({"a": STRONG, "b": -STRONG}, kind="every")
    e = scoreboard.record(tmp_path, "C5-x", "a factor", j, c, {}, "cpu", "mnist1d")
    assert e["verdict"] == "mixed" and e["interval"] is None and e["counts"] == {"reproduced": 1, "contradicted": 1}
    assert e["settings"]["b"]["outcome"] == "contradicted"
    assert "**mixed** (1 reproduced, 1 contradicted)" in scoreboard.readme_block(scoreboard.load(tmp_path))


def test_infinite_bounds_are_written_as_json_null(tmp_path):
    j, c = judged({"one seed": pd.Series([0.3])})
    scoreboard.record(tmp_path, "C9", "one seed", j, c, {}, "cpu", "mnist1d")
    text = (tmp_path / "scoreboard.json").read_text()
    assert "Infinity" not in text and json.loads(text)["C9/mnist1d/cpu"]["interval"] == [None, None]
    assert "[−∞, ∞]" in scoreboard.interval_text(json.loads(text)["C9/mnist1d/cpu"])


def test_update_readme_rewrites_only_between_the_markers(tmp_path):
    figures = tmp_path / "figures"
    figures.mkdir()
    j, _ = judged({"validation": STRONG})
    scoreboard.record(figures, "C1", "data efficiency", j, C1, {}, "cpu", "mnist1d", figure="c1.png",
                      machines={"CPU A"}, summary="Gain 25%.")
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
    for e in scoreboard.load(REPO / "figures").values():  # every row was made with kdlib.claims' rule
        assert {"delta", "margin", "settings", "machines", "summary"} <= set(e) and e["machines"]
        assert e["verdict"] in claims.OUTCOMES and "halves" not in e
        # no row is open except at its seed cap
        assert e["verdict"] != "open" or e["n_seeds"] == claims.claim_for(e["claim"]).cap


def test_machine_line_names_cpu_instruction_set_torch_and_threads():
    import torch

    line = machine("cpu")
    assert f"[{torch.backends.cpu.get_cpu_capability()}]" in line and f"torch {torch.__version__}" in line
    assert f"{torch.get_num_threads()} thread(s)" in line


def test_rows_of_the_old_rule_are_dropped_when_a_row_is_recorded(tmp_path):
    (tmp_path / "scoreboard.json").write_text(json.dumps({"C1/mnist1d/cpu": {"claim": "C1", "verdict": "inconclusive",
                                                                              "halves": ["inconclusive"] * 2}}))
    j, c = judged({"only": STRONG})
    scoreboard.record(tmp_path, "C9", "a claim", j, c, {}, "cpu", "mnist1d")
    assert list(scoreboard.load(tmp_path)) == ["C9/mnist1d/cpu"]
