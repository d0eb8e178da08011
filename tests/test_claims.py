"""The scoreboard's rule (kdlib.claims): hand-worked cases of each outcome, Pocock's level, Holm, how settings
combine, the look-by-look loop, and the error rates of the whole schedule by simulation."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kdlib import claims
from kdlib.claims import (CLAIMS, Claim, combine, decide, holm, judge_setting, outcome, pocock, simulate)

T975_3 = 3.182446  # t quantile 0.975 at 3 degrees of freedom (tables)


def test_hand_worked_interval_at_one_look():
    # d = 1, 2, 3, 4: mean 2.5, sd 1.2910, se 0.6455; at the one-look level 2.5% per side the half-width is
    # 3.1824 * 0.6455 = 2.0543
    j = judge_setting(pd.Series([1.0, 2.0, 3.0, 4.0]), delta=0.5, level=0.025)
    assert j["mean"] == pytest.approx(2.5)
    assert (j["low"], j["high"]) == pytest.approx((2.5 - T975_3 * 0.645497, 2.5 + T975_3 * 0.645497), abs=1e-5)
    assert j["outcome"] == "reproduced" and j["n_seeds"] == 4 and not j["smaller_than_delta"]
    assert j["margin"] == pytest.approx((2.5 - 2.05426) / 2.05426, abs=1e-4)  # low over the half-width


@pytest.mark.parametrize("d, delta, expected", [
    ([-1.0, -2.0, -3.0, -4.0], 0.5, "contradicted"),
    ([0.01, -0.01, 0.02, 0.0], 0.05, "negligible"),   # [-0.0155, 0.0255]: below Δ, not below 0
    ([1.0, -1.0, 2.0, -2.0], 0.05, "open"),
    ([0.02, 0.021, 0.019, 0.02], 0.05, "reproduced"),  # and smaller than Δ
])
def test_each_outcome(d, delta, expected):
    j = judge_setting(pd.Series(d), delta, 0.025)
    assert j["outcome"] == expected
    if expected == "negligible":
        assert j["high"] == pytest.approx(0.005 + T975_3 * np.std(d, ddof=1) / 2, abs=1e-6) and j["margin"] > 0
    if expected == "open":
        assert j["margin"] < 0
    assert j["smaller_than_delta"] == (expected == "reproduced")


def test_outcome_boundaries_and_one_seed():
    assert outcome(0.1, 0.2, 0.05) == "reproduced" and outcome(-0.2, -0.1, 0.05) == "contradicted"
    assert outcome(-0.1, 0.04, 0.05) == "negligible" and outcome(-0.1, 0.06, 0.05) == "open"
    j = judge_setting(pd.Series([0.3]), 0.05, 0.025)  # one seed bounds nothing
    assert j["outcome"] == "open" and j["low"] == -math.inf


def test_a_setting_of_two_differences_needs_both():
    yes, no = pd.Series([1.0, 1.1, 0.9, 1.0]), pd.Series([-1.0, -1.1, -0.9, -1.0])
    assert judge_setting((yes, yes), 0.1, 0.025)["outcome"] == "reproduced"
    both = judge_setting((yes, no), 0.1, 0.025)
    assert both["outcome"] == "contradicted" and both["p"] > 0.5  # its p-value is the larger of the two


def test_pocock_levels():
    assert pocock((4,)) == 0.025
    # two equally spaced looks: Pocock's constant 2.178 (Pocock 1977, two-sided 5%)
    assert stats.norm.isf(pocock((4, 8))) == pytest.approx(2.178, abs=0.005)
    assert stats.norm.isf(pocock((5, 10))) == pytest.approx(2.178, abs=0.005)  # only the ratios of the looks matter
    three = pocock((4, 8, 16))
    assert pocock((4, 8)) > three > 0.025 / 3  # stricter with more looks, never as strict as Bonferroni
    with pytest.raises(ValueError, match="looks"):
        pocock((8, 4))


def test_holm_by_hand():
    assert holm({"a": 0.001, "b": 0.02, "c": 0.04}, 0.05) == {"a", "b", "c"}
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}, 0.05) == {"a"}  # c: 0.03 > 0.05 / 2 stops the steps
    assert holm({"a": 0.02}, 0.01) == set()


@pytest.mark.parametrize("kind, outs, expected", [
    ("every", ["reproduced", "reproduced"], "reproduced"),
    ("every", ["reproduced", "negligible"], "mixed"),
    ("every", ["reproduced", "contradicted", "open"], "mixed"),
    ("every", ["reproduced", "open"], "open"),
    ("every", ["contradicted", "contradicted"], "contradicted"),
    ("every", ["negligible", "contradicted"], "negligible"),
    ("some", ["open", "reproduced", "contradicted"], "reproduced"),
    ("some", ["negligible", "contradicted"], "negligible"),
    ("some", ["negligible", "open"], "open"),
    ("one", ["open"], "open"),
])
def test_how_settings_combine(kind, outs, expected):
    assert combine(kind, {i: {"outcome": o} for i, o in enumerate(outs)}) == expected


def test_every_row_is_declared_with_its_reason():
    for c in CLAIMS.values():
        assert c.kind in ("one", "every", "some") and c.delta > 0 and len(c.delta_reason) > 20 and c.cap in (8, 16)
        assert c.notebook.endswith(".ipynb")
    assert claims.claim_for("C2 (τ = 4)").key == "C2" and claims.claim_for("C6-ViT from vit-small").key == "C6-ViT"
    assert claims.claim_for("C1 cnn-small<-cnn-base").key == "C1"
    with pytest.raises(KeyError, match="not declared"):
        claims.claim_for("C9")
    assert claims.claim_for("C7-collapse").key == "C7-collapse" and claims.claim_for("C7-alignment").cap == 8
    assert (claims.scale_of("%"), claims.scale_of(" points"), claims.scale_of("")) == (100, 100, 1)


def test_c7_differences_worked_by_hand():
    """C7-alignment's two parts (a contrast) and C7-collapse's log ratio, on three seeds written out."""
    rows = []
    for seed, (cka_l, cka_k, cka_l1, cka_k1, nc_l, nc_k) in enumerate(
            [(0.50, 0.60, 0.90, 0.92, 0.1, 0.2), (0.40, 0.55, 0.88, 0.90, 0.2, 0.2), (0.45, 0.50, 0.91, 0.90, 0.5, 0.1)]):
        rows += [dict(row="s:labels", fraction=0.02, seed=seed, test_cka=cka_l, train_nc1=nc_l),
                 dict(row="s:kd", fraction=0.02, seed=seed, test_cka=cka_k, train_nc1=nc_k),
                 dict(row="s:labels", fraction=1.0, seed=seed, test_cka=cka_l1, train_nc1=1.0),
                 dict(row="s:kd", fraction=1.0, seed=seed, test_cka=cka_k1, train_nc1=1.0)]
    df = pd.DataFrame(rows).assign(status="ok")
    a = CLAIMS["C7-alignment"]
    m = "test_cka"
    ctx = dict(settings={"s": [(0, [(1, "s:kd", 0.02, m), (-1, "s:labels", 0.02, m)]),
                               (0, [(1, "s:kd", 0.02, m), (-1, "s:labels", 0.02, m), (-1, "s:kd", 1.0, m),
                                    (1, "s:labels", 1.0, m)])]})
    d1, d2 = a.diff(df, ctx)["s"]
    assert d1.tolist() == pytest.approx([0.10, 0.15, 0.05]) and d2.tolist() == pytest.approx([0.08, 0.13, 0.06])
    assert a.needs("s", ctx) == {("s:kd", 0.02), ("s:labels", 0.02), ("s:kd", 1.0), ("s:labels", 1.0)}
    c = CLAIMS["C7-collapse"]
    ctx = dict(settings={"s": ("s:kd", "s:labels", 0.02, "train_nc1")})
    assert c.diff(df, ctx)["s"].tolist() == pytest.approx([math.log(2), 0.0, math.log(0.2)])
    assert c.needs("s", ctx) == {("s:kd", 0.02), ("s:labels", 0.02)}


class Cfg:
    def __init__(self, fraction, seed):
        self.fraction, self.seed = fraction, seed


def test_decide_adds_seeds_only_where_a_setting_is_open():
    """Setting 'clear' decides at the first look; 'noisy' is open there and gets the next seeds, only its own runs."""
    rng = np.random.default_rng(0)
    effect = {"base": 0.0, "clear": 1.0, "noisy": 0.05}
    noise = {"base": 0.0, "clear": 0.01, "noisy": 0.5}
    draws = {(r, s): effect[r] + noise[r] * rng.standard_normal() for r in effect for s in range(16)}
    asked = []

    def sweep(spec):
        asked.append({(r, c.seed) for r, c in spec})
        return pd.DataFrame([{"row": r, "fraction": c.fraction, "seed": c.seed, "status": "ok",
                              "metric": draws[(r, c.seed)]} for r, c in spec])

    def spec_for(seeds_):
        return [(r, Cfg(1.0, s)) for r in effect for s in seeds_]

    ctx = {"settings": {n: [(0.0, [(1, n, 1.0, "metric"), (-1, "base", 1.0, "metric")])] for n in ("clear", "noisy")}}
    claim = Claim("T", "test", "t.ipynb", "every", "d", 0.05, "", "a reason long enough to pass", claims.contrast,
                  claims.contrast_needs, cap=8)
    df, j = decide(claim, ctx, spec_for, sweep, list(range(16)), (4, 8, 16), log=lambda *_: None)
    assert j["settings"]["clear"]["look"] == 1 and j["settings"]["clear"]["n_seeds"] == 4
    new = asked[1] - asked[0]
    assert {r for r, _ in new} == {"noisy", "base"} and {s for _, s in new} == {4, 5, 6, 7}
    assert len(asked) == 3  # noisy is still open at 8: only its own runs (and the baseline's) get seeds 8-15
    assert asked[2] - asked[1] == {(r, s) for r in ("noisy", "base") for s in range(8, 16)}
    assert all(("clear", s) not in a for a in asked for s in range(4, 16))  # decided: never more seeds
    n = j["settings"]["noisy"]["n_seeds"]
    assert n == 16 and j["looks"] == [4, 8, 16] and j["level"] == pytest.approx(pocock((4, 8, 16)))
    assert j["min_seeds"] == 4 and j["n_seeds"] == n and len(df) == len(asked[-1])


# ---- the rule's error rates through the whole schedule (10,000 draws each; seeded, so the same numbers every run)
DRAWS = 10_000


@pytest.mark.parametrize("looks", [(4, 8, 16), (4, 8)])
@pytest.mark.parametrize("dist", ["normal", "t"])
def test_false_positive_rate_at_most_5_percent(looks, dist):
    r = simulate(0.0, 0.5, looks, DRAWS, dist)
    assert r["reproduced"] + r["contradicted"] <= 0.05  # the whole schedule, both bounds
    assert r["reproduced"] <= 0.03  # 2.5% per bound, and 3 binomial standard errors of 10,000 draws


@pytest.mark.parametrize("looks", [(4, 8, 16), (4, 8)])
@pytest.mark.parametrize("dist", ["normal", "t"])
def test_an_effect_of_delta_is_rarely_called_negligible(looks, dist):
    r = simulate(0.5, 0.5, looks, DRAWS, dist)
    assert r["negligible"] <= 0.03 and r["contradicted"] <= 0.005


def test_power_and_seeds_on_clear_effects():
    big = simulate(3.0, 0.5, (4, 8, 16), DRAWS)  # effect 3 standard deviations of d: mostly decided at 4 seeds
    assert big["reproduced"] >= 0.99 and big["mean_seeds"] < 5
    mid = simulate(1.0, 0.5, (4, 8, 16), DRAWS)
    assert mid["reproduced"] >= 0.9 and 4 < mid["mean_seeds"] < 16
    none = simulate(0.0, 0.5, (4, 8, 16), DRAWS)  # no effect, Δ half a standard deviation: a third negligible by 16
    assert none["negligible"] >= 0.3
    table = claims.operating_characteristics(draws=2000)
    assert set(table["looks"]) == {"4, 8"} and (table["mean_seeds"] >= 4).all()
