"""From a sweep's table to the numbers a claim is judged by: means over seeds, gains, efficiency factors."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95  # the level of the intervals shown (the scoreboard's rule and levels: kdlib.claims)


def summarize(df: pd.DataFrame, metric: str = "test_acc", by=("method", "fraction")) -> pd.DataFrame:
    """Mean, std and count of `metric` over seeds for each group (finished runs only)."""
    ok = df[df["status"] == "ok"]
    return ok.groupby(list(by))[metric].agg(["mean", "std", "count"]).reset_index()


def relative_gain(df: pd.DataFrame, method: str, baseline: str = "labels", metric: str = "test_acc",
                  higher_is_better: bool = True, col: str = "method") -> pd.DataFrame:
    """Per fraction: (method - baseline) / baseline, paired by seed, then mean and std over seeds.

    For a metric where lower is better (perplexity), the sign is flipped so a positive gain is an improvement.
    `col` names the column that tells methods apart ("variant" separates the KD controls).
    """
    ok = df[df["status"] == "ok"]
    a = ok[ok[col] == method].set_index(["fraction", "seed"])[metric]
    b = ok[ok[col] == baseline].set_index(["fraction", "seed"])[metric]
    gain = ((a - b) / b).dropna()
    if not higher_is_better:
        gain = -gain
    out = gain.groupby(level="fraction").agg(["mean", "std", "count"]).reset_index()
    out.columns = ["fraction", "gain_mean", "gain_std", "n_seeds"]
    return out


def efficiency_factor(fractions, baseline_acc, method_fractions, method_acc) -> np.ndarray:
    """For each method point, alpha_needed / alpha: the fraction label training needs to reach the same
    accuracy, found by linear interpolation of the baseline's mean accuracy against log(alpha).

    The baseline curve is made monotone (running maximum) before inverting it. A point outside the
    baseline's measured accuracy range gets NaN: above it, label training never gets there on the grid;
    below it, the answer lies under the smallest fraction. No number is invented outside the measurements.
    """
    order = np.argsort(fractions)
    f = np.asarray(fractions, float)[order]
    acc = np.maximum.accumulate(np.asarray(baseline_acc, float)[order])
    out = []
    for alpha, target in zip(method_fractions, method_acc):
        if target > acc[-1] or target < acc[0]:
            out.append(np.nan)
            continue
        # first segment whose end reaches the target; flat segments resolve to their left end
        j = int(np.searchsorted(acc, target, side="left"))
        if j == 0:
            needed = f[0]
        else:
            lo, hi = acc[j - 1], acc[j]
            t = 0.0 if hi == lo else (target - lo) / (hi - lo)
            needed = float(np.exp(np.log(f[j - 1]) + t * (np.log(f[j]) - np.log(f[j - 1]))))
        out.append(needed / alpha)
    return np.asarray(out)


def efficiency_interval(df: pd.DataFrame, method: str, baseline: str = "labels", col: str = "method",
                        metric: str = "test_acc", n_boot: int = 1000, level: float = LEVEL,
                        seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """The efficiency factor of `method` against `baseline` with its interval over seeds.

    Per α: the factor of the two mean curves (`efficiency_factor`) and a percentile interval from a paired bootstrap
    over seeds (seeds drawn with replacement, the same draw for both curves, `n_boot` draws from a generator seeded
    with `seed`, so the interval is the same on every rerun). A draw whose point falls outside the baseline's measured
    range is undefined there and left out; `defined` is the share of draws that were defined. Also the summary, the
    median factor over α (of the defined points), with its interval. Only seeds present for both, at every α, count.
    """
    ok = df[(df["status"] == "ok") & df[col].isin([method, baseline])]
    acc = ok.pivot_table(index=[col, "seed"], columns="fraction", values=metric)
    seeds = sorted(set(acc.loc[method].dropna().index) & set(acc.loc[baseline].dropna().index))
    fr = np.asarray(acc.columns, float)
    a, b = acc.loc[method].loc[seeds].to_numpy(float), acc.loc[baseline].loc[seeds].to_numpy(float)
    point = efficiency_factor(fr, b.mean(0), fr, a.mean(0))
    rng = np.random.default_rng(seed)
    draws = np.array([efficiency_factor(fr, b[i].mean(0), fr, a[i].mean(0))
                      for i in rng.integers(0, len(seeds), size=(n_boot, len(seeds)))])
    q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)
    with warnings.catch_warnings():  # a point undefined in every draw gives NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(draws, q, axis=0)
        medians = np.array([np.median(r[np.isfinite(r)]) if np.isfinite(r).any() else np.nan for r in draws])
        m_lo, m_hi = np.nanpercentile(medians, q)
    table = pd.DataFrame({"fraction": fr, "factor": point, "low": lo, "high": hi,
                          "defined": np.isfinite(draws).mean(0)})
    finite = point[np.isfinite(point)]
    summary = {"median": float(np.median(finite)) if len(finite) else float("nan"), "low": float(m_lo),
               "high": float(m_hi), "n_seeds": len(seeds), "level": level, "n_boot": n_boot}
    return table, summary


def seed_gains(df: pd.DataFrame, method: str, fraction: float, baseline: str = "labels", metric: str = "test_acc",
               higher_is_better: bool = True, col: str = "method") -> pd.Series:
    """Relative gain of `method` over `baseline` at one fraction, per seed (paired by seed)."""
    ok = df[(df["status"] == "ok") & (df["fraction"] == fraction)]
    a = ok[ok[col] == method].set_index("seed")[metric]
    b = ok[ok[col] == baseline].set_index("seed")[metric]
    g = ((a - b) / b).dropna()
    return g if higher_is_better else -g


# ---- the decision rule of every verdict


def interval(d, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): the mean of the per-seed values d and its two-sided Student-t confidence interval at
    `level`. Fewer than two values bound nothing: (mean, -inf, inf)."""
    x = np.asarray(pd.Series(d, dtype=float).dropna(), float)
    if len(x) == 0:
        return float("nan"), -math.inf, math.inf
    mean = float(x.mean())
    if len(x) < 2:
        return mean, -math.inf, math.inf
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1)) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return mean, mean - half, mean + half


def decide(low: float, high: float) -> str:
    """An interval's verdict: above 0 reproduced, below 0 not reproduced, containing 0 inconclusive."""
    if low > 0:
        return "reproduced"
    if high < 0:
        return "not reproduced"
    return "inconclusive"


def judge(d, level: float = LEVEL) -> dict:
    """The reading of per-seed differences d (positive: the gain is real) by their two-sided t-interval at `level`:
    its verdict (`decide`), mean, bounds and seed count. The scoreboard's rows use kdlib.claims instead."""
    d = pd.Series(d, dtype=float).dropna().sort_index()
    mean, low, high = interval(d, level)
    return {"verdict": decide(low, high), "mean": mean, "low": low, "high": high, "n_seeds": int(len(d)),
            "level": level}


def gain_intervals(df: pd.DataFrame, method: str, baseline: str = "labels", col: str = "method",
                   metric: str = "test_acc", higher_is_better: bool = True, level: float = LEVEL) -> pd.DataFrame:
    """Per fraction: `method`'s relative gain over `baseline` (paired by seed), its mean and t-interval over seeds."""
    fractions = sorted(df.loc[(df["status"] == "ok") & (df[col] == method), "fraction"].unique())
    rows = []
    for f in fractions:
        g = seed_gains(df, method, f, baseline, metric, higher_is_better, col)
        mean, low, high = interval(g, level)
        rows.append({"fraction": f, "mean": mean, "low": low, "high": high, "n_seeds": len(g)})
    return pd.DataFrame(rows)


def choice_table(df: pd.DataFrame, order, col: str = "row", by=("fraction",), metric: str = "val_acc",
                 higher_is_better: bool = True) -> pd.DataFrame:
    """The selection rule, with its margin: for each group of `by`, the value of `col` among `order` with the best
    mean validation `metric` over the runs given (the selection seeds' runs; never the test set), a tie going to the
    one earlier in `order`; and the runner-up. Columns: `by`, chosen, score, runner_up, runner_up_score, gap (how
    far the choice is ahead, >= 0), seeds (the seeds the means are over)."""
    by = [by] if isinstance(by, str) else list(by)
    ok = df[(df["status"] == "ok") & df[col].isin(list(order))]
    scores = ok.groupby(by + [col])[metric].mean()
    rank = {name: i for i, name in enumerate(order)}
    sign = 1 if higher_is_better else -1
    rows = []
    for group, g in ok.groupby(by, sort=True):
        group = group if isinstance(group, tuple) else (group,)
        ranked = sorted(g[col].unique(), key=lambda name: (-sign * scores[(*group, name)], rank[name]))
        best, second = ranked[0], (ranked[1] if len(ranked) > 1 else None)
        score = float(scores[(*group, best)])
        other = float(scores[(*group, second)]) if second is not None else float("nan")
        rows.append({**dict(zip(by, group)), "chosen": best, "score": score, "runner_up": second,
                     "runner_up_score": other, "gap": sign * (score - other),
                     "seeds": sorted(int(x) for x in g.loc[g[col] == best, "seed"].unique()) if "seed" in g else []})
    return pd.DataFrame(rows)


def choose(df: pd.DataFrame, order, col: str = "row", by: str = "fraction", metric: str = "val_acc",
           higher_is_better: bool = True) -> dict:
    """For each value of `by`: the value of `col` among `order` with the best mean validation `metric` over the
    runs given (never the test set); a tie goes to the one earlier in `order` (`choice_table`)."""
    table = choice_table(df, order, col, (by,), metric, higher_is_better)
    return dict(zip(table[by], table["chosen"]))


def teacher_table(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """The teachers behind a table of runs, one row per kind (architecture, share of the data, ensemble size): how
    many seeds' teachers the runs used, and their test `metric` (default: test_acc, or test_ppl for a language
    model) as mean and sd over those teachers. Each teacher counts once, however many runs distilled from it."""
    if metric is None:
        metric = "test_ppl" if "teacher_test_ppl" in df else "test_acc"
    col = f"teacher_{metric}"
    kind = [c for c in ("teacher", "teacher_fraction", "teacher_members") if c in df]
    ok = df[(df["status"] == "ok") & df["teacher"].notna()] if "teacher" in df else df.iloc[:0]
    if col not in ok or ok.empty:
        return pd.DataFrame(columns=[*kind, "seeds", "mean", "sd"])
    one = ok.drop_duplicates(kind + ["teacher_seed"])
    out = one.groupby(kind, dropna=False)[col].agg(seeds="count", mean="mean", sd="std").reset_index()
    return out.assign(metric=metric)


def show(j: dict, digits: int = 3, scale: float = 1.0, unit: str = "") -> str:
    """'reproduced, mean 0.12 [0.05, 0.19] (95%)' for printing."""
    f = lambda x: f"{scale * x:.{digits}g}{unit}" if math.isfinite(x) else ("−∞" if x < 0 else "∞")
    return f"{j['verdict']}, mean {f(j['mean'])} [{f(j['low'])}, {f(j['high'])}] ({100 * j['level']:.0f}%)"


def gains(df: pd.DataFrame, names, baseline: str = "labels", col: str = "variant", metric: str = "test_acc",
          higher_is_better: bool = True) -> dict:
    """name -> relative_gain(df, name, baseline) for each name (a value of `col`), paired by seed."""
    return {n: relative_gain(df, n, baseline, metric, higher_is_better, col) for n in names}


def verdict_growing_gain(gain: pd.DataFrame, df: pd.DataFrame, method: str, baseline: str = "labels",
                         metric: str = "test_acc", higher_is_better: bool = True, col: str = "method") -> dict:
    """C1's criterion: the relative gain at the smallest fraction exceeds the gain at the largest.

    d = gain(smallest) - gain(largest), paired by seed, judged by `judge` (its interval and halves are returned
    with the gains).
    """
    lo, hi = gain["fraction"].min(), gain["fraction"].max()
    kw = dict(baseline=baseline, metric=metric, higher_is_better=higher_is_better, col=col)
    d = (seed_gains(df, method, lo, **kw) - seed_gains(df, method, hi, **kw)).dropna()
    g_lo = gain.loc[gain["fraction"] == lo].iloc[0]
    g_hi = gain.loc[gain["fraction"] == hi].iloc[0]
    return {
        **judge(d),
        "criterion": (f"d = relative gain of {method} over {baseline} at alpha={lo:g} minus that at alpha={hi:g}"),
        "gain_smallest": float(g_lo["gain_mean"]), "gain_smallest_std": float(g_lo["gain_std"]),
        "gain_largest": float(g_hi["gain_mean"]), "gain_largest_std": float(g_hi["gain_std"]),
        "difference_mean": float(d.mean()), "difference_std": float(d.std()) if len(d) > 1 else float("nan"),
        "n_seeds": int(len(d)), "alpha_smallest": float(lo), "alpha_largest": float(hi),
    }


def select_on_validation(df: pd.DataFrame, param: str, by=("method", "fraction"),
                         metric: str = "val_acc", higher_is_better: bool = True) -> pd.DataFrame:
    """For each group, the value of `param` with the best mean validation `metric` over the runs given (never the
    test set): the highest, or the lowest when `higher_is_better` is False (perplexity). Ties go to the smaller value.

    Returns one row per group with the chosen value, its validation score (`best_<metric>`), the runner-up's and the
    seeds the means are over (`choice_table`).
    """
    values = sorted(df.loc[df["status"] == "ok", param].dropna().unique())
    table = choice_table(df, values, param, by, metric, higher_is_better)
    return table.rename(columns={"chosen": param, "score": f"best_{metric}"})


def mean_std(summary: pd.DataFrame, columns: str = "method", order=None, digits: int = 3) -> pd.DataFrame:
    """A `summarize` table as 'mean ± std' strings, α down the side and `columns` across (in `order` if given)."""
    shown = summary.assign(acc=[f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in zip(summary["mean"],
                                                                                    summary["std"].fillna(0))])
    table = shown.pivot(index="fraction", columns=columns, values="acc")
    return table[list(order)] if order is not None else table


def gain_table(gains_by_name: dict, fractions) -> pd.DataFrame:
    """Relative gains as 'mean% ± std%' strings, α down the side, one column per name (gains: name -> relative_gain)."""
    return pd.DataFrame({v: [f"{100 * m:.1f}% ± {100 * s:.1f}%" for m, s in zip(g["gain_mean"], g["gain_std"].fillna(0))]
                         for v, g in gains_by_name.items()}, index=pd.Index(fractions, name="α"))


def seed_pairs(df: pd.DataFrame, method: str, baseline: str, col: str = "row") -> pd.DataFrame:
    """The finished runs of `method` and `baseline` side by side, paired by (fraction, seed): one row per pair, each
    metric of `method` as `<metric>` and of `baseline` as `<metric>_base` (C7's per-seed scatter)."""
    ok = df[df["status"] == "ok"]
    a = ok[ok[col] == method].set_index(["fraction", "seed"])
    b = ok[ok[col] == baseline].set_index(["fraction", "seed"])
    return a.join(b, rsuffix="_base", how="inner").reset_index()


def authors_comparison(df: pd.DataFrame, method: str, efficiency: pd.DataFrame, authors: dict,
                       baseline: str = "labels", col: str = "row", read_off: float = 0.01) -> pd.DataFrame:
    """Our points beside the authors', each of their κ matched to our nearest α (on a log scale), in the units that
    survive a change of dataset: KD − labels in accuracy points (ours: mean and 95% t-interval over paired seeds;
    theirs: read off their figure, each value about ± `read_off`, so the difference ± 2 · read_off) and the efficiency
    factor at that α (ours: `efficiency_interval`'s point and bootstrap interval; theirs: the factor of their curves
    and its range when each read-off value moves by `read_off` against the other). No median over α: theirs and ours
    are over different points. Returns one row per κ of theirs."""
    ok = df[df["status"] == "ok"]
    ours = sorted(set(ok["fraction"]))
    k = np.asarray(authors["kappa"], float)
    lab, kd = np.asarray(authors["labels"], float), np.asarray(authors["kd"], float)
    theirs = efficiency_factor(k, lab, k, kd)
    # the read-off range: KD lower and labels higher (least favourable) against KD higher and labels lower
    low = efficiency_factor(k, lab + read_off, k, kd - read_off)
    high = efficiency_factor(k, lab - read_off, k, kd + read_off)
    eff = efficiency.set_index("fraction")
    rows = []
    for i, kappa in enumerate(k):
        alpha = min(ours, key=lambda a: abs(np.log(a) - np.log(kappa)))
        a = ok[(ok[col] == method) & np.isclose(ok["fraction"], alpha)].set_index("seed")["test_acc"]
        b = ok[(ok[col] == baseline) & np.isclose(ok["fraction"], alpha)].set_index("seed")["test_acc"]
        mean, lo_, hi_ = interval((a - b).dropna())
        rows.append({"kappa": kappa, "alpha": alpha, "ours_points": 100 * mean, "ours_points_low": 100 * lo_,
                     "ours_points_high": 100 * hi_, "theirs_points": 100 * (kd[i] - lab[i]),
                     "theirs_points_pm": 100 * 2 * read_off,
                     "ours_factor": float(eff.loc[alpha, "factor"]) if alpha in eff.index else np.nan,
                     "ours_factor_low": float(eff.loc[alpha, "low"]) if alpha in eff.index else np.nan,
                     "ours_factor_high": float(eff.loc[alpha, "high"]) if alpha in eff.index else np.nan,
                     "theirs_factor": float(theirs[i]), "theirs_factor_low": float(low[i]),
                     "theirs_factor_high": float(high[i])})
    return pd.DataFrame(rows)
