"""From a sweep's table to the numbers a claim is judged by: means over seeds, gains, efficiency factors."""
from __future__ import annotations

import numpy as np
import pandas as pd


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


def seed_gains(df: pd.DataFrame, method: str, fraction: float, baseline: str = "labels", metric: str = "test_acc",
               higher_is_better: bool = True, col: str = "method") -> pd.Series:
    """Relative gain of `method` over `baseline` at one fraction, per seed (paired by seed)."""
    ok = df[(df["status"] == "ok") & (df["fraction"] == fraction)]
    a = ok[ok[col] == method].set_index("seed")[metric]
    b = ok[ok[col] == baseline].set_index("seed")[metric]
    g = ((a - b) / b).dropna()
    return g if higher_is_better else -g


def paired_rule(d: pd.Series) -> str:
    """The decision rule every verdict here uses, on per-seed differences d (positive = claim holds):
    'reproduced' if mean(d) > std(d) (a paired t-statistic above sqrt(n)), 'not reproduced' if mean(d) <= 0,
    'mixed' otherwise (and with a single seed)."""
    d = d.dropna()
    mean = float(d.mean())
    if not mean > 0:
        return "not reproduced"
    return "reproduced" if len(d) > 1 and mean > float(d.std()) else "mixed"


def gains(df: pd.DataFrame, names, baseline: str = "labels", col: str = "variant", metric: str = "test_acc",
          higher_is_better: bool = True) -> dict:
    """name -> relative_gain(df, name, baseline) for each name (a value of `col`), paired by seed."""
    return {n: relative_gain(df, n, baseline, metric, higher_is_better, col) for n in names}


def verdicts(df: pd.DataFrame, gains_by_name: dict, baseline="labels", col: str = "row") -> dict:
    """name -> C1's verdict (verdict_growing_gain) for each entry of `gains` (baseline: one name, or name -> its own)."""
    base = lambda n: baseline[n] if isinstance(baseline, dict) else baseline
    return {n: verdict_growing_gain(g, df, n, base(n), col=col) for n, g in gains_by_name.items()}


def verdict_growing_gain(gain: pd.DataFrame, df: pd.DataFrame, method: str, baseline: str = "labels",
                         metric: str = "test_acc", higher_is_better: bool = True, col: str = "method") -> dict:
    """C1's criterion: the relative gain at the smallest fraction exceeds the gain at the largest.

    d = gain(smallest) - gain(largest), paired by seed, judged by `paired_rule`.
    """
    lo, hi = gain["fraction"].min(), gain["fraction"].max()
    kw = dict(baseline=baseline, metric=metric, higher_is_better=higher_is_better, col=col)
    d = (seed_gains(df, method, lo, **kw) - seed_gains(df, method, hi, **kw)).dropna()
    g_lo = gain.loc[gain["fraction"] == lo].iloc[0]
    g_hi = gain.loc[gain["fraction"] == hi].iloc[0]
    return {
        "verdict": paired_rule(d),
        "criterion": (f"relative gain of {method} over {baseline} at alpha={lo:g} exceeds that at alpha={hi:g} "
                      "by more than one seed std of the paired difference"),
        "gain_smallest": float(g_lo["gain_mean"]), "gain_smallest_std": float(g_lo["gain_std"]),
        "gain_largest": float(g_hi["gain_mean"]), "gain_largest_std": float(g_hi["gain_std"]),
        "difference_mean": float(d.mean()), "difference_std": float(d.std()) if len(d) > 1 else float("nan"),
        "n_seeds": int(len(d)), "alpha_smallest": float(lo), "alpha_largest": float(hi),
    }


def select_on_validation(df: pd.DataFrame, param: str, by=("method", "fraction"),
                         metric: str = "val_acc", higher_is_better: bool = True) -> pd.DataFrame:
    """For each group, the value of `param` with the best mean validation `metric` (never the test set): the
    highest, or the lowest when `higher_is_better` is False (perplexity).

    Returns one row per group with the chosen value and its validation score; ties go to the first value.
    """
    ok = df[df["status"] == "ok"]
    scores = ok.groupby(list(by) + [param])[metric].mean().reset_index()
    pick = "idxmax" if higher_is_better else "idxmin"
    best = scores.loc[getattr(scores.groupby(list(by))[metric], pick)()]
    return best.rename(columns={metric: f"best_{metric}"}).reset_index(drop=True)


def combine_verdicts(verdicts) -> str:
    """One verdict for a factor from one verdict per setting of it (e.g. per lambda, per teacher-student pair):
    'reproduced' if every setting is, 'not reproduced' if none is, 'mixed' otherwise."""
    verdicts = list(verdicts)
    if not verdicts:
        raise ValueError("no verdicts to combine")
    if all(v == "reproduced" for v in verdicts):
        return "reproduced"
    if all(v == "not reproduced" for v in verdicts):
        return "not reproduced"
    return "mixed"


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
