"""kdlib/reports.py and the notebooks' parameter checks, on cases worked by hand."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from kdlib import reports
from kdlib.errors import ConfigError
from kdlib.notebook import check


def _runs(rows: dict) -> pd.DataFrame:
    """rows: (row, fraction) -> test accuracy per seed."""
    return pd.DataFrame([dict(row=r, fraction=f, seed=s, test_acc=a, status="ok")
                         for (r, f), accs in rows.items() for s, a in enumerate(accs)])


def test_a_factor_report_by_hand():
    # seeds 0, 1: labels 0.5 and 0.4 at α = 0.02, KD 0.6 and 0.5 -> gains 0.2 and 0.25, mean 0.225;
    # at α = 1 both 0.8 -> gain 0
    df = _runs({("labels", 0.02): [0.5, 0.4], ("λ=1", 0.02): [0.6, 0.5], ("labels", 1.0): [0.8, 0.8],
                ("λ=1", 1.0): [0.8, 0.8]})
    S = SimpleNamespace(judgements={"C5-lambda": {"settings": {"λ=1": {"outcome": "reproduced"}}}})
    numbers, summary, text = reports.factor(S, "C5-lambda", df, rows=["λ=1"])
    assert numbers == {"gain[λ=1]@0.02": 0.225, "gain[λ=1]@1": 0.0}
    assert summary == "λ=1: gain +22.5% at α = 0.02, +0.0% at 1 (reproduced)." and text == ""


def test_c4_is_decided_without_an_interval_when_one_tau_wins_both_ends():
    S = SimpleNamespace(fractions=[0.02, 0.1, 1.0])
    rows = {"τ=1": dict(tau=1.0), "τ=4": dict(tau=4.0)}
    assert reports.tau_pair_context(S, {0.02: "τ=4", 1.0: "τ=4"}, rows) == reports.Fixed(
        "contradicted", "one τ is best at both ends")
    ctx = reports.tau_pair_context(S, {0.02: "τ=4", 1.0: "τ=1"}, rows)
    assert ctx == {"settings": {"τ 4 vs 1": [(0.0, [(1, "τ=4", 0.02, "test_acc"), (-1, "τ=1", 0.02, "test_acc"),
                                                    (-1, "τ=4", 1.0, "test_acc"), (1, "τ=1", 1.0, "test_acc")])]}}


def test_the_pitfall_difference_is_paired_by_seed():
    df = _runs({("vanilla KD", 0.1): [0.5, 0.6], ("DKD", 0.1): [0.55, 0.58]})
    assert reports.minus_vanilla(df, "DKD", 0.1).round(6).tolist() == [0.05, -0.02]


@pytest.mark.parametrize("params, message", [
    (dict(tau_rules=["paper"]), "tau_rules=['paper'] lacks 'validation', the rule the verdict is judged on"),
    (dict(tau_rules=["validation", "best"]), "tau_rules='best' is not known; allowed: fixed, paper, validation"),
    (dict(methods=["DKD"]), "methods=['DKD'] lacks 'vanilla KD', the reference every method is compared with"),
    (dict(ensemble_members=2.5), "ensemble_members=2.5"),
    (dict(paper_tau=0), "paper_tau=0 is outside the allowed range (0, inf)"),
    (dict(lams=[0.5, 1.5]), "lams=1.5 is outside the allowed range [0, 1]"),
])
def test_a_bad_parameter_is_named_with_what_is_allowed(params, message):
    with pytest.raises(ConfigError) as err:
        check(**params)
    assert message in str(err.value)


def test_good_parameters_pass_and_an_optional_one_may_be_none():
    check(tau_rules=["validation", "fixed"], asymmetric_tau=None, ensemble_members=3, methods=["vanilla KD", "DIST"],
          taus=[0.1, 100], n_examples=3)
