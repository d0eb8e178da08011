"""The data-efficiency audit of distillation on the reader's own data and models (notebook 09), in one call:

    from kdlib.audit import audit
    result = audit("my_data.csv", label="species", student="mlp-small", teacher="mypackage.nets:big_mlp")
    print(result.answer); result.figure()

It runs C1's sweep on the reader's data: a teacher per seed trained on all of the training split (or the reader's
own, from `teacher_checkpoint`, the same network for every seed), then students trained on labels and by pure distillation (λ = 1) at every α of a grid
and every seed. `prepare(...)` checks everything first (the file, its columns and values, the models, the
checkpoint, the α grid against the class sizes) and trains nothing; `Audit.run()` then trains what the results store
does not hold yet.

How the settings are chosen, stated before any test accuracy is read (`SELECTION`): at each selection seed (two,
which never evaluate; each with its own teacher), every learning rate of `lr_grid` (labels) and every (learning rate,
τ) of `lr_grid` × `taus` (KD) is run at every α; for each method and α the one with the highest mean validation
accuracy over the selection seeds wins, ties going to the lower mean validation cross-entropy, then to the earlier
value in the grids' order. Only the validation split is read; every evaluation seed then runs with the chosen values.

The answer is computed from the runs by kdlib.analysis: relative gains paired by seed (mean ± std), the efficiency
factor (the α label training needs for KD's accuracy, interpolated on the log-α axis, never outside the grid) and
C1's criterion.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import analysis, owndata, plots
from .config import RunConfig, check_selection_seeds
from .data import nested_subset
from .errors import ConfigError, check_choice, check_int, check_list
from .executors import resolve_workers
from .models import CHECKPOINT, MODELS, check_classifier, check_name, num_params
from .profiles import SELECTION_SEEDS  # the notebooks' selection seeds, for the audit too
from .store import check_folder
from .sweep import sweep
from .tasks import dataset_for
from .teachers import get_teacher
from .train import TrainConfig, num_steps, resolve_device

SELECTION = ("at each selection seed (which never evaluates), every learning rate of lr_grid (labels) and every "
             "(learning rate, τ) of lr_grid × taus (KD) is run at every α; per method and α the highest mean "
             "validation accuracy over the selection seeds wins, ties going to the lower mean validation "
             "cross-entropy, then to the earlier value in lr_grid, then in taus")

# The budgets per profile: models, the α grid, seeds, τ and learning-rate grids, and the training of students and
# teacher (steps = max(min_steps, epochs × ⌊M/B⌋), kdlib.train). Sized for tabular data of a few hundred to a few
# thousand rows: `cpu` runs the embedded example (breast cancer, 343 training rows) in a few minutes on 2 cores.
BUDGETS = {
    "smoke": dict(student="mlp-tiny", teacher="mlp-small", fractions=(0.1, 0.3, 1.0), seeds=(0, 1), taus=(1.0, 4.0),
                  lr_grid=(1e-2,), train=TrainConfig(epochs=2, min_steps=60, batch_size=64, lr=1e-2),
                  teacher_train=TrainConfig(epochs=20, min_steps=200, batch_size=64, lr=1e-2)),
    "cpu": dict(student="mlp-small", teacher="mlp-base", fractions=(0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
                seeds=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), taus=(1.0, 4.0, 16.0, 64.0), lr_grid=(1e-3, 1e-2),
                train=TrainConfig(epochs=60, min_steps=400, batch_size=64, lr=1e-3),
                teacher_train=TrainConfig(epochs=200, min_steps=2000, batch_size=64, lr=1e-3)),
    "gpu": dict(student="mlp-base", teacher="mlp-large", fractions=(0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
                seeds=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), taus=(1.0, 4.0, 16.0, 64.0), lr_grid=(1e-3, 3e-3, 1e-2),
                train=TrainConfig(epochs=100, min_steps=1000, batch_size=128, lr=1e-3),
                teacher_train=TrainConfig(epochs=300, min_steps=5000, batch_size=128, lr=1e-3)),
}
EXAMPLE_LABEL = "diagnosis"  # the label column of the embedded example (kdlib.owndata.example_csv)


@dataclass
class Audit:
    """A checked audit, nothing trained yet: the reader's data (`own`), the models, the grids and the training."""
    own: owndata.OwnData
    profile: str
    student: str
    teacher: str  # as in the run configs: a family, a factory, either with "@sha256:<digest>" for a checkpoint
    teacher_checkpoint: str | None
    fractions: list
    seeds: list
    taus: list
    lr_grid: list
    train: TrainConfig
    teacher_train: TrainConfig
    device: str
    dev: object
    results_dir: str
    figures_dir: str
    workers: int | None = None
    selection_seeds: list = field(default_factory=lambda: list(SELECTION_SEEDS))  # choose, never evaluate
    _tuning: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.own.name

    @property
    def teacher_label(self) -> str:
        """The teacher as a reader names it: the architecture, and the checkpoint's file name if any."""
        arch = self.teacher.split(CHECKPOINT)[0]
        return f"{arch} ({Path(self.teacher_checkpoint).name})" if self.teacher_checkpoint else arch

    def make(self, method: str, fraction: float, seed: int, lr: float, tau: float | None = None) -> RunConfig:
        """One run of the audit: pure distillation (λ = 1) at `tau`, or labels."""
        return RunConfig(dataset=owndata.OWN, data=self.own.config_data, method=method, fraction=float(fraction),
                         seed=int(seed), student=self.student, teacher=self.teacher,
                         tau=tau if method == "kd" else None, lam=1.0, train=replace(self.train, lr=float(lr)),
                         teacher_train=self.teacher_train).validate().canonical()

    def tuning_configs(self) -> list:
        """The selection runs: every lr (labels) and (lr, τ) (KD) at every α and selection seed."""
        return [c for s in self.selection_seeds for c in
                [self.make("labels", f, s, lr) for lr in self.lr_grid for f in self.fractions] +
                [self.make("kd", f, s, lr, tau) for lr in self.lr_grid for tau in self.taus for f in self.fractions]]

    def data(self):
        return dataset_for(self.make("labels", 1.0, self.seeds[0], self.lr_grid[0]), self.dev, self.results_dir)

    def teacher_model(self):
        """The first evaluation seed's teacher (from the cache, or trained now / loaded from the checkpoint and
        cached); every seed has its own (`AuditResult.teacher`: their mean)."""
        cfg = self.make("kd", 1.0, self.seeds[0], self.lr_grid[0], self.taus[0])
        return get_teacher(cfg, self.data(), self.dev, self.results_dir)

    def step_budget(self) -> dict:
        """α -> the student's training steps there."""
        y = self.data().y_train.cpu()
        return {f: num_steps(len(nested_subset(y, f, self.seeds[0])), self.train) for f in self.fractions}

    @property
    def tuning(self) -> pd.DataFrame:
        """The tuning runs (the selection seeds; every lr, and every (lr, τ) for KD), run on first use."""
        if self._tuning is None:
            self._tuning = sweep(self.tuning_configs(), self.results_dir, self.device, desc="choosing lr and τ",
                                 workers=self.workers)
        return self._tuning

    @property
    def choices(self) -> pd.DataFrame:
        """Per method and α, the chosen learning rate and τ (SELECTION), with their mean validation accuracy and
        loss over the selection seeds."""
        return choose(self.tuning, self.lr_grid, self.taus)

    def grid(self) -> list:
        """Every (method, α, seed) with the chosen values."""
        chosen = self.choices.set_index(["method", "fraction"])
        out = []
        for method in ("labels", "kd"):
            for f in self.fractions:
                c = chosen.loc[(method, f)]
                tau = float(c["tau"]) if method == "kd" else None
                out += [self.make(method, f, s, float(c["lr"]), tau) for s in self.seeds]
        return out

    def run(self) -> "AuditResult":
        """Train what is missing (teacher, tuning runs, every seed) and return the result."""
        teacher = self.teacher_model()
        df = sweep(self.grid(), self.results_dir, self.device, desc="audit runs", workers=self.workers)
        teachers = analysis.teacher_table(df)  # one teacher per seed
        return AuditResult(self, df, {"test_acc": float(teachers["mean"].iloc[0]),
                                      "test_acc_sd": float(teachers["sd"].fillna(0).iloc[0]),
                                      "seeds": int(teachers["seeds"].iloc[0]), "first": teacher.metrics})


def choose(tuning: pd.DataFrame, lr_grid, taus) -> pd.DataFrame:
    """SELECTION on a table of tuning runs: per (method, α) the highest mean val_acc over the seeds, then the lowest
    mean val_nll, then the earliest in grid order. Raises if every run of a group diverged."""
    ok = tuning[tuning["status"] == "ok"].copy()
    ok["tau"] = ok["tau"].where(ok["method"] == "kd")  # labels have none
    ok = (ok.groupby(["method", "fraction", "lr", "tau"], dropna=False)[["val_acc", "val_nll"]].mean()
          .reset_index())
    lr_rank = {float(v): i for i, v in enumerate(lr_grid)}
    tau_rank = {float(v): i for i, v in enumerate(taus)}
    ok["order"] = [lr_rank[float(lr)] * len(taus) + (tau_rank[float(t)] if m == "kd" else 0)
                   for lr, t, m in zip(ok["lr"], ok["tau"], ok["method"])]
    rows = []
    for method in ("labels", "kd"):
        for f in sorted(tuning["fraction"].unique()):
            group = ok[(ok["method"] == method) & (ok["fraction"] == f)]
            if group.empty:
                raise RuntimeError(f"every tuning run of {method} at α = {f:g} diverged; try a smaller lr_grid")
            best = group.sort_values(["val_acc", "val_nll", "order"], ascending=[False, True, True]).iloc[0]
            rows.append({"method": method, "fraction": float(f), "lr": float(best["lr"]),
                         "tau": float(best["tau"]) if method == "kd" else np.nan,
                         "val_acc": float(best["val_acc"]), "val_nll": float(best["val_nll"])})
    return pd.DataFrame(rows)


@dataclass
class AuditResult:
    """The audit's runs and what they say (see `table` and `answer`)."""
    audit: Audit
    df: pd.DataFrame  # one row per final run (every method, α and seed)
    teacher: dict  # the teachers' test accuracy over the seeds (test_acc, test_acc_sd, seeds; first: seed 0's metrics)
    paths: list = field(default_factory=list)  # the figure's files once `figure()` saved them

    def __post_init__(self):
        self.summary = analysis.summarize(self.df)
        self.gain = analysis.relative_gain(self.df, "kd")
        self.curves = {m: self.summary[self.summary.method == m].sort_values("fraction") for m in ("labels", "kd")}
        self.factor = analysis.efficiency_factor(self.curves["labels"]["fraction"], self.curves["labels"]["mean"],
                                                 self.curves["kd"]["fraction"], self.curves["kd"]["mean"])
        self.verdict = analysis.verdict_growing_gain(self.gain, self.df, "kd")

    @property
    def table(self) -> pd.DataFrame:
        """One row per α: labelled samples M, test accuracy of labels and KD (mean ± std over seeds), KD's relative
        gain (paired by seed), the chosen τ and learning rates, and the efficiency factor."""
        ok = self.df[self.df["status"] == "ok"]
        m = ok.groupby("fraction")["n_train"].first()
        chosen = self.audit.choices.set_index(["method", "fraction"])
        rows = []
        for i, f in enumerate(self.curves["kd"]["fraction"]):
            lab, kd = (self.curves[k].set_index("fraction").loc[f] for k in ("labels", "kd"))
            g = self.gain.set_index("fraction").loc[f]
            rows.append({"α": f, "M": int(m.loc[f]), "labels": f"{lab['mean']:.3f} ± {_num(lab['std'], '.3f')}",
                         "KD": f"{kd['mean']:.3f} ± {_num(kd['std'], '.3f')}",
                         "KD gain": f"{_pct(g['gain_mean'])} ± {_pct(g['gain_std'], sign=False)}",
                         "τ": chosen.loc[("kd", f), "tau"], "lr labels": chosen.loc[("labels", f), "lr"],
                         "lr KD": chosen.loc[("kd", f), "lr"], "efficiency factor": self.factor[i],
                         "seeds": int(g["n_seeds"])})
        return pd.DataFrame(rows).set_index("α")

    def numbers(self, fraction: float) -> dict:
        """What the answer says at one α: M, mean accuracies, the gain (mean, std, seeds), its reading, the factor."""
        ok = self.df[self.df["status"] == "ok"]
        fractions = list(self.curves["kd"]["fraction"])
        i = fractions.index(fraction)
        d = analysis.seed_gains(self.df, "kd", fraction)
        reading = {"reproduced": "a gain (its 95% interval over seeds lies above zero)",
                   "not reproduced": "a loss (its 95% interval over seeds lies below zero)",
                   "inconclusive": "within the seed-to-seed spread (its 95% interval contains zero)"}[analysis.judge(d)["verdict"]]
        if len(d) < 2:
            reading = "one seed, so its spread is not measured"
        labels_acc = self.curves["labels"]["mean"].to_numpy()
        kd_acc = float(self.curves["kd"]["mean"].iloc[i])
        factor = float(self.factor[i])
        if np.isfinite(factor):
            side = "inside"
        else:  # outside the grid: say which side, never a number
            side = "above" if kd_acc > np.maximum.accumulate(labels_acc)[-1] else "below"
        return {"alpha": fraction, "M": int(ok[ok["fraction"] == fraction]["n_train"].iloc[0]),
                "labels_acc": float(labels_acc[i]), "kd_acc": kd_acc, "gain": float(d.mean()),
                "gain_std": float(d.std()) if len(d) > 1 else float("nan"), "n_seeds": int(len(d)),
                "reading": reading, "factor": factor, "factor_side": side}

    @property
    def answer(self) -> str:
        """The plain-language answer, with its uncertainty: at the smallest α, where the gain is largest, and with
        all the labelled data."""
        fractions = list(self.curves["kd"]["fraction"])
        lo, hi = self.numbers(fractions[0]), self.numbers(fractions[-1])
        n = len(self.audit.own.data.y_train)
        text = [f"At M = {lo['M']} labelled samples (α = {lo['alpha']:g} of the N = {n} training samples), KD "
                f"gains {_pct(lo['gain'])} ± {_pct(lo['gain_std'], sign=False)} in test accuracy over label training "
                f"({lo['kd_acc']:.3f} vs {lo['labels_acc']:.3f}; mean ± std over {lo['n_seeds']} "
                f"seed{'s' if lo['n_seeds'] != 1 else ''}, paired by seed): {lo['reading']}. {_factor_text(lo, n)}"]
        best = max(fractions[1:-1], key=lambda f: self.numbers(f)["gain"], default=None)
        if best is not None and self.numbers(best)["gain"] > max(lo["gain"], hi["gain"]):
            b = self.numbers(best)
            text.append(f"The largest mean gain on the grid (picked after the test numbers were read, so an "
                        f"optimistic estimate) is at M = {b['M']} (α = {b['alpha']:g}): {_pct(b['gain'])} ± "
                        f"{_pct(b['gain_std'], sign=False)} ({b['kd_acc']:.3f} vs {b['labels_acc']:.3f}), "
                        f"{b['reading']}. {_factor_text(b, n)}")
        if hi["alpha"] != lo["alpha"]:
            text.append(f"With M = {hi['M']} (α = {hi['alpha']:g}) KD gains {_pct(hi['gain'])} ± "
                        f"{_pct(hi['gain_std'], sign=False)} ({hi['kd_acc']:.3f} vs {hi['labels_acc']:.3f}): "
                        f"{hi['reading']}.")
        t = self.teacher
        text.append(f"The teachers ({self.audit.teacher_label}, one per seed) reach {t['test_acc']:.3f} ± "
                    f"{t.get('test_acc_sd', 0):.3f} test accuracy (mean ± sd over {t.get('seeds', 1)} seeds).")
        own = self.audit.own
        if own.class_names is not None:
            text.append(f"Classes: {_class_list(own.class_names)}.")
        if own.dropped:
            text.append(f"{own.dropped} row(s) with empty cells were left out (drop_missing=True).")
        return " ".join(text)

    @property
    def classes(self) -> pd.DataFrame:
        """One row per label 0..K-1: the class's name (a CSV's text label, mapped in sorted order; else its number)
        and its samples in each split."""
        d = self.audit.own.data
        k = d.num_classes
        names = self.audit.own.class_names or tuple(str(c) for c in range(k))
        counts = {s: np.bincount(getattr(d, f"y_{s}").cpu().numpy(), minlength=k) for s in ("train", "val", "test")}
        return pd.DataFrame({"class": list(names), **{s: counts[s] for s in counts}},
                            index=pd.RangeIndex(k, name="label"))

    def figure(self, save: bool = True):
        """C1's figure for this data (kdlib.plots.data_efficiency), saved as
        <figures_dir>/audit_<name>_<profile>.png and .pdf."""
        a = self.audit
        classes = "" if a.own.class_names is None else \
            f", {a.own.data.num_classes} classes ({_class_list(a.own.class_names, 6)})"
        fig = plots.data_efficiency(self.curves, self.gain, self.factor, self.teacher["test_acc"], a.fractions,
                                    df=self.df, title=f"Audit of {a.name}{classes}: "
                                                      f"{a.student} students of a {a.teacher_label} teacher, τ from "
                                                      f"{list(a.taus)} and lr chosen on validation, {len(a.seeds)} "
                                                      f"seeds, profile {a.profile}")
        if save:
            self.paths = plots.save(fig, a.figures_dir, f"audit_{_safe(a.name)}_{a.profile}")
        return fig


def _factor_text(point: dict, n: int) -> str:
    """The efficiency factor at one α in words: a measured factor, or which side of the grid it lies on."""
    if point["factor_side"] == "inside":
        caveat = (" (as uncertain as the gain: it is read off the mean curves)"
                  if not point["reading"].startswith("a gain (") else "")
        return (f"Label training needs {point['factor']:.1f}× the data (about {point['factor'] * point['M']:.0f} "
                f"labelled samples) to match KD's accuracy there{caveat}.")
    if point["factor_side"] == "above":
        return (f"Label training does not reach KD's accuracy there anywhere on the grid, not even with all {n} "
                f"samples: it needs more than {1 / point['alpha']:.0f}× the data.")
    return ("KD's accuracy there is below label training's at the same M: label training needs less data than KD "
            "(a factor below 1, not measured on this grid).")


def _class_list(names, limit: int = 12) -> str:
    """"0 = 'A', 1 = 'B', ..." for the answer and the figure's title."""
    shown = ", ".join(f"{i} = {n}" for i, n in enumerate(names[:limit]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _num(value, spec: str) -> str:
    return "n/a" if value != value else format(float(value), spec)  # NaN: a single seed has no std


def _pct(value, sign: bool = True) -> str:
    if value != value:
        return "n/a"
    return f"{100 * value:+.1f}%" if sign else f"{100 * value:.1f}%"


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "own"


def _train(base: TrainConfig, overrides, parameter: str) -> TrainConfig:
    if not overrides:
        return base
    if not isinstance(overrides, dict):
        raise ConfigError(f"{parameter}={overrides!r} is not allowed; allowed: a dict of TrainConfig fields, e.g. "
                          "{'min_steps': 2000}")
    unknown = sorted(set(overrides) - set(TrainConfig.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"{parameter} has unknown field(s) {unknown}; allowed: "
                          f"{', '.join(sorted(TrainConfig.__dataclass_fields__))}")
    if overrides.get("augment"):
        raise ConfigError(f"{parameter}['augment']=True is not allowed on own data; allowed: False")
    return replace(base, **overrides).validate()


def prepare(data=None, label: str | None = None, *, profile: str = "cpu", features=None,
            split_column: str | None = None, val_share: float = 0.2, test_share: float = 0.2, split_seed: int = 0,
            standardize: bool = True, name: str | None = None, drop_missing: bool = False, student: str | None = None,
            teacher: str | None = None, teacher_checkpoint=None, fractions=None, seeds=None, selection_seeds=None,
            taus=None, lr_grid=None, train: dict | None = None, teacher_train: dict | None = None, device: str = "auto",
            results_dir="results", figures_dir="figures", workers: int | None = None) -> Audit:
    """A checked audit: every value is checked here, before anything is written or trained (each mistake a
    ConfigError naming the parameter, the value and what is allowed); then the data (and the checkpoint) are stored
    under `results_dir` so that worker processes find them.

    data: a .csv or .npz file, arrays, or a dict of splits (kdlib.owndata.read; None: the embedded example,
    scikit-learn's breast cancer data as a CSV, label "diagnosis"); a CSV as it comes: class names, text categories
    and true/false columns are encoded (kdlib.owndata), and `drop_missing=True` leaves out rows with empty cells.
    student / teacher: a kdlib family (MODELS) or a factory "package.module:function" called as
    function(input_shape, num_classes); None: the profile's.
    teacher_checkpoint: a state_dict file for the teacher architecture (not trained here; its SHA-256 keys the runs).
    fractions, seeds, taus, lr_grid: None takes the profile's (BUDGETS). selection_seeds: where lr and τ are chosen
    (None: SELECTION_SEEDS; at least two, none of them in `seeds`). train / teacher_train: TrainConfig fields
    that replace the profile's (e.g. {"min_steps": 2000})."""
    check_choice("profile", profile, BUDGETS)
    b = BUDGETS[profile]
    fractions, seeds, taus, lr_grid = (list(b[k] if v is None else v) for k, v in (
        ("fractions", fractions), ("seeds", seeds), ("taus", taus), ("lr_grid", lr_grid)))
    check_list("fractions", fractions, low=0, high=1, low_open=True)
    check_list("seeds", seeds, low=0)
    for s in seeds:
        check_int("seeds", s, 0)
    check_list("taus", taus, low=0, low_open=True)
    check_list("lr_grid", lr_grid, low=0, low_open=True)
    selection_seeds = check_selection_seeds(list(SELECTION_SEEDS) if selection_seeds is None else selection_seeds,
                                            seeds)
    fractions, taus, lr_grid = sorted(float(f) for f in fractions), [float(t) for t in taus], [float(v) for v in lr_grid]
    for param, values in (("fractions", fractions), ("seeds", seeds), ("taus", taus), ("lr_grid", lr_grid)):
        if len(set(values)) != len(values):
            raise ConfigError(f"{param}={values} repeats a value; allowed: distinct values")
    train_cfg = _train(b["train"], train, "train")
    teacher_train_cfg = _train(b["teacher_train"], teacher_train, "teacher_train")
    student = b["student"] if student is None else student
    teacher = b["teacher"] if teacher is None else teacher
    check_name("student", student, MODELS, custom=True)
    check_name("teacher", teacher, MODELS, custom=True)
    if data is None:  # the embedded example
        data, label = owndata.example_csv(), EXAMPLE_LABEL if label is None else label
    own = owndata.read(data, label, features=features, split_column=split_column, val_share=val_share,
                       test_share=test_share, split_seed=split_seed, standardize=standardize, name=name,
                       drop_missing=drop_missing)
    owndata.check_fractions(own.data, fractions, class_names=own.class_names)
    check_classifier("student", student, own.data)
    teacher_net = check_classifier("teacher", teacher, own.data)
    if teacher_checkpoint is not None:
        _check_checkpoint(teacher_checkpoint, teacher, teacher_net)
    dev = resolve_device(device)
    resolve_workers(workers)
    digest = owndata.file_sha256(teacher_checkpoint) if teacher_checkpoint is not None else None
    a = Audit(own, profile, student, teacher if digest is None else f"{teacher}{CHECKPOINT}{digest}",
              None if teacher_checkpoint is None else str(teacher_checkpoint), fractions, [int(s) for s in seeds],
              taus, lr_grid, train_cfg, teacher_train_cfg, device, dev, str(results_dir), str(figures_dir), workers,
              selection_seeds)
    a.tuning_configs()  # every config is valid before anything is written
    check_folder("results_dir", results_dir)  # last: a bad value above leaves nothing behind
    check_folder("figures_dir", figures_dir)
    owndata.store(own, results_dir)
    if teacher_checkpoint is not None:
        owndata.store_checkpoint(teacher_checkpoint, results_dir)
    return a


def _check_checkpoint(path, teacher: str, model) -> None:
    """The checkpoint's weights fit the teacher architecture exactly (names and shapes)."""
    state = owndata.read_checkpoint(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        ours, theirs = model.state_dict(), state
        missing = [k for k in ours if k not in theirs]
        unexpected = [k for k in theirs if k not in ours]
        shapes = [f"{k}: {tuple(theirs[k].shape)} vs {tuple(ours[k].shape)}" for k in ours
                  if k in theirs and theirs[k].shape != ours[k].shape]
        detail = "; ".join(part for part in (
            f"missing {_few(missing)}" if missing else "", f"unexpected {_few(unexpected)}" if unexpected else "",
            f"shapes differ (checkpoint vs model) {_few(shapes)}" if shapes else "") if part) or str(e).splitlines()[0]
        raise ConfigError(f"teacher_checkpoint={str(path)!r} does not fit teacher={teacher!r} "
                          f"({num_params(model)} parameters): {detail}; allowed: the state_dict of that architecture "
                          "for this data's input shape and number of classes") from None


def _few(items, limit: int = 4) -> str:
    return ", ".join(items[:limit]) + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def audit(data=None, label: str | None = None, **kwargs) -> AuditResult:
    """prepare(data, label, **kwargs).run(): the whole audit in one call (see `prepare` for the parameters)."""
    return prepare(data, label, **kwargs).run()
