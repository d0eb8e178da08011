"""kdlib.analysis on worked examples and small hand-made tables."""
from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from kdlib.analysis import (efficiency_factor, relative_gain, select_on_validation, summarize,
                            verdict_growing_gain)


# ---------------------------------------------------------------- efficiency factor

def test_efficiency_factor_worked_example():
    # baseline: 0.5 at alpha = 0.1, 0.9 at alpha = 1. A method at alpha = 0.1 with 0.7 sits half way in
    # log(alpha): alpha_needed = 10 ** (-0.5) = 0.316, so the factor is 3.16.
    out = efficiency_factor([0.1, 1.0], [0.5, 0.9], [0.1], [0.7])
    assert out.shape == (1,)
    assert out[0] == pytest.approx(10 ** -0.5 / 0.1, rel=1e-9)
    assert out[0] == pytest.approx(3.1623, abs=1e-4)


def test_efficiency_factor_outside_range_is_nan():
    out = efficiency_factor([0.1, 1.0], [0.5, 0.9], [0.1, 0.1, 0.5], [0.95, 0.45, 0.9])
    assert math.isnan(out[0]) and math.isnan(out[1])
    assert out[2] == pytest.approx(1.0 / 0.5)  # exactly the top of the curve: alpha_needed = 1


def test_efficiency_factor_endpoints_and_several_points():
    f, acc = [0.02, 0.1, 1.0], [0.3, 0.5, 0.9]
    out = efficiency_factor(f, acc, [0.02, 0.02, 0.05, 0.1], [0.3, 0.4, 0.5, 0.9])
    assert out[0] == pytest.approx(1.0)                          # bottom of the curve
    assert out[1] == pytest.approx(math.sqrt(0.02 * 0.1) / 0.02)  # geometric midpoint of 0.02 and 0.1
    assert out[2] == pytest.approx(0.1 / 0.05)                   # the baseline's own point at 0.1
    assert out[3] == pytest.approx(1.0 / 0.1)


def test_efficiency_factor_unsorted_and_non_monotone_baseline():
    # the same baseline given in another order gives the same answer
    a = efficiency_factor([1.0, 0.1], [0.9, 0.5], [0.1], [0.7])
    assert a[0] == pytest.approx(10 ** -0.5 / 0.1)
    # a dip (0.45 at 0.3) is flattened by the running maximum: 0.5 is first reached at 0.1,
    # and 0.7 lies half way between 0.5 (at 0.3 after flattening) and 0.9 (at 1.0)
    b = efficiency_factor([0.1, 0.3, 1.0], [0.5, 0.45, 0.9], [0.1, 0.1], [0.5, 0.7])
    assert b[0] == pytest.approx(1.0)
    assert b[1] == pytest.approx(math.sqrt(0.3 * 1.0) / 0.1)


# ---------------------------------------------------------------- relative gain and verdict

SEEDS = (0, 1, 2)


def make_table(labels, kd, fractions=(0.1, 1.0)):
    """labels / kd: {fraction: [acc per seed]} -> a tidy table like sweep's, plus a diverged decoy row."""
    rows = []
    for method, accs in (("labels", labels), ("kd", kd)):
        for f in fractions:
            for s, a in zip(SEEDS, accs[f]):
                rows.append(dict(method=method, fraction=f, seed=s, test_acc=a, status="ok"))
    # a failed run must be ignored everywhere (its accuracy would change every number)
    rows.append(dict(method="kd", fraction=fractions[0], seed=3, test_acc=0.0, status="diverged"))
    return pd.DataFrame(rows)


LABELS = {0.1: [0.50, 0.52, 0.48], 1.0: [0.90, 0.91, 0.89]}
KD_GROWING = {0.1: [0.60, 0.62, 0.59], 1.0: [0.91, 0.92, 0.90]}
KD_SHRINKING = {0.1: [0.505, 0.5252, 0.4848], 1.0: [0.99, 1.0, 0.979]}


def hand_gains(kd, labels, f):
    return [(k - b) / b for k, b in zip(kd[f], labels[f])]


def test_relative_gain_by_hand():
    df = make_table(LABELS, KD_GROWING)
    gain = relative_gain(df, "kd")
    assert list(gain.columns) == ["fraction", "gain_mean", "gain_std", "n_seeds"]
    assert gain["fraction"].tolist() == [0.1, 1.0]
    for f in (0.1, 1.0):
        row = gain[gain["fraction"] == f].iloc[0]
        g = hand_gains(KD_GROWING, LABELS, f)
        assert row["gain_mean"] == pytest.approx(statistics.mean(g), rel=1e-9)
        assert row["gain_std"] == pytest.approx(statistics.stdev(g), rel=1e-9)
        assert row["n_seeds"] == 3
    assert gain.iloc[0]["gain_mean"] == pytest.approx(0.2075, abs=1e-3)


def test_relative_gain_lower_is_better_flips_sign():
    df = make_table(LABELS, KD_GROWING)
    up = relative_gain(df, "kd")
    down = relative_gain(df, "kd", higher_is_better=False)
    np.testing.assert_allclose(down["gain_mean"], -up["gain_mean"])
    np.testing.assert_allclose(down["gain_std"], up["gain_std"])


def test_relative_gain_pairs_by_seed():
    # a seed present for only one method is dropped, not paired with another seed
    df = make_table(LABELS, KD_GROWING)
    df = df[~((df["method"] == "labels") & (df["seed"] == 2))]
    gain = relative_gain(df, "kd")
    g = hand_gains(KD_GROWING, LABELS, 0.1)[:2]
    assert gain.iloc[0]["n_seeds"] == 2
    assert gain.iloc[0]["gain_mean"] == pytest.approx(statistics.mean(g), rel=1e-9)


def test_verdict_growing_gain_reproduced():
    df = make_table(LABELS, KD_GROWING)
    v = verdict_growing_gain(relative_gain(df, "kd"), df, "kd")
    d = [a - b for a, b in zip(hand_gains(KD_GROWING, LABELS, 0.1), hand_gains(KD_GROWING, LABELS, 1.0))]
    assert v["verdict"] == "reproduced"
    assert v["difference_mean"] == pytest.approx(statistics.mean(d), rel=1e-9)
    assert v["difference_std"] == pytest.approx(statistics.stdev(d), rel=1e-9)
    assert v["n_seeds"] == 3 and v["alpha_smallest"] == 0.1 and v["alpha_largest"] == 1.0
    assert v["gain_smallest"] == pytest.approx(statistics.mean(hand_gains(KD_GROWING, LABELS, 0.1)))
    assert v["gain_largest"] == pytest.approx(statistics.mean(hand_gains(KD_GROWING, LABELS, 1.0)))
    assert "kd" in v["criterion"] and "labels" in v["criterion"]


def test_verdict_growing_gain_not_reproduced_when_gain_shrinks():
    df = make_table(LABELS, KD_SHRINKING)
    gain = relative_gain(df, "kd")
    assert gain.iloc[0]["gain_mean"] < gain.iloc[1]["gain_mean"]
    v = verdict_growing_gain(gain, df, "kd")
    assert v["verdict"] == "not reproduced"
    assert v["difference_mean"] < 0


def test_verdict_growing_gain_inconclusive_when_noisy():
    # differences of gains per seed: +0.1, -0.05, 0.0 -> mean 0.0167 > 0 but below its std
    labels = {0.1: [0.5, 0.5, 0.5], 1.0: [0.8, 0.8, 0.8]}
    kd = {0.1: [0.55, 0.5, 0.5], 1.0: [0.8 * 0.95, 0.8 * 1.05, 0.8]}
    df = make_table(labels, kd)
    v = verdict_growing_gain(relative_gain(df, "kd"), df, "kd")
    d = [0.1 - (-0.05), 0.0 - 0.05, 0.0 - 0.0]
    assert v["difference_mean"] == pytest.approx(statistics.mean(d), abs=1e-9)
    assert 0 < v["difference_mean"] <= v["difference_std"]
    assert v["verdict"] == "inconclusive" and v["low"] < 0 < v["high"]


# ---------------------------------------------------------------- summaries

def test_summarize_ignores_failed_runs():
    df = make_table(LABELS, KD_GROWING)
    s = summarize(df)
    row = s[(s["method"] == "kd") & (s["fraction"] == 0.1)].iloc[0]
    assert row["count"] == 3
    assert row["mean"] == pytest.approx(statistics.mean(KD_GROWING[0.1]))
    assert row["std"] == pytest.approx(statistics.stdev(KD_GROWING[0.1]))


def test_select_on_validation_picks_best_mean():
    rows = []
    for lr, accs in ((1e-3, [0.60, 0.70]), (1e-2, [0.66, 0.66]), (1e-1, [0.9, 0.1])):
        for s, a in enumerate(accs):
            rows.append(dict(method="kd", fraction=0.1, seed=s, lr=lr, val_acc=a, status="ok"))
    rows.append(dict(method="kd", fraction=0.1, seed=9, lr=1.0, val_acc=1.0, status="diverged"))
    best = select_on_validation(pd.DataFrame(rows), "lr")
    assert len(best) == 1
    assert best.iloc[0]["lr"] == 1e-2 and best.iloc[0]["best_val_acc"] == pytest.approx(0.66)


def test_interval_and_judge_worked_by_hand():
    from kdlib.analysis import interval, judge

    # d = 0.1, 0.2, 0.3: mean 0.2, sd 0.1, se 0.1/sqrt(3); t(0.975, 2 df) = 4.302653 -> half width 0.248414
    mean, lo, hi = interval(pd.Series([0.1, 0.2, 0.3]))
    assert mean == pytest.approx(0.2) and lo == pytest.approx(0.2 - 0.248414, abs=1e-6)
    assert hi == pytest.approx(0.2 + 0.248414, abs=1e-6)
    assert judge(pd.Series([0.1, 0.2, 0.3]))["verdict"] == "inconclusive"
    # d = 0.2, 0.25, 0.3, 0.22, 0.28: mean 0.25, sd sqrt(0.0017); t(0.975, 4 df) = 2.776445 -> [0.19881, 0.30119]
    d = pd.Series([0.2, 0.25, 0.3, 0.22, 0.28], index=[0, 1, 2, 3, 4])
    j = judge(d)
    assert j["verdict"] == "reproduced" and j["n_seeds"] == 5 and j["level"] == 0.95
    assert j["low"] == pytest.approx(0.25 - 2.776445 * math.sqrt(0.0017 / 5), abs=1e-6)
    assert judge(-d)["verdict"] == "not reproduced" and judge(-d)["high"] < 0
    # one seed bounds nothing
    one = judge(pd.Series([0.5]))
    assert one["verdict"] == "inconclusive" and one["low"] == -math.inf


def test_efficiency_interval():
    from kdlib.analysis import efficiency_interval

    def table(kd_by_seed):
        rows = []
        for s, kd in enumerate(kd_by_seed):
            for f, lab in ((0.1, 0.5), (1.0, 0.9)):
                rows.append(dict(method="labels", fraction=f, seed=s, test_acc=lab, status="ok"))
                rows.append(dict(method="kd", fraction=f, seed=s, test_acc=kd if f == 0.1 else 0.9, status="ok"))
        return pd.DataFrame(rows)

    # every seed the same: the interval is the point, 10 ** -0.5 / 0.1 (see the worked example above)
    t, summary = efficiency_interval(table([0.7] * 4), "kd")
    row = t.set_index("fraction").loc[0.1]
    assert row["factor"] == pytest.approx(10 ** -0.5 / 0.1) and row["low"] == pytest.approx(row["factor"])
    assert row["high"] == pytest.approx(row["factor"]) and row["defined"] == 1.0
    assert summary["median"] == pytest.approx(np.median([10 ** -0.5 / 0.1, 1.0])) and summary["n_seeds"] == 4
    # seeds that differ: the interval spans the factors of the extreme draws and contains the point; reruns agree
    t1, s1 = efficiency_interval(table([0.6, 0.7, 0.8, 0.7]), "kd")
    t2, _ = efficiency_interval(table([0.6, 0.7, 0.8, 0.7]), "kd")
    r = t1.set_index("fraction").loc[0.1]
    lo_bound = efficiency_factor([0.1, 1.0], [0.5, 0.9], [0.1], [0.6])[0]
    hi_bound = efficiency_factor([0.1, 1.0], [0.5, 0.9], [0.1], [0.8])[0]
    assert lo_bound <= r["low"] < r["factor"] < r["high"] <= hi_bound
    pd.testing.assert_frame_equal(t1, t2)


def test_choose_breaks_ties_by_order():
    from kdlib.analysis import choose

    rows = [dict(row=name, fraction=f, seed=0, val_acc=acc, status="ok")
            for f, accs in ((0.1, {"τ=1": 0.5, "τ=4": 0.6, "logit": 0.6}), (1.0, {"τ=1": 0.9, "τ=4": 0.8, "logit": 0.95}))
            for name, acc in accs.items()]
    rows.append(dict(row="τ=100", fraction=0.1, seed=0, val_acc=0.99, status="diverged"))
    assert choose(pd.DataFrame(rows), ["τ=1", "τ=4", "logit", "τ=100"]) == {0.1: "τ=4", 1.0: "logit"}
    assert choose(pd.DataFrame(rows), ["τ=1", "logit", "τ=4"]) == {0.1: "logit", 1.0: "logit"}
    assert choose(pd.DataFrame(rows), ["τ=1", "τ=4"]) == {0.1: "τ=4", 1.0: "τ=1"}
