"""How noisy are notebook 01's choices (learning rate per method and α, then τ per α), and how often would another
set of selection seeds have chosen otherwise? Runs what the store lacks (every learning rate, and every τ candidate at
every learning rate, on a pool of selection seeds, each with its own teacher), then prints, for each k, the share of
choices on which two disjoint sets of k seeds disagree (over every such pair of sets in the pool), and what a
choice costs: how far the chosen candidate's mean validation accuracy over the whole pool lies below the best one's.

    python benchmarks/bench_selection.py --results-dir results --variant cnn --pool 1000 1001 1002 1003 1004 1005
    python benchmarks/bench_selection.py --results-dir results --variant vit --pool 1000 1001 1002 1003 --k 2

The choice rule is the notebooks' (`kdlib.notebook.Setting.lr`, `choose_tau`): the best mean validation accuracy
over the set, ties to the smaller rate / the earlier candidate; τ is chosen among the runs at the set's own KD rate.
Only validation accuracy is read. Variants as `make reproduce` runs notebook 01 (kdlib.reproduce.VARIANTS).
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from bench_reproduce import machine  # noqa: E402

from kdlib.analysis import choice_table, select_on_validation  # noqa: E402
from kdlib.config import profile_defaults  # noqa: E402
from kdlib.notebook import AUTHORS_TAUS, setting  # noqa: E402
from kdlib.reproduce import VARIANTS  # noqa: E402


def setting_of(variant: str, profile: str, pool, results_dir: str, workers=None):
    extra = {} if variant == "cnn" else VARIANTS["01_data_efficiency"][variant](profile_defaults(profile))
    knobs = {k: v for k, v in extra.items() if k in ("student", "teacher")}
    return setting(profile, fractions=extra.get("fractions"), selection_seeds=list(pool), results_dir=results_dir,
                   figures_dir=str(Path(results_dir) / "figures"), workers=workers, **knobs)


def runs(S) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every selection run of notebook 01 on the pool: the learning-rate grid (labels and KD at the profile's τ), and
    every τ candidate at every rate of the grid (so any subset's own KD rate has its τ runs)."""
    lr_runs = S.sweep([S.make(method=m, fraction=f, seed=s, lr=lr) for lr in S.lr_grid for m in ("labels", "kd")
                       for f in S.tune_on for s in S.selection_seeds], desc="lr runs")
    cands = S.tau_candidates(AUTHORS_TAUS)
    tau_runs = S.sweep([(n, S.make(method="kd", fraction=f, seed=s, lr=lr, **kw)) for lr in S.lr_grid
                        for f in S.fractions for n, kw in cands.items() for s in S.selection_seeds], desc="τ runs")
    return lr_runs, tau_runs


def choices(lr_runs, tau_runs, seeds, order) -> dict:
    """The notebook's choices on `seeds`: ('lr', method, α) -> rate, ('τ', α) -> candidate."""
    lr = select_on_validation(lr_runs[lr_runs["seed"].isin(seeds)], "lr")
    out = {("lr", m, f): v for m, f, v in zip(lr["method"], lr["fraction"], lr["lr"])}
    for f in sorted(tau_runs["fraction"].unique()):
        at = tau_runs[tau_runs["seed"].isin(seeds) & (tau_runs["fraction"] == f)
                      & np.isclose(tau_runs["lr"], out[("lr", "kd", f)])]
        out[("τ", f)] = choice_table(at, order)["chosen"].iloc[0]
    return out


def regret(lr_runs, tau_runs, chosen: dict, order) -> dict:
    """Validation points lost per choice against the best on the whole pool's mean (τ at the chosen rate)."""
    out = {}
    lr_mean = lr_runs[lr_runs["status"] == "ok"].groupby(["method", "fraction", "lr"])["val_acc"].mean()
    tau_mean = tau_runs[tau_runs["status"] == "ok"].groupby(["fraction", "lr", "row"])["val_acc"].mean()
    for key, v in chosen.items():
        if key[0] == "lr":
            s = lr_mean.loc[(key[1], key[2])]
            out[key] = float(s.max() - s.loc[v])
        else:
            s = tau_mean.loc[(key[1], chosen[("lr", "kd", key[1])])]
            s = s[s.index.isin(order)]
            out[key] = float(s.max() - s.loc[v])
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results-dir", default="results")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--variant", default="cnn", choices=["cnn", *VARIANTS["01_data_efficiency"]])
    ap.add_argument("--pool", type=int, nargs="+", default=[1000, 1001, 1002, 1003, 1004, 1005])
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--workers", type=int, default=None)
    a = ap.parse_args(argv)
    S = setting_of(a.variant, a.profile, a.pool, a.results_dir, a.workers)
    lr_runs, tau_runs = runs(S)
    order = list(S.tau_candidates(AUTHORS_TAUS))
    print(machine())
    print(f"variant {a.variant} ({S.kd.student} from {S.kd.teacher}), profile {a.profile}, α {S.fractions}, "
          f"pool of selection seeds {a.pool}")
    rows = []
    for k in a.k:
        if 2 * k > len(a.pool):
            continue
        differ, lost, n_pairs = {"lr": [], "τ": []}, {"lr": [], "τ": []}, 0
        for A in itertools.combinations(a.pool, k):
            rest = [s for s in a.pool if s not in A]
            for B in itertools.combinations(rest, k):
                if B < A:  # each unordered pair of sets once
                    continue
                ca, cb = choices(lr_runs, tau_runs, A, order), choices(lr_runs, tau_runs, B, order)
                n_pairs += 1
                for key in ca:
                    differ[key[0]].append(ca[key] != cb[key])
                for key, v in regret(lr_runs, tau_runs, ca, order).items():
                    lost[key[0]].append(v)
        for what in ("lr", "τ"):
            rows.append({"k": k, "choice": what, "pairs of disjoint sets": n_pairs,
                         "choices compared": len(differ[what]),
                         "share chosen otherwise": float(np.mean(differ[what])),
                         "val. points lost, mean": 100 * float(np.mean(lost[what])),
                         "val. points lost, max": 100 * float(np.max(lost[what]))})
    pd.set_option("display.width", 160)
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    if len(a.pool) >= 4:
        A, B = a.pool[:2], a.pool[2:4]
        ca, cb = choices(lr_runs, tau_runs, A, order), choices(lr_runs, tau_runs, B, order)
        print(f"\nthe profile's selection seeds {A} against {B}:")
        table = pd.DataFrame([{"choice": k[0], "method": k[1] if k[0] == "lr" else "kd", "α": k[-1],
                               f"seeds {A}": ca[k], f"seeds {B}": cb[k], "same": ca[k] == cb[k]} for k in ca])
        print(table.to_string(index=False))
        print(f"chosen otherwise: {int((~table['same']).sum())} of {len(table)} "
              f"(lr {int((~table[table.choice == 'lr']['same']).sum())} of {int((table.choice == 'lr').sum())}, "
              f"τ {int((~table[table.choice == 'τ']['same']).sum())} of {int((table.choice == 'τ').sum())})")


if __name__ == "__main__":
    main()
