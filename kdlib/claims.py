"""Every scoreboard row as data, and the one rule that decides it.

A row (a `Claim`) says what its per-seed difference d is (positive: the claim holds), the smallest effect of interest Δ
and why, its kind (one effect, every setting of a factor, some setting of a factor) and its seed cap. The notebooks
build the runs; `decide` adds seeds where a row is open, by the schedule below, and judges it.

**The rule.** For each setting, the mean of the paired per-seed d and its Student-t interval at the schedule's nominal
one-sided level a (the two-sided 1 − 2a interval):

- *reproduced*: the interval lies above 0 (if it also lies below Δ: reproduced, "smaller than Δ");
- *contradicted*: the interval lies below 0;
- *negligible*: the interval lies below Δ (the effect is shown smaller than the smallest effect of interest: the upper
  one of Lakens' two one-sided tests, one-sided because every claim is);
- *open*: none of these at the seed cap.

**The looks.** Seeds 4, 8, 16 (each look doubles the seeds: one more look per doubling keeps Pocock's penalty small,
and 4 seeds give a t with 3 degrees of freedom, the least that bounds anything usefully). A setting stops at the first
look that decides it; only open settings get the next seeds. The nominal level of each look is Pocock's for the looks
taken: the same at every look, chosen so that the probability that *any* look crosses a given bound is at most
ALPHA = 2.5% (per bound, so under no effect at most 5% of rows end reproduced or contradicted, and under an effect
of exactly Δ at most 2.5% end negligible). Pocock's constant assumes normal statistics at the seed counts of the looks
(Brownian motion at times n_k); the t quantile at that level stands in for the normal one (Jennison and Turnbull, 2000,
section 3.5). `tests/test_claims.py` checks the error rates by simulation through the whole schedule.

**Kinds.** *one*: the row's outcome is its setting's. *every* (the claim holds at every setting of a factor): each
setting judged alone, no correction needed (intersection–union); reproduced if all are, contradicted if all are,
negligible if all are negligible or contradicted, *mixed* if some are reproduced and others contradicted or
negligible, open otherwise. *some* (one setting suffices, Fidelity-2): Holm's step-down over the settings at each look;
reproduced if Holm keeps any, negligible (contradicted) if every setting is negligible or contradicted (contradicted),
open otherwise. A setting made of several differences (Fidelity-2: higher agreement *and* lower accuracy) needs each of
them reproduced; its p-value is the largest of theirs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from .analysis import interval, seed_gains

ALPHA = 0.025  # the one-sided error rate of a whole schedule, per bound (0 and Δ)
LOOKS = (4, 8, 16)  # seed counts at which a row is judged (profiles may give their own)
OUTCOMES = ("reproduced", "contradicted", "negligible", "mixed", "open")


# ---- the schedule's level


@lru_cache(maxsize=None)
def pocock(looks: tuple, alpha: float = ALPHA) -> float:
    """The nominal one-sided level of every look of a Pocock design with looks at these seed counts: the level a such
    that a normal statistic crossing its bound z(1 − a) at *any* look has probability `alpha` under no effect.

    The statistic at look k is S_k / sqrt(n_k), S a Brownian motion observed at times n_k. The probability of no
    crossing is computed by the recursion of Armitage, McPherson and Rowe (1969) on a grid of S (deterministic, no
    sampling), and the bound is found by bisection."""
    looks = tuple(int(n) for n in looks)
    if not looks or any(b <= a for a, b in zip(looks, looks[1:])) or looks[0] < 1:
        raise ValueError(f"looks={looks!r}: allowed: increasing seed counts >= 1")
    if len(looks) == 1:
        return alpha

    # one grid of S for every bound tried (wide enough that the mass outside it is below 1e-12)
    x = np.linspace(-10 * math.sqrt(looks[-1]), 10 * math.sqrt(looks[-1]), 3001)
    dx = x[1] - x[0]
    start = stats.norm.pdf(x, scale=math.sqrt(looks[0]))
    kernels = [stats.norm.pdf(x[:, None] - x[None, :], scale=math.sqrt(n - prev)) * dx
               for prev, n in zip(looks, looks[1:])]

    def crossing(c: float) -> float:
        f = start * (x <= c * math.sqrt(looks[0]))
        for kernel, n in zip(kernels, looks[1:]):
            f = (kernel @ f) * (x <= c * math.sqrt(n))
        return 1.0 - float(f.sum() * dx)

    lo, hi = stats.norm.isf(alpha), stats.norm.isf(alpha / len(looks))  # between no correction and Bonferroni
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if crossing(mid) > alpha else (lo, mid)
    return float(stats.norm.sf(hi))


def looks_for(first: int, cap: int, looks=LOOKS) -> tuple:
    """The looks of a row: the schedule's seed counts up to its cap, starting at `first` (a single look when the
    notebook was given its seeds)."""
    out = tuple(n for n in looks if first <= n <= cap)
    return out or (first,)


# ---- one setting


def _finite(d) -> np.ndarray:
    return np.asarray(pd.Series(d, dtype=float).dropna(), float)


def t_test(d, level: float, pooled: dict | None = None) -> dict:
    """The mean of the per-seed d, its two-sided (1 − 2·level) t-interval, the one-sided p-value of "d > 0" and n.
    Fewer than two values bound nothing: (mean, −inf, inf, p = 1).

    A d with **zero spread** over two or more seeds (every seed the same value) has no t-interval: a width of zero
    would be read as infinite precision. Where the counts behind d are known (`pooled`, from `shortfall`: d = const +
    sign · p, p a proportion of k successes in n trials pooled over the seeds), the interval is the exact
    Clopper–Pearson one of p at the same level, mapped through d; otherwise nothing is bounded (−inf, inf). Either way
    `method` and `reason` say so."""
    x = _finite(d)
    n = len(x)
    mean, low, high = interval(x, 1 - 2 * level)  # the two-sided interval whose each side is at `level`
    if n < 2:
        return {"mean": mean, "low": low, "high": high, "p": 1.0, "n": n, "method": "none",
                "reason": "fewer than two seeds"}
    se = float(x.std(ddof=1)) / math.sqrt(n)
    if se > 0:
        p = float(stats.t.sf(mean / se, n - 1))
        return {"mean": mean, "low": low, "high": high, "p": p, "n": n, "method": "t", "reason": ""}
    if not pooled:
        return {"mean": mean, "low": -math.inf, "high": math.inf, "p": 1.0, "n": n, "method": "none",
                "reason": f"zero spread: d = {mean:.4g} on every one of {n} seeds and no counts behind it, so nothing "
                          f"is bounded (a t-interval would have width zero)"}
    return exact_test(pooled, n, level)


def exact_test(pooled: dict, n_seeds: int, level: float) -> dict:
    """d = const + sign · p, p = k / n pooled over the seeds' inputs: the exact (Clopper–Pearson) interval of p at
    one-sided `level` per side, mapped through d, and the exact one-sided p-value of "d > 0" (binomial)."""
    k, n, const, sign = int(pooled["k"]), int(pooled["n"]), float(pooled["const"]), int(pooled["sign"])
    p_lo = float(stats.beta.ppf(level, k, n - k + 1)) if k > 0 else 0.0
    p_hi = float(stats.beta.ppf(1 - level, k + 1, n - k)) if k < n else 1.0
    ends = sorted((const + sign * p_lo, const + sign * p_hi))
    # "d > 0" is "p < const" (sign −1) or "p > const" (sign +1): its p-value under p = const
    p_value = float(stats.binom.cdf(k, n, const)) if sign < 0 else float(stats.binom.sf(k - 1, n, const))
    return {"mean": const + sign * k / n, "low": ends[0], "high": ends[1], "p": p_value, "n": n_seeds,
            "method": "exact binomial",
            "reason": f"zero spread over {n_seeds} seeds: exact binomial (Clopper–Pearson) interval of the pooled "
                      f"proportion, {k} of {n} inputs, at the look's level"}


def outcome(low: float, high: float, delta: float) -> str:
    """An interval's outcome: above 0 reproduced, below 0 contradicted, below Δ negligible, otherwise open."""
    if low > 0:
        return "reproduced"
    if high < 0:
        return "contradicted"
    if high < delta:
        return "negligible"
    return "open"


def margin(low: float, high: float, delta: float) -> float:
    """How far the interval lies from the boundary it must clear, in half-widths: for a decided interval, the
    distance past its boundary (reproduced: low − 0; contradicted: 0 − high; negligible: Δ − high); for an open one,
    the smallest shortfall (negative). 0.3 means one more draw could well decide differently; 2 means a clear case."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return float("nan")
    half = (high - low) / 2
    o = outcome(low, high, delta)
    dist = {"reproduced": low, "contradicted": -high, "negligible": delta - high}
    return (dist[o] if o in dist else max(dist.values())) / half


def judge_setting(d, delta: float, level: float) -> dict:
    """One setting: `d` a Series of per-seed differences (or a tuple of them, each of which must be reproduced). A
    Series may carry `attrs["pooled"]` (the counts behind a proportion, see `t_test`). Each part's own test is kept
    under "parts"."""
    parts = list(d) if isinstance(d, tuple) else [d]
    js = [t_test(x, level, getattr(x, "attrs", {}).get("pooled")) for x in parts]
    outs = [outcome(j["low"], j["high"], delta) for j in js]
    if all(o == "reproduced" for o in outs):
        out = "reproduced"
    elif "contradicted" in outs:
        out = "contradicted"
    elif "negligible" in outs:
        out = "negligible"
    else:
        out = "open"
    # the part that carries the outcome: the weakest (lowest interval) of a reproduced or open setting, the one
    # lying lowest of a contradicted or negligible one
    bound = "low" if out in ("reproduced", "open") else "high"
    i = min(range(len(js)), key=lambda k: js[k][bound])
    j = js[i]
    reasons = [x["reason"] for x in js if x["reason"]]
    return {"outcome": out, "mean": j["mean"], "low": j["low"], "high": j["high"], "n_seeds": min(x["n"] for x in js),
            "p": max(x["p"] for x in js), "margin": margin(j["low"], j["high"], delta),
            "smaller_than_delta": out == "reproduced" and j["high"] < delta, "part": i,
            "parts": [{"outcome": o, "mean": x["mean"], "low": x["low"], "high": x["high"], "n_seeds": x["n"],
                       "method": x["method"], "margin": margin(x["low"], x["high"], delta)} for o, x in zip(outs, js)],
            **({"reason": "; ".join(reasons)} if reasons else {})}


def holm(pvalues: dict, level: float) -> set:
    """Holm's step-down at `level`: the names whose hypothesis ("d ≤ 0") is rejected."""
    order = sorted(pvalues, key=pvalues.get)
    m, out = len(order), set()
    for i, name in enumerate(order):
        if pvalues[name] > level / (m - i):
            break
        out.add(name)
    return out


def combine(kind: str, settings: dict) -> str:
    """A row's outcome from its settings' (see the module docstring for each kind)."""
    outs = [s["outcome"] for s in settings.values()]
    if kind == "one" or len(outs) == 1:
        return outs[0]
    if kind == "some":
        if "reproduced" in outs:
            return "reproduced"
        if all(o == "contradicted" for o in outs):
            return "contradicted"
        return "negligible" if all(o in ("negligible", "contradicted") for o in outs) else "open"
    if "reproduced" in outs and any(o in ("contradicted", "negligible") for o in outs):
        return "mixed"
    if "open" in outs:
        return "open"
    if all(o == "reproduced" for o in outs):
        return "reproduced"
    if all(o == "contradicted" for o in outs):
        return "contradicted"
    return "negligible"


# ---- the differences d (each a function of the runs table and the notebook's context)


def _per_seed(df: pd.DataFrame, row: str, fraction: float, metric: str, col: str = "row") -> pd.Series:
    ok = df[(df["status"] == "ok") & (df[col] == row) & np.isclose(df["fraction"], fraction)]
    return ok.set_index("seed")[metric]


def gain_change(df, ctx) -> dict:
    """C1's d per setting (method, baseline), two parts that must both hold (kdlib 0.10): the relative gain over the
    baseline at the smallest α, and that gain minus the one at the largest α, each paired by seed (for a
    lower-is-better metric, perplexity, the gain's sign is flipped)."""
    kw = dict(metric=ctx.get("metric", "test_acc"), higher_is_better=ctx.get("higher_is_better", True),
              col=ctx.get("col", "row"))
    out = {}
    for name, (m, b) in ctx["settings"].items():
        small = seed_gains(df, m, ctx["lo"], b, **kw)
        out[name] = (small.dropna(), (small - seed_gains(df, m, ctx["hi"], b, **kw)).dropna())
    return out


def gain_change_needs(name, ctx) -> set:
    m, b = ctx["settings"][name]
    return {(r, f) for r in (m, b) for f in (ctx["lo"], ctx["hi"])}


def gain_minus(df, ctx) -> dict:
    """C2's and C3's d per control c: KD's relative gain over labels minus c's, at the smallest α."""
    col, at = ctx.get("col", "row"), ctx["lo"]
    kd = seed_gains(df, ctx.get("method", "kd"), at, ctx.get("baseline", "labels"), col=col)
    return {c: (kd - seed_gains(df, c, at, ctx.get("baseline", "labels"), col=col)).dropna() for c in ctx["settings"]}


def gain_minus_needs(name, ctx) -> set:
    return {(r, ctx["lo"]) for r in (ctx.get("method", "kd"), ctx.get("baseline", "labels"), name)}


def contrast(df, ctx) -> dict:
    """Linear contrasts of a metric, per setting: each setting a list of parts (one d each, all must hold), each part
    (constant, [(sign, row, fraction, metric), ...]); d = constant + Σ sign · metric(row, fraction), paired by seed."""
    out = {}
    for name, parts in ctx["settings"].items():
        ds = []
        for const, terms in parts:
            d = sum(sign * _per_seed(df, row, f, metric) for sign, row, f, metric in terms) + const
            ds.append(d.dropna())
        out[name] = tuple(ds) if len(ds) > 1 else ds[0]
    return out


def contrast_needs(name, ctx) -> set:
    return {(row, f) for _, terms in ctx["settings"][name] for _, row, f, _ in terms}


def shortfall(df, ctx) -> dict:
    """Per setting (constant, row, fraction, proportion metric, count column): d = constant − the proportion, per
    seed (Fidelity-1: 0.99 − train agreement). Each d carries the counts behind it, pooled over its seeds
    (`attrs["pooled"]`: k = Σ round(p · n), n = Σ n), for the exact test of a d with zero spread (`t_test`)."""
    out = {}
    for name, (const, row, f, metric, count) in ctx["settings"].items():
        ok = df[(df["status"] == "ok") & (df["row"] == row) & np.isclose(df["fraction"], f)].set_index("seed")
        p, n = ok[metric].astype(float), ok[count].astype(float)
        keep = p.notna() & n.notna()
        d = (const - p[keep]).rename(name)
        d.attrs["pooled"] = {"k": int(np.round(p[keep] * n[keep]).sum()), "n": int(n[keep].sum()), "const": const,
                             "sign": -1}
        out[name] = d
    return out


def shortfall_needs(name, ctx) -> set:
    _, row, f, _, _ = ctx["settings"][name]
    return {(row, f)}


def log_ratio(df, ctx) -> dict:
    """Per setting (numerator row, denominator row, fraction, metric): ln(metric of the first ÷ that of the second),
    paired by seed (C7-collapse: a ratio of NC1, which moves by orders of magnitude)."""
    return {name: np.log(_per_seed(df, num, f, metric) / _per_seed(df, den, f, metric)).dropna()
            for name, (num, den, f, metric) in ctx["settings"].items()}


def log_ratio_needs(name, ctx) -> set:
    num, den, f, _ = ctx["settings"][name]
    return {(num, f), (den, f)}


# ---- settings whose d is more than one line of a notebook (the d of these rows is written here, once)


def pitfall_settings(methods, lo: float, hi: float, reference: str = "vanilla KD") -> dict:
    """Pitfall's settings for `contrast` (Hao et al.'s statement): each loss refinement (DKD, DIST) beats vanilla KD at
    the smallest κ (`lo`), *and* that edge shrinks by `hi`: (edge at lo) − (edge at hi), both parts reproduced. `hi`
    is the largest κ of the strong-teacher regime (`strong_teacher_regime`): κ where the teacher is below label
    training are a regime Hao et al. do not study, reported beside the row and outside its verdict. Deep supervision
    (Hao et al.: it keeps helping as data grows): its accuracy minus vanilla KD's at `hi`."""
    term = lambda sign, m, f: (sign, m, f, "test_acc")
    out = {}
    for m in methods:
        if m in ("DKD", "DIST"):
            edge = [term(1, m, lo), term(-1, reference, lo)]
            out[m] = [(0.0, edge), (0.0, edge + [term(-1, m, hi), term(1, reference, hi)])]
    if "KD + deep supervision" in methods:
        out["KD + deep supervision"] = [(0.0, [term(1, "KD + deep supervision", hi), term(-1, reference, hi)])]
    return out


def strong_teacher_regime(teacher_val: dict, labels_val: dict) -> list:
    """The fractions (κ) at which the teacher is not below label training: its mean validation accuracy over the
    selection seeds at least the label-trained student's there (`teacher_val`, `labels_val`: fraction -> mean
    validation accuracy). Read on selection seeds only, so the regime is fixed before any test accuracy."""
    return sorted(f for f in labels_val if teacher_val[f] >= labels_val[f])


def fidelity2_settings(added_inputs, fractions, reference: str = "self-distillation") -> dict:
    """Fidelity-2's declared pairs (Stanton et al., section 5: more or augmented distillation data raises agreement,
    not always accuracy): per kind of added input a and α, the student on the subset plus a's inputs (A) against
    self-distillation on the subset alone (B), in that direction only: A's test agreement minus B's, and B's test
    accuracy minus A's, both reproduced. The ensemble student is not paired: there Stanton et al. find fidelity and
    accuracy rising together, which is not this claim."""
    return {f"α = {f:g}: + {a} inputs vs {reference}": [
        (0.0, [(1, f"+ {a} inputs", f, "test_agreement"), (-1, reference, f, "test_agreement")]),
        (0.0, [(1, reference, f, "test_acc"), (-1, f"+ {a} inputs", f, "test_acc")])]
        for a in added_inputs for f in fractions}


# ---- the rows


@dataclass(frozen=True)
class Claim:
    key: str
    title: str
    notebook: str
    kind: str  # one | every | some
    d: str  # the per-seed difference, in words (positive: the claim holds)
    delta: float  # the smallest effect of interest, in d's unit
    unit: str  # d's unit, for printing (scale 100 and this unit)
    delta_reason: str
    diff: Callable = field(repr=False, default=gain_change)
    needs: Callable = field(repr=False, default=gain_change_needs)
    cap: int = 16  # the last look, in seeds (every row of kdlib 0.10: CAP)
    parts: tuple = ()  # the names of d's parts, where a setting's d has several (each must be reproduced)
    note: str = ""  # what a reader must know to read the row (how our setting differs from the paper's)

    def looks(self, first: int, looks=LOOKS, explicit: bool = False) -> tuple:
        return (first,) if explicit else looks_for(first, self.cap, looks)


# Δ, fixed before the runs of kdlib 0.7 from the paper's and the summary's numbers (CLAIMS.md), not from ours:
GAIN_DELTA = 0.05
GAIN_REASON = ("5 points of relative gain: about half the summary's C1 effect (≈10% gain at 2% data against ≈1% at full "
               "data: 9 points), 6% of the authors' CIFAR-100 figure's (81% against 4%)")
ACC_DELTA = 0.01
ACC_REASON = "1 point of test accuracy: a practical threshold (smaller differences are not worth a method change)"
AGREE_DELTA = 0.005
AGREE_REASON = ("half a point of agreement: a practical threshold (Stanton et al. report differences of several "
                "points)")
# C7 (kdlib 0.8): no number is known for CKA or neural collapse in this setting (CLAIMS.md), so both Δ are conventions,
# fixed before notebook 10's first run
CKA_DELTA = 0.02
CKA_REASON = ("2 points of linear CKA (0–1 scale): a convention, since no number is known for this setting; twice the "
              "1-point threshold this scoreboard uses for accuracy")
NC1_DELTA = math.log(1.25)
NC1_REASON = ("a ratio of 1.25 (ln 1.25 = 0.22): NC1 moves by orders of magnitude as a network collapses (Papyan et al., "
              "2020, plot it on a log axis), so a smaller ratio does not make one student more collapsed than another; "
              "a convention, since no number is known for this setting")
# Every row stops at 8 seeds (looks at 4 and 8): the confirmatory series of kdlib 0.10 (a teacher per seed, choices on
# selection seeds, two-part d) must cost at most 1.5× the worker-seconds of kdlib 0.8's series (issue 33), and a
# teacher per seed already took 1.39× of it on the machine that ran it (benchmarks/BENCHMARKS.md): 16 seeds for any row
# would not fit. Rows still open at 8 seeds are reported open.
CAP = 8
GAIN_PARTS = ("gain at the smallest α", "that gain minus the gain at α = 1")

# Declared before the confirmatory series of kdlib 0.10 (issue 33), together with the evaluation seeds it runs on
# (kdlib.profiles: SEEDS, never used by an earlier series) and the selection rule (kdlib.notebook: every choice on
# the mean validation metric over the selection seeds). The scoreboard records the commit that last changed this file
# and kdlib/profiles.py (`scoreboard.declaration`).
CLAIMS = {c.key: c for c in [
    Claim("C1", "data efficiency of distillation", "01_data_efficiency.ipynb", "one",
          "two parts, both must hold: KD's relative gain over labels at the smallest α; and that gain minus KD's gain "
          "at α = 1 (τ chosen per α on the selection seeds' validation accuracy)",
          GAIN_DELTA, "%", GAIN_REASON, cap=CAP, parts=GAIN_PARTS),
    Claim("C6-ViT", "data efficiency of distillation for a ViT student", "01_data_efficiency.ipynb", "one",
          "C1's two parts for a ViT student: KD's relative gain over labels at the smallest α; and that gain minus "
          "KD's gain at α = 1 (τ chosen per α on the selection seeds' validation accuracy)",
          GAIN_DELTA, "%", GAIN_REASON, cap=CAP, parts=GAIN_PARTS),
    Claim("C2", "KD is not label smoothing", "02_label_smoothing.ipynb", "every",
          "per smoothing control c (tuned LS, class-agnostic smoothed teacher, matched smoothing): KD's relative gain "
          "over labels minus c's, at the smallest α", GAIN_DELTA, "%", GAIN_REASON, gain_minus, gain_minus_needs,
          cap=CAP),
    Claim("C3", "the gain is dark knowledge", "03_dark_knowledge.ipynb", "every",
          "per control, KD's relative gain over labels minus the control's, at the smallest α. The main control is "
          "matched smoothing (the teacher's true-class probability kept, the rest spread evenly over the wrong "
          "classes: the teacher's confidence without its wrong-class structure); the second is permuted dark "
          "knowledge (true-class probability and entropy kept, wrong classes shuffled per input), which can hurt on "
          "its own", GAIN_DELTA, "%", GAIN_REASON, gain_minus, gain_minus_needs, cap=CAP),
    Claim("C4", "temperature depends on the data regime", "04_temperature.ipynb", "one",
          "the best τ depends on the data regime: the τ chosen for the smallest α and the one chosen for α = 1 each do "
          "better at their own end. d: test accuracy of the small-α τ minus that of the full-data τ at the smallest "
          "α, minus the same difference at α = 1 (each end's τ: the best mean validation accuracy over the selection "
          "seeds, which never evaluate; d on the evaluation seeds only; one τ chosen at both ends: contradicted)",
          ACC_DELTA, " points", ACC_REASON, contrast, contrast_needs, cap=CAP),
    Claim("C5-lambda", "data efficiency across λ", "05_objective_and_scale.ipynb", "every",
          "per λ > 0, C1's two parts: the relative gain over labels at the smallest α; and that gain minus the gain "
          "at the largest α", GAIN_DELTA, "%", GAIN_REASON, cap=CAP, parts=GAIN_PARTS),
    Claim("C5-objective", "data efficiency across objectives", "05_objective_and_scale.ipynb", "every",
          "per objective, C1's two parts (gain at the smallest α; that gain minus the gain at the largest α)",
          GAIN_DELTA, "%", GAIN_REASON, cap=CAP, parts=GAIN_PARTS),
    Claim("C5-scale", "data efficiency across teacher and student sizes", "05_objective_and_scale.ipynb", "every",
          "per teacher→student pair, C1's two parts against labels of the student's architecture (gain at the "
          "smallest α; that gain minus the gain at the largest α)", GAIN_DELTA, "%", GAIN_REASON, cap=CAP,
          parts=GAIN_PARTS),
    Claim("C5-samples", "data efficiency from 2% to 200% of the teacher's samples", "05_objective_and_scale.ipynb",
          "every", "per teacher (on N, on less data), C1's two parts across shares of the pool (gain at the smallest "
          "share; that gain minus the gain at the largest)", GAIN_DELTA, "%", GAIN_REASON, cap=CAP, parts=GAIN_PARTS),
    Claim("Fidelity-1", "students miss the teacher even on training inputs", "06_fidelity.ipynb", "one",
          "0.99 minus the self-distilled student's train agreement with its teacher at α = 1, per seed; a d with zero "
          "spread over the seeds is judged by the exact binomial interval of the agreement pooled over the seeds' "
          "training inputs", AGREE_DELTA, " points", AGREE_REASON, shortfall, shortfall_needs, cap=CAP,
          note="Our setting is not Stanton et al.'s: no data augmentation, and students that can memorise their "
               "training inputs (MNIST-1D, 4,000 of them at α = 1); Stanton et al. distil with augmentation on "
               "CIFAR-100, where the student never sees the same input twice. A contradiction here says a student "
               "matches its teacher on inputs it memorised, not that Stanton et al.'s gap is absent"),
    Claim("Fidelity-2", "higher agreement does not always mean higher accuracy", "06_fidelity.ipynb", "some",
          "per declared pair (kdlib.claims.fidelity2_settings; Stanton et al.: more distillation data raises "
          "agreement, not always accuracy): per kind of added input and α, the test agreement of the student given "
          "those inputs minus self-distillation's, and self-distillation's test accuracy minus its (both must "
          "hold); Holm over these pairs alone", AGREE_DELTA, " points", AGREE_REASON, contrast, contrast_needs,
          cap=CAP, parts=("agreement higher", "accuracy lower")),
    Claim("Fidelity-3", "more distillation data raises agreement", "06_fidelity.ipynb", "every",
          "per kind of added input and α: test agreement minus self-distillation's", AGREE_DELTA, " points",
          AGREE_REASON, contrast, contrast_needs, cap=CAP),
    Claim("Pitfall", "KD variants lose their edge as data grows", "07_small_data_pitfall.ipynb", "every",
          "per loss refinement (DKD, DIST), two parts: its test accuracy minus vanilla KD's at the smallest κ; and that "
          "edge minus the same edge at the largest κ where the teacher is not below label training (mean validation "
          "accuracy over the selection seeds; larger κ are reported beside the row, outside its verdict). Deep "
          "supervision: its accuracy minus vanilla KD's at that κ (kdlib.claims.pitfall_settings)",
          ACC_DELTA, " points", ACC_REASON, contrast, contrast_needs, cap=CAP,
          parts=("edge at the smallest κ", "that edge minus the edge at the largest strong-teacher κ")),
    Claim("C6-LM", "data efficiency of distillation for language models", "08_language.ipynb", "one",
          "C1's two parts in test perplexity: KD's relative gain over labels at the smallest α; and that gain minus "
          "the gain at α = 1", GAIN_DELTA, "%", GAIN_REASON, cap=CAP, parts=GAIN_PARTS),
    Claim("C7-alignment", "distillation aligns the student's features with the teacher's, most at small α",
          "10_features.ipynb", "every",
          "per student architecture: the student–teacher linear CKA of penultimate features on the test inputs, KD "
          "minus labels at the smallest α; and that difference at the smallest α minus the same at α = 1 (both must "
          "hold)", CKA_DELTA, " points", CKA_REASON, contrast, contrast_needs, cap=CAP,
          parts=("KD minus labels at the smallest α", "that minus the same at α = 1")),
    Claim("C7-collapse", "label training collapses a small-data student's features more than distillation",
          "10_features.ipynb", "every",
          "per student architecture: ln(NC1 of the KD student ÷ NC1 of the label-trained student), each on its own "
          "training subset, at the smallest α", NC1_DELTA, "", NC1_REASON, log_ratio, log_ratio_needs, cap=CAP),
]}


def scale_of(unit: str) -> float:
    """What d is multiplied by for printing: 100 for percentages and points, 1 otherwise."""
    return 100 if unit in ("%", " points") else 1


def claim_for(row: str) -> Claim:
    """The declaration behind a scoreboard row: "C2 (τ = 4)" is C2's, "C6-ViT from vit-small" C6-ViT's, a C1 with
    another pair C1's."""
    key = "C6-ViT" if row.startswith("C6-ViT") else row if row in CLAIMS else row.split(" ")[0]
    if key in CLAIMS:
        return CLAIMS[key]
    raise KeyError(f"claim {row!r} is not declared in kdlib.claims; known: {', '.join(CLAIMS)}")


# ---- judging, with seeds added where a row is open


def judge(claim: Claim, diffs: dict, level: float, frozen=None) -> tuple[str, dict]:
    """One look: each setting judged, the row combined (Holm for a 'some' row, over these settings and the `frozen`
    ones decided at earlier looks, so the family never shrinks). Returns (outcome, settings)."""
    settings = {name: judge_setting(d, claim.delta, level) for name, d in diffs.items()}
    if claim.kind == "some":
        family = {n: s["p"] for n, s in (frozen or {}).items()}
        kept = holm({**family, **{n: s["p"] for n, s in settings.items()}}, level)
        for n, s in settings.items():
            if s["outcome"] == "reproduced" and n not in kept:
                s["outcome"] = "open"  # its own interval clears 0, but not at Holm's level for its rank
    return combine(claim.kind, settings), settings


def decide(claim: Claim, ctx: dict, spec_for: Callable, sweep: Callable, seeds: list, looks: tuple,
           log=print) -> tuple[pd.DataFrame, dict]:
    """Run and judge a row look by look. `spec_for(seeds)`: the notebook's (row name, config) pairs for those seeds;
    `sweep(spec)`: runs what is missing, returns the table (with `row`, `fraction`, `seed`, `status` columns).
    At each later look, only the runs that open settings read (claim.needs) get the new seeds. Returns the table of
    every run made and the judgement (see `judgement`)."""
    level = pocock(tuple(looks))
    decided, history, df = {}, [], None
    for k, n in enumerate(looks):
        use = list(seeds[:n])
        spec = spec_for(use)
        if k > 0:  # what ran at the last look, and the runs open settings read at the new seeds
            wanted = set().union(*(claim.needs(s, ctx) for s in last if s not in decided))
            spec = [(r, c) for r, c in spec if (r, c.seed, round(c.fraction, 9)) in ran or any(
                r == w_r and (w_f is None or math.isclose(c.fraction, w_f)) for w_r, w_f in wanted)]
        ran = {(r, c.seed, round(c.fraction, 9)) for r, c in spec}
        df = sweep(spec)
        diffs = claim.diff(df[df["seed"].isin(use)], ctx)
        _, now = judge(claim, {s: d for s, d in diffs.items() if s not in decided}, level, decided)
        for s, j in now.items():
            j["look"] = k + 1
            if j["outcome"] != "open" or k == len(looks) - 1:
                decided[s] = j
        last = {**now, **{s: j for s, j in decided.items()}}
        outcome_now = combine(claim.kind, last) if claim.kind != "some" else (
            "reproduced" if any(j["outcome"] == "reproduced" for j in last.values()) else combine("some", last))
        history.append({"seeds": n, "outcome": outcome_now,
                        "open": sorted(str(s) for s, j in last.items() if j["outcome"] == "open")})
        log(f"[{claim.key}] look {k + 1} at {n} seeds (level {level:.4f} per side): {outcome_now}"
            + (f"; open: {', '.join(history[-1]['open'])}" if history[-1]["open"] else ""))
        if all(j["outcome"] != "open" for j in last.values()) or (claim.kind == "some" and outcome_now == "reproduced"):
            break
    return df, judgement(claim, last, level, looks, history)


def judgement(claim: Claim, settings: dict, level: float, looks, history=()) -> dict:
    """The row's judgement, as the scoreboard keeps it: outcome, its settings (each with mean, interval, seeds,
    margin, the look that decided it), the counts per outcome, the seeds used, the closest margin, Δ and the level."""
    out = combine(claim.kind, settings) if claim.kind != "some" else (
        "reproduced" if any(s["outcome"] == "reproduced" for s in settings.values()) else combine("some", settings))
    counts = {o: sum(s["outcome"] == o for s in settings.values()) for o in OUTCOMES}
    j = {"verdict": out, "settings": {str(k): v for k, v in settings.items()},
         "counts": {o: c for o, c in counts.items() if c}, "n_seeds": max(s["n_seeds"] for s in settings.values()),
         "min_seeds": min(s["n_seeds"] for s in settings.values()), "level": level, "looks": list(looks),
         "delta": claim.delta, "kind": claim.kind, "history": list(history)}
    margins = [s["margin"] for s in settings.values() if math.isfinite(s["margin"])]
    j["margin"] = min(margins) if margins else float("nan")
    if len(settings) == 1:
        (s,) = settings.values()
        j.update(mean=s["mean"], low=s["low"], high=s["high"], smaller_than_delta=s["smaller_than_delta"])
    return j


def fixed(claim: Claim, verdict: str, n_seeds: int, reason: str) -> dict:
    """A judgement with no interval (C4 when one τ is best at both ends): its outcome and why."""
    s = {"outcome": verdict, "mean": float("nan"), "low": -math.inf, "high": math.inf, "n_seeds": n_seeds, "p": 1.0,
         "margin": float("nan"), "smaller_than_delta": False, "look": 1, "reason": reason}
    return judgement(claim, {"all": s}, pocock((n_seeds,)), (n_seeds,))


def show(j: dict, scale: float = 100, unit: str = "%") -> str:
    """'reproduced: d 12.4% [8.1%, 16.7%] at 8 seeds, margin 1.3 half-widths (Δ 5%)' for printing."""
    f = lambda x: (f"{scale * x:.3g}{unit}" if math.isfinite(x) else ("−∞" if x < 0 else "∞"))
    out = j["verdict"]
    if "low" in j:
        out += f": d {f(j['mean'])} [{f(j['low'])}, {f(j['high'])}]" + (
            " (smaller than Δ)" if j.get("smaller_than_delta") else "")
    else:
        out += ": " + ", ".join(f"{c} {o}" for o, c in j["counts"].items()) + " setting(s)"
    seeds = (f"{j['n_seeds']}" if j["min_seeds"] == j["n_seeds"] else f"{j['min_seeds']}–{j['n_seeds']}")
    return out + f" at {seeds} seeds, margin {j['margin']:.2f} half-widths (Δ {f(j['delta'])})"


def rule_text(looks=LOOKS, alpha: float = ALPHA) -> str:
    """The rule in a paragraph, with the levels of the schedules in use."""
    caps = sorted({c.cap for c in CLAIMS.values()})
    lv = "; ".join(f"looks {', '.join(map(str, looks_for(looks[0], cap, looks)))}: "
                   f"{100 * pocock(looks_for(looks[0], cap, looks), alpha):.2f}% per look and side "
                   f"({100 * (1 - 2 * pocock(looks_for(looks[0], cap, looks), alpha)):.1f}% two-sided interval)"
                   for cap in caps)
    return (f"per seed, the difference d the claim is about (positive: the claim holds); the Student-t interval of its "
            f"mean at the look's level: **reproduced** if it lies above 0 (marked *smaller than Δ* if also below Δ), "
            f"**contradicted** if below 0, **negligible** if below the row's smallest effect of interest Δ, **open** "
            f"otherwise. Seeds are added where a setting is open, by looks at {', '.join(map(str, looks))} seeds "
            f"(a row's cap may stop earlier), each look at Pocock's level so that the whole schedule crosses each bound "
            f"by chance with probability at most {100 * alpha:g}% ({lv}). Factor rows: every setting must hold "
            f"(no correction; *mixed* when some are reproduced and others contradicted or negligible), or some setting "
            f"suffices (Holm over the settings)")


# ---- the rule's error rates, by simulation


def simulate(effect: float, delta: float, looks=LOOKS, draws: int = 10_000, dist: str = "normal", df: int = 3,
             seed: int = 0, alpha: float = ALPHA) -> dict:
    """The rule through its whole schedule on `draws` simulated rows of one setting: per-seed d = effect + noise of
    standard deviation 1 (`dist` "normal", or "t": Student-t with `df` degrees of freedom scaled to variance 1, heavy
    tailed). Returns the share of each outcome and the mean number of seeds used."""
    rng = np.random.default_rng(seed)
    n_max = looks[-1]
    if dist == "normal":
        noise = rng.standard_normal((draws, n_max))
    elif dist == "t":
        noise = rng.standard_t(df, (draws, n_max)) / math.sqrt(df / (df - 2))
    else:
        raise ValueError(f"dist={dist!r}: allowed: normal, t")
    x = effect + noise
    level = pocock(tuple(looks), alpha)
    out = np.full(draws, "open", dtype=object)
    used = np.full(draws, n_max)
    live = np.ones(draws, bool)
    for n in looks:
        m, s = x[:, :n].mean(1), x[:, :n].std(1, ddof=1)
        half = stats.t.isf(level, n - 1) * s / math.sqrt(n)
        lo, hi = m - half, m + half
        now = np.where(lo > 0, "reproduced", np.where(hi < 0, "contradicted", np.where(hi < delta, "negligible", "open")))
        stop = live & (now != "open")
        out[stop], used[stop] = now[stop], n
        live &= ~stop
    rates = {o: float((out == o).mean()) for o in ("reproduced", "contradicted", "negligible", "open")}
    return {**rates, "mean_seeds": float(used.mean()), "draws": draws, "effect": effect, "delta": delta,
            "looks": list(looks), "dist": dist}


def operating_characteristics(delta: float = 0.5, effects=(0.0, 0.5, 1.0, 2.0), looks=LOOKS, draws: int = 10_000):
    """A table of `simulate` for d of standard deviation 1 and Δ = `delta` (in standard deviations of d), normal
    noise: what the README reports next to the rule."""
    rows = []
    for cap_looks in sorted({looks_for(looks[0], c.cap, looks) for c in CLAIMS.values()}, key=len):
        for e in effects:
            r = simulate(e, delta, cap_looks, draws)
            rows.append({"looks": ", ".join(map(str, cap_looks)), "effect": e, **{k: r[k] for k in (
                "reproduced", "contradicted", "negligible", "open", "mean_seeds")}})
    return pd.DataFrame(rows)
