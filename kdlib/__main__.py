"""Command line: `python -m kdlib run ...` (one run, one JSON line), `python -m kdlib reproduce ...`,
`python -m kdlib readme` (the README's results section from the scoreboard) and `python -m kdlib colab ...` (write the
Colab badge and set-up cell into every notebook)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import DATASETS, DISTILL_DATA, METHODS, PROFILES, RECIPES, SIGNALS, make_config
from .errors import ConfigError
from .losses import OBJECTIVES
from .models import CIFAR_MODELS, MODELS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m kdlib", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train one student (and its teacher if not cached); print one JSON line")
    r.add_argument("--profile", default="cpu", help=f"one of {', '.join(PROFILES)} (default cpu)")
    r.add_argument("--dataset", default=None,
                   help=f"one of {', '.join(DATASETS)} (default: the profile's; gpu: cifar10, else mnist1d)")
    r.add_argument("--recipe", default=None, help=f"CIFAR only: {', '.join(RECIPES)} (default fast)")
    r.add_argument("--method", default="kd", help=f"one of {', '.join(METHODS)}")
    r.add_argument("--fraction", type=float, default=1.0, help="alpha, the share of the training set, in (0, 1]")
    r.add_argument("--seed", type=int, default=0, help="the student's seed; its teacher is trained with the same seed")
    r.add_argument("--teacher-seed", type=int, default=None,
                   help="the teacher's seed (default: --seed, a teacher per seed as in the notebooks)")
    r.add_argument("--tau", type=float, default=None, help="temperature > 0 (default: the profile's)")
    r.add_argument("--lam", type=float, default=None, help="weight of the distillation term in [0, 1] (default 1)")
    r.add_argument("--eps", type=float, default=None, help="label smoothing in [0, 1), method ls")
    r.add_argument("--signal", default=None, help=f"KD target: {', '.join(SIGNALS)} (default teacher)")
    r.add_argument("--objective", default=None, help=f"KD term: {', '.join(OBJECTIVES)} (default forward_kl)")
    r.add_argument("--lr", type=float, default=None, help="student learning rate (default: the profile's)")
    models = f"{', '.join(MODELS)}; CIFAR: {', '.join(CIFAR_MODELS)}"
    r.add_argument("--student", default=None, help=f"one of {models}")
    r.add_argument("--teacher", default=None, help=f"one of {models}; or none (labels only)")
    r.add_argument("--teacher-fraction", type=float, default=None,
                   help="share of the training set the teacher trains on, in (0, 1] (default 1)")
    r.add_argument("--teacher-members", type=int, default=None, help="an ensemble of this many teachers (default 1)")
    r.add_argument("--distill-data", default=None,
                   help=f"what KD distils on: {', '.join(DISTILL_DATA)} (default subset; the others add inputs)")
    r.add_argument("--aux-heads", action="store_true", help="deep supervision: distil into auxiliary classifiers too")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    r.add_argument("--results-dir", default="results")
    q = sub.add_parser("reproduce", help="run the notebook series with papermill and write the scoreboard")
    q.add_argument("--profile", default="cpu", help=f"one of {', '.join(PROFILES)} (default cpu)")
    q.add_argument("--notebooks", nargs="*", default=None, help="numbers or names to run (default: all)")
    q.add_argument("--device", default="auto")
    q.add_argument("--results-dir", default="results")
    q.add_argument("--output-dir", default="outputs", help="executed notebooks and HTML go to <output-dir>/<profile>")
    q.add_argument("--figures-dir", default=None, help="default: figures/ (smoke: <output-dir>/smoke/figures)")
    q.add_argument("--no-html", action="store_true")
    q.add_argument("--workers", type=int, default=None,
                   help="runs at once in each notebook (default: $KDLIB_WORKERS, else one per core)")
    m = sub.add_parser("readme", help="rewrite README.md's results section from the scoreboard (figures/scoreboard.json)")
    m.add_argument("--readme", default="README.md")
    m.add_argument("--figures-dir", default="figures")
    c = sub.add_parser("colab", help="write the Colab badge and set-up cell into every notebook, from "
                                     "kdlib/colab.py's REPOSITORY (the one place the repository's address lives)")
    c.add_argument("--notebooks-dir", default="notebooks")
    return p


def _run(a) -> int:
    from .sweep import sweep
    from .store import Store, check_folder

    cfg = make_config(a.profile, a.dataset, a.recipe, method=a.method, fraction=a.fraction, seed=a.seed, tau=a.tau,
                      lam=a.lam, eps=a.eps, signal=a.signal, objective=a.objective, lr=a.lr, student=a.student,
                      teacher=a.teacher, teacher_fraction=a.teacher_fraction, teacher_seed=a.teacher_seed,
                      teacher_members=a.teacher_members, distill_data=a.distill_data, aux_heads=a.aux_heads or None)
    check_folder("results_dir", a.results_dir)  # before the store is read or anything is trained
    cached = Store(a.results_dir).get(cfg.key()) is not None
    sweep([cfg], results_dir=a.results_dir, device=a.device, progress=False)
    record = Store(a.results_dir).get(cfg.key())
    out = {"key": record["key"], "cached": cached, "status": record["status"], "config": record["config"],
           "metrics": record["metrics"], "wall_time_s": record["wall_time_s"], "device": record["device"],
           "test_acc": record["metrics"].get("test_acc")}  # None (null) for a diverged run
    if record["status"] != "ok":
        out["diverged_step"] = record.get("diverged_step")
    print(json.dumps(out, allow_nan=False))
    return 0 if record["status"] == "ok" else 3


def _reproduce(a) -> int:
    from .reproduce import reproduce

    report = reproduce(profile=a.profile, select=a.notebooks, output_dir=a.output_dir, results_dir=a.results_dir,
                       figures_dir=a.figures_dir, device=a.device, html=not a.no_html, workers=a.workers,
                       log=lambda m: print(m, file=sys.stderr, flush=True))
    failed = [r["notebook"] for r in report if r["error"]]
    print(json.dumps({"profile": a.profile, "notebooks": report}))
    return 1 if failed else 0


def _readme(a) -> int:
    from .scoreboard import update_readme
    from .store import check_folder

    check_folder("figures_dir", a.figures_dir)
    if not Path(a.readme).is_file():
        raise ConfigError(f"readme={a.readme!r} is not a file")
    changed = update_readme(a.readme, a.figures_dir)
    print(f"{a.readme}: results section {'rewritten' if changed else 'unchanged (or no markers)'}")
    return 0


def _colab(a) -> int:
    from . import colab

    changed = colab.stamp(a.notebooks_dir, colab.REPOSITORY)
    print(f"repository {colab.REPOSITORY}: {len(changed)} notebook(s) updated" +
          "".join(f"\n  {p}" for p in changed))
    return 0


def main(argv=None) -> int:
    a = _parser().parse_args(argv)
    try:
        return {"run": _run, "reproduce": _reproduce, "readme": _readme, "colab": _colab}[a.command](a)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
