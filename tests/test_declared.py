"""The rows as declared for the confirmatory series (kdlib 0.10, issue 33), each new d worked by hand: the two-part
d of a gain at small data, a d with zero spread judged by an exact binomial interval, the pitfall's strong-teacher
regime, the Fidelity-2 family of declared pairs under Holm, the authors' figure at matched α, and the declaring
commit on the scoreboard."""
import math

import numpy as np
import pandas as pd
import pytest

from kdlib import analysis, claims, plots, profiles, scoreboard
from kdlib.claims import CLAIMS, contrast, gain_change, judge_setting, shortfall

T975_3 = 3.182446  # t quantile 0.975 at 3 degrees of freedom (tables)


def runs(rows: dict, metric: str = "test_acc", **extra) -> pd.DataFrame:
    """A runs table from {(row, fraction): [value per seed 0..n-1]}."""
    out = []
    for (row, f), values in rows.items():
        for s, v in enumerate(values):
            out.append({"row": row, "fraction": f, "seed": s, "status": "ok", metric: v,
                        **{k: (x[(row, f)][s] if isinstance(x, dict) else x) for k, x in extra.items()}})
    return pd.DataFrame(out)


def test_two_part_d_a_gain_that_grows_only_because_kd_loses_at_full_data_is_contradicted():
    # labels 0.5 at α = 0.02 and 0.9 at α = 1; KD 0.49, 0.485, 0.495, 0.49 at 0.02 (gains −2%, −3%, −1%, −2%) and
    # 0.81, 0.819, 0.801, 0.81 at 1 (gains −10%, −9%, −11%, −10%): the difference (+8% every seed … +8, +6, +10, +8)
    # grows, but there is no gain at small data
    df = runs({("labels", 0.02): [0.5] * 4, ("kd", 0.02): [0.49, 0.485, 0.495, 0.49],
               ("labels", 1.0): [0.9] * 4, ("kd", 1.0): [0.81, 0.819, 0.801, 0.81]})
    (small, change), = gain_change(df, dict(settings={"kd": ("kd", "labels")}, lo=0.02, hi=1.0)).values()
    assert small.tolist() == pytest.approx([-0.02, -0.03, -0.01, -0.02])
    assert change.tolist() == pytest.approx([0.08, 0.06, 0.10, 0.08])
    j = judge_setting((small, change), delta=0.05, level=0.025)
    # part 1: mean −0.02, sd 0.008165, se 0.004082: [−0.02 − 3.1824 · 0.004082, −0.02 + …] = [−0.03299, −0.00701]
    assert j["outcome"] == "contradicted" and j["part"] == 0
    assert (j["low"], j["high"]) == pytest.approx((-0.032991, -0.007009), abs=1e-5)
    assert [p["outcome"] for p in j["parts"]] == ["contradicted", "reproduced"]
    # the same with a real gain at small data: both parts reproduced, and the weaker decides the interval shown
    j2 = judge_setting((small + 0.1, change), delta=0.05, level=0.025)
    assert j2["outcome"] == "reproduced" and j2["part"] == 1 and j2["mean"] == pytest.approx(0.08)


def test_every_gain_row_has_two_named_parts():
    for key in ("C1", "C6-ViT", "C6-LM", "C5-lambda", "C5-objective", "C5-scale", "C5-samples"):
        c = CLAIMS[key]
        assert c.diff is gain_change and c.parts == claims.GAIN_PARTS and "two parts" in c.d


def test_zero_spread_d_is_judged_by_the_exact_binomial_interval_of_the_pooled_counts():
    # every student agrees with its teacher on all 4,000 of its training inputs, on 4 seeds: d = 0.99 − 1 = −0.01 on
    # every seed. Pooled: 16,000 of 16,000. Clopper–Pearson lower bound of p at one-sided 2.5%: 0.025^(1/16000)
    df = runs({("self-distillation", 1.0): [1.0] * 4}, metric="train_agreement", n_train=4000)
    (d,) = shortfall(df, dict(settings={"s": (0.99, "self-distillation", 1.0, "train_agreement", "n_train")})).values()
    assert d.tolist() == pytest.approx([-0.01] * 4) and d.attrs["pooled"] == {"k": 16000, "n": 16000, "const": 0.99,
                                                                            "sign": -1}
    j = judge_setting(d, delta=0.005, level=0.025)
    p_lo = 0.025 ** (1 / 16000)
    assert (j["low"], j["high"]) == pytest.approx((0.99 - 1.0, 0.99 - p_lo), abs=1e-9)
    assert j["high"] < j["low"] + 0.001 and j["high"] > j["low"]  # narrow, but never of width zero
    assert j["outcome"] == "contradicted" and "exact binomial" in j["reason"] and "16000 of 16000" in j["reason"]
    assert j["p"] == pytest.approx(1.0)  # "agreement below 0.99" is not supported at all
    # 15,800 of 16,000 agreeing (0.9875) on every seed: below 0.99, and the exact interval says so
    df2 = runs({("self-distillation", 1.0): [0.9875] * 4}, metric="train_agreement", n_train=4000)
    j2 = judge_setting(next(iter(shortfall(df2, dict(settings={"s": (0.99, "self-distillation", 1.0,
                                                                       "train_agreement", "n_train")})).values())),
                       delta=0.005, level=0.025)
    assert j2["outcome"] in ("reproduced", "open") and j2["low"] < 0.0025 < j2["high"]
    # a zero-spread d with no counts behind it bounds nothing: open, with the reason, not a width-zero interval
    j3 = judge_setting(pd.Series([0.3, 0.3, 0.3, 0.3]), delta=0.05, level=0.025)
    assert j3["outcome"] == "open" and j3["low"] == -math.inf and "zero spread" in j3["reason"]


def test_pitfall_regime_and_its_two_part_d_by_hand():
    # the teacher (0.90 on validation) is below label training only at the largest κ (0.93): that κ is outside
    assert claims.strong_teacher_regime({0.1: 0.9, 0.5: 0.9, 1.0: 0.9}, {0.1: 0.6, 0.5: 0.9, 1.0: 0.93}) == [0.1, 0.5]
    settings = claims.pitfall_settings(["vanilla KD", "DKD", "KD + deep supervision"], lo=0.1, hi=0.5)
    df = runs({("vanilla KD", 0.1): [0.60, 0.62, 0.61, 0.60], ("DKD", 0.1): [0.63, 0.64, 0.64, 0.62],
               ("vanilla KD", 0.5): [0.80, 0.80, 0.81, 0.80], ("DKD", 0.5): [0.80, 0.79, 0.81, 0.80],
               ("KD + deep supervision", 0.5): [0.82, 0.83, 0.82, 0.82]})
    d = contrast(df, dict(settings=settings))
    edge, shrink = d["DKD"]
    assert edge.tolist() == pytest.approx([0.03, 0.02, 0.03, 0.02])            # DKD − vanilla at κ = 0.1
    assert shrink.tolist() == pytest.approx([0.03, 0.03, 0.03, 0.02])          # minus (0, −0.01, 0, 0) at κ = 0.5
    assert d["KD + deep supervision"].tolist() == pytest.approx([0.02, 0.03, 0.01, 0.02])
    assert claims.contrast_needs("DKD", dict(settings=settings)) == {("DKD", 0.1), ("vanilla KD", 0.1),
                                                                     ("DKD", 0.5), ("vanilla KD", 0.5)}


def test_fidelity2_declared_pairs_in_one_direction_and_holm_over_them_alone():
    s = claims.fidelity2_settings(["mixup", "extra"], [0.02, 1.0])
    assert list(s) == ["α = 0.02: + mixup inputs vs self-distillation", "α = 1: + mixup inputs vs self-distillation",
                       "α = 0.02: + extra inputs vs self-distillation", "α = 1: + extra inputs vs self-distillation"]
    (agree, acc) = s["α = 1: + extra inputs vs self-distillation"]
    assert agree[1] == [(1, "+ extra inputs", 1.0, "test_agreement"), (-1, "self-distillation", 1.0, "test_agreement")]
    assert acc[1] == [(1, "self-distillation", 1.0, "test_acc"), (-1, "+ extra inputs", 1.0, "test_acc")]
    # Holm at 2.5% over these 4 alone: 0.004 ≤ 0.025/4 is kept; 0.01 > 0.025/3 stops the step-down
    p = dict(zip(s, [0.004, 0.01, 0.02, 0.5]))
    assert claims.holm(p, 0.025) == {"α = 0.02: + mixup inputs vs self-distillation"}
    # over the 36 ordered pairs of kdlib 0.8, 0.004 > 0.025/36 would have been kept by no one
    assert 0.004 > 0.025 / 36


def test_authors_comparison_in_points_at_matched_alpha():
    df = runs({("labels", 0.02): [0.30, 0.32], ("paper", 0.02): [0.40, 0.40],
               ("labels", 1.0): [0.90, 0.90], ("paper", 1.0): [0.91, 0.91]})
    eff = pd.DataFrame({"fraction": [0.02, 1.0], "factor": [2.0, 1.0], "low": [1.5, 0.9], "high": [2.5, 1.1]})
    v = analysis.authors_comparison(df, "paper", eff, plots.AUTHORS_C1)
    first = v.iloc[0]
    assert first["alpha"] == 0.02 and first["kappa"] == 0.024
    assert first["ours_points"] == pytest.approx(9.0) and first["theirs_points"] == pytest.approx(9.9)
    assert first["theirs_points_pm"] == pytest.approx(2.0) and first["ours_factor"] == 2.0
    assert first["theirs_factor_low"] < first["theirs_factor"] < first["theirs_factor_high"]
    assert v.iloc[-1]["alpha"] == 1.0  # κ = 0.96 matched to α = 1


def test_confirmatory_seeds_are_new_and_the_scoreboard_names_the_declaring_commit(tmp_path):
    cpu = profiles.PROFILES["cpu"]
    assert min(cpu["seeds"]) >= 2000 and not set(cpu["seeds"]) & (set(range(16)) | set(range(1000, 1006)))
    assert all(c.cap == claims.CAP == 8 for c in CLAIMS.values())
    j = claims.judgement(CLAIMS["C1"], {"validation": judge_setting(
        (pd.Series([0.3, 0.35, 0.4, 0.33]), pd.Series([0.3, 0.3, 0.38, 0.31])), 0.05, 0.025)}, 0.025, (4,))
    e = scoreboard.record(tmp_path, "C1", "t", j, CLAIMS["C1"], {}, "cpu", "mnist1d")
    assert e["declared_in"] == scoreboard.declaration() and e["declared_in"] != ""
    assert [p["name"] for p in e["settings"]["validation"]["parts"]] == list(claims.GAIN_PARTS)
    text = (tmp_path / "scoreboard.md").read_text()
    assert "Declared in: " in text and "· that gain minus the gain at α = 1" in text


def test_variant_rows_come_from_the_rows_table():
    d = {"student": "cnn-base", "teacher": "cnn-base"}
    from kdlib.notebook import Row, row_for

    def row(base, **p):
        return row_for(base, d, **{"student": "cnn-base", "teacher": "cnn-base", "tau": 4.0, **p})

    assert row("C1") == Row("C1", "c1_data_efficiency", None)
    assert row("C1", student="vit-small") == Row(
        "C6-ViT", "c1_data_efficiency_vit-small_from_cnn-base",
        "data efficiency of distillation, vit-small student of a cnn-base teacher")
    assert row("C1", student="vit-small", teacher="vit-small").name == "C6-ViT from vit-small"
    assert row("C1", student="cnn-small").name == "C1 cnn-small<-cnn-base"
    assert row("C2", rule="fixed") == Row("C2 (τ = 4)", "c2_label_smoothing_tau4", None)
    assert row("C3", rule="validation") == Row("C3", "c3_dark_knowledge", None)


def test_the_declaring_commit_is_the_first_that_held_todays_declarations(tmp_path):
    import subprocess

    git = lambda *a: subprocess.run(["git", "-C", str(tmp_path), *a], capture_output=True, text=True, check=True)
    git("init", "-q")
    git("config", "user.email", "t@t"), git("config", "user.name", "t")
    f = tmp_path / "claims.py"
    hashes = []
    for text in ("v1", "v2", "v1"):  # declared, changed, changed back: the declaration is the first v1
        f.write_text(text)
        git("add", "claims.py"), git("commit", "-qm", text)
        hashes.append(git("rev-parse", "--short", "HEAD").stdout.strip())
    assert scoreboard.declaration(tmp_path, ("claims.py",)).split()[0] == hashes[0]
    f.write_text("v3")
    assert scoreboard.declaration(tmp_path, ("claims.py",)).endswith("+ uncommitted changes")
    assert scoreboard.declaration(tmp_path / "nowhere", ("claims.py",)) == "unknown"
