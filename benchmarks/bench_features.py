"""What C7's feature metrics cost per run: read a results store and print, per student and method, the seconds spent
on them (`features_time_s`: NC1 and NC2 on the student's own subset and on the test set, the CKA with the teacher,
and the teacher's test features, computed once per worker process) against the run's own time (`wall_time_s`:
training and evaluation), with the machine.

    python benchmarks/bench_features.py --results-dir results

The student's features come from the forward passes its metrics make anyway (`kdlib.train.predict(...,
features=True)`), so the forward pass itself costs nothing extra; only runs of kdlib >= 0.8 carry the timing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_reproduce import machine  # noqa: E402

from kdlib.store import Store  # noqa: E402
from kdlib.sweep import table  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results-dir", default="results")
    a = ap.parse_args(argv)
    store = Store(a.results_dir)
    records = [r for r in (store.get(k) for k in store.keys()) if r and r.get("features_time_s") is not None]
    print(machine())
    if not records:
        print(f"no run in {a.results_dir} carries features_time_s (made by kdlib >= 0.8)")
        return
    df = table(records)
    df["share"] = df["features_time_s"] / df["wall_time_s"]
    out = df.groupby(["student", "method"]).agg(runs=("share", "size"), wall_s=("wall_time_s", "median"),
                                                features_s=("features_time_s", "median"),
                                                share_median=("share", "median"), share_max=("share", "max"))
    print(out.round(4).to_string())
    print(f"all {len(df)} runs: median {100 * df['share'].median():.2f}% of a run's time, largest "
          f"{100 * df['share'].max():.2f}% (the first run of a worker also computes its teacher's test features)")


if __name__ == "__main__":
    main()
