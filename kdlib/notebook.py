"""What every claim notebook needs around its own sweep.

    check(tau_grid=tau_grid, ...)  # each notebook parameter by its name's rule (PARAMETERS), before anything is written
    S = setting(profile, dataset=dataset, fractions=fractions, seeds=seeds, lr_grid=lr_grid, device=device,
                results_dir=results_dir, figures_dir=figures_dir, tau=tau, student=student, teacher=teacher)

`setting` resolves the profile's defaults and the notebook's parameters (explicit values win), checks every one of
them before any training, and picks the device. Seeds come in two disjoint sets: the evaluation seeds (`seeds`,
judged in looks) and the selection seeds (`selection_seeds`), on which every hyperparameter is chosen by its mean
validation metric and which never evaluate; each seed has its own teacher. `S.describe()` prints the data and the
students' budget. `S.config(method, fraction, seed, **knobs)` is one run of the notebook with the student learning
rate chosen for (method, α) on the selection seeds (`S.lr`, computed on first use); `S.select` chooses among any
candidates the same way (τ, ε, C4's pair, ...), and `S.show_choices()` lists every choice made, with its runner-up and
margin; `S.teachers(df)` the teachers' accuracy over the seeds a table used; `S.sweep` runs a list of configs (or of
(row name, config) pairs) through the store. `S.decide(row, spec)` runs a scoreboard row's sweep look by look
(kdlib.claims: seeds added only where the row is open) and judges it, reading what the row's d needs from its
declaration (`kdlib.reports.CONTEXT`); `S.verdict(row, df, figure=paths)` records it with its numbers and summary
(`kdlib.reports.REPORTS`) and prints the verdict. `S.row(base)` names a variant's row and figure (`ROWS`).
`dataset="shakespeare"` gives the language-model setting of C6.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from . import claims, plots, reports, scoreboard
from .analysis import choice_table, select_on_validation, teacher_table
from .config import (DISTILL_DATA, OBJECTIVES, check_selection_seeds, make_config, make_lm_config, models_for,
                     profile_defaults)
from .errors import ConfigError, check_int, check_list, check_nonempty, check_range
from .lm import prompt_ids
from .models import build_for, num_params
from .executors import resolve_workers
from .store import Store, check_folder
from .sweep import sweep, sweep_rows
from .tasks import dataset_for, text_for
from .teachers import get_teacher
from .text import default_data_dir
from .train import num_steps, resolve_device

LM_DATASET = "shakespeare"
AUTHORS_TAUS = (0.1, 1, 3, 5, 10, 20, 100)  # the authors' temperature grid (CLAIMS.md); logit matching is its τ → ∞
LOGIT_MATCHING = "logit matching"


@dataclass
class Setting:
    profile: str
    dataset: str
    name: str  # names the figures and scoreboard rows: the dataset, with its recipe on CIFAR ("cifar10-fast")
    fractions: list
    seeds: list  # the first look's seeds: what every run of the notebook gets
    schedule: list  # every seed a row may get, in order (kdlib.claims adds them look by look)
    looks: tuple  # the seed counts at which rows are judged (one look when the notebook was given its seeds)
    selection_seeds: list  # where hyperparameters are chosen (mean over them); disjoint from `schedule`
    lr_grid: list
    device: str  # as given ("auto", "cpu", ...); `dev` is what it resolved to
    dev: object
    results_dir: str
    figures_dir: str
    defaults: dict  # the profile's defaults for this dataset (kdlib.config.profile_defaults)
    knobs: dict  # what every config of the notebook shares (dataset, recipe, models, tau, ...)
    kd: object  # the notebook's KD config at the largest α and last seed: its models, τ and training
    tune_on: list  # the α at which learning rates are chosen
    workers: int | None = None  # runs at once (None: $KDLIB_WORKERS, else one per core)
    _lr: pd.DataFrame | None = field(default=None, repr=False)
    machines: set = field(default_factory=set, repr=False)  # where this setting's runs ran (kdlib.devices.machine)
    judgements: dict = field(default_factory=dict, repr=False)  # row -> its judgement (S.decide)
    choices: dict = field(default_factory=dict, repr=False)  # what was chosen -> its choice table (show_choices)

    @property
    def language(self) -> bool:
        return self.dataset == LM_DATASET

    def make(self, **fields):
        """A validated config of the notebook's kind from its knobs and `fields` (no learning-rate choice)."""
        if self.language:
            return make_lm_config(self.profile, **{**self.knobs, **fields})
        return make_config(self.profile, **{**self.knobs, **fields})

    @property
    def lr(self) -> pd.DataFrame:
        """The student learning rate per (method, α), chosen on the selection seeds: every rate of `lr_grid` is run
        (or read from the store) for labels and KD at each selection seed, and the best mean validation accuracy
        (perplexity for a language model) wins, a tie going to the smaller rate. No evaluation seed is run here."""
        if self._lr is None:
            configs = [self.make(method=m, fraction=float(f), seed=s, lr=lr)
                       for lr in self.lr_grid for m in ("labels", "kd") for f in self.tune_on
                       for s in self.selection_seeds]
            df = self.sweep(configs, desc="lr selection")
            metric = "val_ppl" if self.language else "val_acc"
            self._lr = select_on_validation(df, "lr", metric=metric, higher_is_better=not self.language)
            self.choices["learning rate"] = self._lr.rename(columns={"lr": "chosen", f"best_{metric}": "score"})
        return self._lr

    def lr_of(self, method: str, fraction: float) -> float:
        """The chosen rate: label smoothing takes the labels' rate, every KD variant KD's."""
        chosen = self.lr
        row = chosen[(chosen["method"] == ("labels" if method in ("labels", "ls") else "kd"))
                     & (chosen["fraction"] == fraction)]
        if row.empty:
            raise ConfigError(f"fraction={fraction!r} has no chosen learning rate; rates are chosen at "
                              f"{self.tune_on} (tune_on)")
        return float(row["lr"].iloc[0])

    def config(self, method: str, fraction: float, seed: int, **fields):
        """One run of the notebook: its knobs, the rate chosen for (method, α), then this run's own `fields`."""
        return self.make(method=method, fraction=fraction, seed=seed, lr=self.lr_of(method, fraction), **fields)

    def grid(self, methods=("labels", "kd"), fractions=None, **fields) -> list:
        """config(m, f, s) for every method, α (default: the notebook's) and seed."""
        return [self.config(m, f, s, **fields) for m in methods for f in (fractions or self.fractions)
                for s in self.seeds]

    @staticmethod
    def tau_candidates(taus=AUTHORS_TAUS, logit_matching: bool = True) -> dict:
        """C1's temperature candidates: name ("τ=4", "logit matching") -> the KD knobs of that candidate."""
        out = {f"τ={t:g}": dict(objective="forward_kl", tau=float(t)) for t in taus}
        if logit_matching:
            out[LOGIT_MATCHING] = dict(objective="logit_mse")
        return out

    def select(self, what: str, candidates: dict, method: str = "kd", fractions=None, among=None, **fields) -> dict:
        """The selection rule for any hyperparameter: per α (default: the setting's), every candidate (name -> the
        config fields it sets) runs at each selection seed with `method`'s chosen rate and `fields`, and the best mean
        validation accuracy (perplexity for a language model) wins, a tie going to the earlier candidate; `among`
        (default: all) limits the choice to some of the candidates. Returns α -> the chosen name; the choice table
        (runner-up, margin, seeds) is kept under `what` (`show_choices`)."""
        fractions = self.fractions if fractions is None else fractions
        runs = self.sweep([(name, self.config(method, f, s, **{**fields, **kw})) for f in fractions
                           for name, kw in candidates.items() for s in self.selection_seeds], desc=f"{what} selection")
        metric = "val_ppl" if self.language else "val_acc"
        table = choice_table(runs, list(candidates) if among is None else list(among), metric=metric,
                             higher_is_better=not self.language)
        self.choices[what] = table.assign(method=method)
        return dict(zip(table["fraction"], table["chosen"]))

    def teacher_regime(self, **kd_fields) -> pd.DataFrame:
        """Where the teacher of the KD config (`kd_fields`) is not below label training, read on the selection seeds
        only: per α, the teachers' mean validation accuracy (one teacher per selection seed) against the label-trained
        students' best mean validation accuracy there (the learning-rate choice's runs). `strong` marks the α where
        the teacher is at least as good (`claims.strong_teacher_regime`); the table is kept among the choices."""
        labels = self.lr[self.lr["method"] == "labels"].set_index("fraction")["best_val_acc"]
        teacher_val = []
        for s in self.selection_seeds:
            cfg = self.config("kd", self.fractions[-1], s, **kd_fields)
            t, data = self.teacher(cfg), dataset_for(cfg, self.dev)
            teacher_val.append(float((t.logits["val"].argmax(1).cpu() == data.y_val.cpu()).float().mean()))
        t_mean = sum(teacher_val) / len(teacher_val)
        strong = claims.strong_teacher_regime({f: t_mean for f in self.fractions},
                                              {f: float(labels[f]) for f in self.fractions})
        table = pd.DataFrame({"fraction": self.fractions, "teacher_val_acc": t_mean,
                              "labels_val_acc": [float(labels[f]) for f in self.fractions],
                              "strong": [f in strong for f in self.fractions]})
        self.choices["strong-teacher regime"] = pd.DataFrame({
            "method": "teacher vs labels", "fraction": self.fractions,
            "chosen": ["in" if f in strong else "out" for f in self.fractions], "score": t_mean,
            "runner_up": "labels", "runner_up_score": table["labels_val_acc"],
            "gap": t_mean - table["labels_val_acc"], "seeds": [tuple(self.selection_seeds)] * len(self.fractions)})
        return table

    def show_choices(self) -> pd.DataFrame:
        """Every choice made so far: what, method, α, the chosen value and its mean validation score over the
        selection seeds, the runner-up and the gap between them."""
        cols = ["method", "fraction", "chosen", "score", "runner_up", "runner_up_score", "gap", "seeds"]
        tables = [t.assign(what=what)[["what", *cols]] for what, t in self.choices.items()]
        if not tables:
            return pd.DataFrame(columns=["what", *cols])
        out = pd.concat(tables, ignore_index=True)
        return out.assign(seeds=[", ".join(map(str, s)) for s in out["seeds"]]).round(4)

    def choose_tau(self, taus=AUTHORS_TAUS, logit_matching: bool = True, fractions=None) -> dict:
        """C1's validation rule for τ: per α (default: the setting's), every candidate (`tau_candidates`) runs at the
        selection seeds, and the best mean validation accuracy wins, a tie going to the earlier candidate (grid
        order, logit matching last). Returns α -> the chosen candidate's name. The runs are the same configs in
        every notebook (and logit matching is always run), so the store computes them once."""
        among = list(self.tau_candidates(taus, logit_matching))
        return self.select("τ" if logit_matching else "τ (tempered)", self.tau_candidates(taus, True), "kd",
                           fractions, among=among)

    def temperatures(self, taus=AUTHORS_TAUS) -> dict:
        """C2's and C3's two temperature rules, each α -> τ: "validation", C1's rule without logit matching (their
        controls transform the teacher's tempered probabilities, which logit matching does not use), and "fixed",
        the setting's τ."""
        chosen = self.choose_tau(taus, logit_matching=False)
        tau_of = self.tau_candidates(taus, logit_matching=False)
        return {"validation": {f: tau_of[chosen[f]]["tau"] for f in self.fractions},
                "fixed": {f: self.kd.tau for f in self.fractions}}

    def tau_rules(self, rules, chosen: dict, taus=AUTHORS_TAUS, paper_tau: float = 100) -> dict:
        """C1's τ rules that run (`rules`, in their fixed order): rule -> TauRule(its label, α -> its KD knobs).
        "validation": the candidate chosen per α (`chosen`, from `choose_tau`); "paper": the authors' T at every α;
        "fixed": the setting's τ."""
        candidates = self.tau_candidates(taus)
        every = {"validation": TauRule("KD, τ chosen on validation", {f: candidates[chosen[f]] for f in self.fractions}),
                 "paper": TauRule(f"KD, T = {paper_tau:g} (the authors' figure)",
                                  {f: dict(objective="forward_kl", tau=float(paper_tau)) for f in self.fractions}),
                 "fixed": TauRule(f"KD, τ = {self.kd.tau:g} (fixed)", {f: {} for f in self.fractions})}
        return {r: every[r] for r in every if r in rules}

    def choose_eps(self, eps_grid) -> dict:
        """C2's label smoothing: α -> the ε of `eps_grid` with the best mean validation accuracy of label smoothing
        over the selection seeds (`select`)."""
        candidates = {f"ε={e:g}": dict(eps=float(e)) for e in eps_grid}
        return {f: candidates[name]["eps"] for f, name in self.select("ε", candidates, method="ls").items()}

    def signal_config(self, variant: str, fraction: float, seed: int, tau: float, eps: dict | None = None):
        """One run of C2's or C3's: labels, label smoothing (ε chosen per α, `eps`), KD, or KD on a control signal of
        kdlib.signals at τ (the class-agnostic smoothed teacher takes the α's ε too)."""
        eps_of = (eps or {}).get(fraction)  # eps=None is the config's default (the same run)
        if variant in ("labels", "ls"):
            return self.config(variant, fraction, seed, eps=eps_of if variant == "ls" else None)
        signal = "teacher" if variant == "kd" else variant
        return self.config("kd", fraction, seed, signal=signal, tau=tau,
                           eps=eps_of if signal == "smoothed_onehot" else None)

    @staticmethod
    def temperature_rows(taus=AUTHORS_TAUS, logit_matching: bool = True, asymmetric_tau=None) -> dict:
        """C4's rows: name -> KD knobs, one per τ of the grid, logit matching ("logit MSE") and a teacher-only τ."""
        rows = Setting.tau_candidates(taus, logit_matching=False)
        if logit_matching:
            rows["logit MSE"] = dict(objective="logit_mse")
        if asymmetric_tau is not None:
            rows[f"teacher-only τ={asymmetric_tau:g}"] = dict(objective="teacher_tau", tau=float(asymmetric_tau))
        return rows

    def choose_tau_pair(self, rows: dict, taus=AUTHORS_TAUS) -> dict:
        """C4's pair: at the smallest α and at α = 1, the τ of the grid with the best mean validation accuracy over
        the selection seeds (no evaluation seed). Returns those two α -> the chosen row's name."""
        return self.select("C4's τ pair", {f"τ={t:g}": rows[f"τ={t:g}"] for t in taus},
                           fractions=[self.fractions[0], self.fractions[-1]])

    def ladder(self, sizes=None):
        """C5's scale ladder: `sizes` (None: the profile's), checked against the dataset's models, sorted by
        parameter count; returns (sizes, {size: parameter count})."""
        sizes = list(self.defaults["sizes"]) if sizes is None else sizes
        check_list("sizes", sizes, choices=models_for(self.dataset))
        n_params = {m: num_params(build_for(m, self.data())) for m in sizes}
        return sorted(set(sizes), key=n_params.get), n_params

    def step_budget(self) -> dict:
        """α -> the student's training steps there (the step rule of kdlib.train: epochs with a floor)."""
        n = len(self.data().y_train)
        return {f: num_steps(round(f * n), self.kd.train) for f in self.fractions}

    def sweep(self, runs, desc: str = "runs", needs=()) -> pd.DataFrame:
        """Run what is missing and return the table; runs given as (row name, config) pairs get a `row` column.
        `needs`: metrics every finished run must have (one stored before they were measured is run again)."""
        runs = list(runs)
        if runs and isinstance(runs[0], tuple):
            df = sweep_rows(runs, self.results_dir, self.device, desc=desc, workers=self.workers, needs=needs)
        else:
            df = sweep(runs, self.results_dir, self.device, desc=desc, workers=self.workers, needs=needs)
        for col in ("machine", "teacher_machine"):  # a record stored before kdlib 0.6 has none
            if col in df:
                self.machines |= set(df[col].dropna())
        return df

    def decide(self, row, spec_for, *args, ctx: dict | None = None, desc: str | None = None, claim=None, needs=(),
               **params) -> pd.DataFrame:
        """Run a scoreboard row's sweep and judge it by kdlib.claims' rule: `spec_for(seeds, *args)` gives the
        notebook's (row name, config) pairs for those seeds; what the row's d reads comes from its declaration's
        context (`kdlib.reports.CONTEXT`, given the notebook's `params`), or `ctx`. The first look runs every pair at
        the first seeds; later looks add seeds only to the runs that open settings read, up to the row's cap.
        `needs`: metrics the row reads that older records may lack (`sweep`). Returns the table of every run; the
        judgement waits in `S.judgements[row]`."""
        row = getattr(row, "name", row)
        desc = desc or f"{row} runs"
        c = claim or claims.claim_for(row)
        print(declaration_text(row))  # what the row tests, from its declaration (the rule: 00_tour §7)
        ctx = reports.CONTEXT[c.key](self, **params) if ctx is None else ctx
        needs = needs or reports.NEEDS.get(c.key, ())
        if isinstance(ctx, reports.Fixed):  # decided without an interval (C4: one τ best at both ends)
            self.judgements[row] = claims.fixed(c, ctx.outcome, len(self.seeds), ctx.reason)
            return self.sweep(spec_for(self.seeds, *args), desc=desc, needs=needs)
        looks = c.looks(self.looks[0], self.looks, explicit=len(self.looks) == 1)
        df, j = claims.decide(c, ctx, lambda seeds: spec_for(seeds, *args),
                              lambda spec: self.sweep(spec, desc=desc, needs=needs), self.schedule, looks)
        self.judgements[row] = j
        return df

    def verdict(self, row, df: pd.DataFrame, figure=None, **context) -> dict:
        """The row's report (`kdlib.reports.REPORTS`: its numbers and summary, from `df` and the notebook's
        `context`), printed, then its scoreboard entry and verdict line (`record`). `figure`: the saved paths."""
        name = getattr(row, "name", row)
        numbers, summary, text = reports.REPORTS[claims.claim_for(name).key](self, name, df, **context)
        for shown in text if isinstance(text, list) else [text] if text else []:
            if isinstance(shown, str):
                print(shown)
            else:
                from IPython.display import display
                display(shown)
        path = figure[0] if isinstance(figure, (list, tuple)) else figure
        return self.record(name, numbers, figure=path, summary=summary, title=row.title if isinstance(row, Row) else None)

    def row(self, base: str, rule: str | None = None) -> Row:
        """This notebook's scoreboard row, figure name and title (`ROWS` below): C1 with another student or teacher
        is C6-ViT (a ViT student) or a named pair; C2 and C3 have a row per τ rule."""
        return row_for(base, self.defaults, student=self.kd.student, teacher=self.kd.teacher, rule=rule,
                       tau=self.kd.tau)

    def check(self, explore_index=None) -> None:
        """The parameters that need the setting's data: `explore_index`, a test input of its dataset."""
        if explore_index is not None:
            check_range("explore_index", explore_index, low=0, high=len(self.data().y_test) - 1)

    def describe(self) -> None:
        """The data, and the students' training budget per α (a language model: the texts, the vocabulary, one
        seed's teacher and the windows per α)."""
        kd, data = self.kd, self.data()
        if not self.language:
            print(data)
            print("student step budget per α:", self.step_budget(),
                  f"(min_steps={kd.train.min_steps}, epochs={kd.train.epochs}, batch={kd.train.batch_size})")
            return
        print(f"block_size={kd.block_size} data={kd.data}")
        print(f"data folder: {default_data_dir()}")
        for split in ("train", "val", "test"):
            plays = data.plays[split]
            print(f"{split:5s}: {len(getattr(data, split)):>9,} characters from {len(plays)} texts: "
                  f"{', '.join(plays[:6])}{', …' if len(plays) > 6 else ''}")
        assert not set(data.plays["train"]) & (set(data.plays["val"]) | set(data.plays["test"]))  # no play in two
        print(f"vocabulary: {len(data.vocab)} characters (id 0 stands for any character the training plays lack)")
        m = self.teacher().metrics
        print(f"teacher {kd.teacher} of seed {kd.seed} (one per seed): {m['n_tokens']:,} training tokens, test "
              f"perplexity {m['test_ppl']:.2f} ({m['test_bpc']:.3f} bits per character), validation {m['val_ppl']:.2f}")
        n_windows = (len(data.train) - 1) // kd.block_size
        print("student windows per α:", {f: max(1, round(f * n_windows)) for f in self.fractions},
              f"(block {kd.block_size}; steps ≥ {kd.train.min_steps}, batch {kd.train.batch_size})")

    def show_samples(self) -> None:
        """A language model's generated text after the same prompt: the first seed's teacher, and its label-trained
        and distilled students at the smallest α."""
        data, kd, smallest, seed = self.data(), self.kd, self.fractions[0], self.seeds[0]
        prompt = data.vocab.decode(prompt_ids(data, kd.block_size).tolist())
        samples = {f"teacher of seed {seed} ({kd.teacher}, all training text)":
                   self.teacher(self.config("kd", smallest, seed)).sample}
        for method in ("labels", "kd"):
            samples[f"{method} student, α = {smallest:g}"] = self.stored(self.config(method, smallest, seed))["sample"]
        print(f"prompt: {prompt!r}\n")
        for name, text in samples.items():
            print(f"--- {name}\n{text[len(prompt):]}\n")

    def seeds_text(self, df=None) -> str:
        """'4 seeds', or '4–8 seeds' when a row added seeds to some of its runs."""
        if df is None or "seed" not in df or df.empty:
            return f"{len(self.seeds)} seeds"
        per = df[df["status"] == "ok"].groupby(["row", "fraction"] if "row" in df else ["fraction"])["seed"].nunique()
        lo, hi = (int(per.min()), int(per.max())) if len(per) else (len(self.seeds),) * 2
        return f"{lo} seeds" if lo == hi else f"{lo}–{hi} seeds"

    def teachers(self, df: pd.DataFrame) -> pd.DataFrame:
        """The teachers of the runs in `df` (each seed its own): per kind, their test accuracy (perplexity for a
        language model) as mean and sd over the seeds `df` used (`analysis.teacher_table`)."""
        return teacher_table(df)

    def teacher_score(self, df: pd.DataFrame) -> float:
        """The mean test accuracy (perplexity) of the setting's own teachers (its KD config's kind) over `df`'s seeds."""
        t = self.teachers(df)
        mine = t[(t["teacher"] == self.kd.teacher)]
        for col, value in (("teacher_fraction", 1.0), ("teacher_members", 1)):
            if col in mine:
                mine = mine[mine[col] == value]
        return float(mine["mean"].iloc[0]) if len(mine) else float("nan")

    def stored(self, cfg) -> dict:
        """The stored record of a finished run (its config, metrics and, for a language model, its sample)."""
        return Store(self.results_dir).get(cfg.key())

    def data(self):
        """The setting's Dataset (a TextData for a language model) on its device."""
        return text_for(self.kd, self.dev) if self.language else dataset_for(self.kd, self.dev)

    def teacher(self, cfg=None):
        """The teacher of `cfg` (default: the setting's), from the cache or trained now."""
        cfg = cfg or self.kd
        data = text_for(cfg, self.dev) if self.language else dataset_for(cfg, self.dev)
        return get_teacher(cfg, data, self.dev, self.results_dir)

    def save(self, fig, base: str) -> list:
        """Write the figure as <figures_dir>/<base>_<setting>_<profile>.png and .pdf."""
        return plots.save(fig, self.figures_dir, f"{base}_{self.name}_{self.profile}")

    def record(self, claim: str, numbers: dict, figure=None, summary: str = "", judgement=None,
               title: str | None = None) -> dict:
        """The row's scoreboard entry (its judgement from `S.decide`, its declaration from kdlib.claims), under the
        setting's name and profile, with the machines its runs ran on; prints the verdict."""
        c = claims.claim_for(claim)
        j = judgement or self.judgements[claim]
        entry = scoreboard.record(self.figures_dir, claim, title or c.title, j, c, numbers, self.profile, self.name,
                                  figure=str(figure) if figure is not None else None, machines=self.machines,
                                  summary=summary)
        print(f"VERDICT {claim} ({self.name}, {self.profile}): {j['verdict'].upper()} — {claims.show(j, claims.scale_of(c.unit), c.unit).split(': ', 1)[-1]}")
        return entry


@dataclass(frozen=True)
class TauRule:
    label: str  # as the figure and the verdict name it
    at: dict  # α -> the KD knobs of the rule there


# ---- parameters: each notebook parameter's rule, by name; `check(**params)` before `setting(...)`

PARAMETERS = {  # name -> (kind, its bounds or choices); "range" allows None where the parameter is optional
    "tau_grid": ("list", dict(low=0, low_open=True)),
    "taus": ("list", dict(low=0, low_open=True)),
    "eps_grid": ("list", dict(low=0, high=1, high_open=True)),
    "scale_fractions": ("list", dict(low=0, high=1, low_open=True)),
    "lams": ("list", dict(low=0, high=1)),
    "objectives": ("list", dict(choices=OBJECTIVES)),
    "added_inputs": ("list", dict(choices=[d for d in DISTILL_DATA if d != "subset"])),
    "methods": ("list", dict(choices=reports.PITFALL_METHODS)),
    "tau_rules": ("list", dict(choices=("validation", "paper", "fixed"))),
    "paper_tau": ("range", dict(low=0, low_open=True)),
    "asymmetric_tau": ("optional", dict(low=0, low_open=True)),
    "lam": ("range", dict(low=0, high=1, low_open=True)),
    "n_examples": ("range", dict(low=1, high=8)),
    "ensemble_members": ("int", dict(low=2, high=20)),
}
REQUIRED = {  # a list parameter that must hold a value, and why
    "tau_rules": ("validation", "the rule the verdict is judged on"),
    "methods": ("vanilla KD", "the reference every method is compared with"),
}


def check(**params) -> None:
    """Check each notebook parameter by its name's rule (`PARAMETERS`, `REQUIRED`), before anything is written: a bad
    value stops with a message naming the parameter, the value and what is allowed."""
    for name, value in params.items():
        if name not in PARAMETERS:
            raise KeyError(f"check({name}=...): no rule for {name!r}; known: {', '.join(sorted(PARAMETERS))}")
        kind, rule = PARAMETERS[name]
        if kind == "list":
            check_list(name, value, **rule)
        elif kind == "int":
            check_range(name, value, **rule)
            check_int(name, value, rule["low"], rule["high"])
        elif value is not None or kind == "range":
            check_range(name, value, **rule)
        if name in REQUIRED and REQUIRED[name][0] not in value:
            raise ConfigError(f"{name}={value!r} lacks {REQUIRED[name][0]!r}, {REQUIRED[name][1]}")


def check_vit(profile: str, dataset, recipe, student, vit_student) -> str:
    """C7's second student: `vit_student` (None: the profile's ViT), which must differ from the CNN `student`."""
    defaults = profile_defaults(profile, dataset, recipe)
    if (vit_student or defaults["vit"]) == (student or defaults["student"]):
        raise ConfigError(f"vit_student={vit_student or defaults['vit']!r} is the student's architecture; allowed: "
                          f"another model than student={student or defaults['student']!r} (the profile's ViT: "
                          f"{defaults['vit']!r})")
    return vit_student or defaults["vit"]


# ---- variants: a notebook's row, figure and title from its parameters (data, not branches in a notebook)

# per notebook base: (match, row name, figure suffix), the first match wins. In a match "=" is the profile's model,
# "vit-*" any ViT, a missing key anything; names and suffixes are formatted with student, teacher, tau.
ROWS = {
    "C1": [({"student": "=", "teacher": "="}, "C1", ""),
           ({"student": "vit-*", "teacher": "="}, "C6-ViT", "_{student}_from_{teacher}"),
           ({"student": "vit-*"}, "C6-ViT from {teacher}", "_{student}_from_{teacher}"),
           ({}, "C1 {student}<-{teacher}", "_{student}_from_{teacher}")],
    "C2": [({"rule": "validation"}, "C2", ""), ({"rule": "fixed"}, "C2 (τ = {tau:g})", "_tau{tau:g}")],
    "C3": [({"rule": "validation"}, "C3", ""), ({"rule": "fixed"}, "C3 (τ = {tau:g})", "_tau{tau:g}")],
}
FIGURES = {"C1": "c1_data_efficiency", "C2": "c2_label_smoothing", "C3": "c3_dark_knowledge"}
# the title of a C1 row whose pair is not the profile's (its declaration's title otherwise)
VARIANT_TITLE = "{title}, {student} student of a {teacher} teacher"


@dataclass(frozen=True)
class Row:
    name: str  # the scoreboard row ("C6-ViT")
    figure: str  # the figure's file stem, before the setting and profile ("c1_data_efficiency_vit-small_from_cnn-base")
    title: str | None  # the scoreboard title where it is not the declaration's


def row_for(base: str, defaults: dict, **params) -> Row:
    """The row a notebook of `base` records, from its parameters (`student`, `teacher`, `rule`, `tau`) and the
    profile's `defaults` (its student and teacher): the first match in `ROWS[base]`."""
    def matches(key, want):
        have = params.get(key)
        return (have == defaults.get(key) if want == "=" else
                str(have).startswith(want[:-1]) if want.endswith("*") else have == want)

    for match, name, suffix in ROWS[base]:
        if all(matches(k, v) for k, v in match.items()):
            name, suffix = name.format(**params), suffix.format(**params)
            variant = base == "C1" and name != "C1"
            title = VARIANT_TITLE.format(title=claims.CLAIMS[base].title, **params) if variant else None
            return Row(name, FIGURES[base] + suffix, title)
    raise KeyError(f"no row of {base} matches {params!r}")


def declaration_text(row: str) -> str:
    """A row's declaration for a notebook to print: its d, Δ and why, its kind and cap (from `claims.CLAIMS`)."""
    c = claims.claim_for(row)
    delta = f"{claims.scale_of(c.unit) * c.delta:.3g}{c.unit}"
    return (f"Row {row} (kdlib/claims.py, {c.kind}; at most {c.cap} seeds): d = {c.d}. Δ = {delta}: {c.delta_reason}."
            + (f" Note: {c.note}." if c.note else ""))


def setting(profile: str = "cpu", dataset=None, recipe=None, fractions=None, seeds=None, n_seeds=None,
            lr_grid=None, tune_on=None, device="auto", results_dir="../results", figures_dir="../figures",
            workers=None, selection_seeds=None, **knobs) -> Setting:
    """The resolved setting of a notebook, every value checked before any training (see the module docstring).

    fractions / seeds / lr_grid: None takes the profile's (seeds: its schedule, judged in looks; `n_seeds` keeps its
    first n_seeds in one look). Seeds given explicitly are one look. `selection_seeds`: where every hyperparameter is
    chosen (None: the profile's; at least two, none of them an evaluation seed). `tune_on`: the α
    at which learning rates are chosen (default: `fractions`). `knobs` (tau, student, teacher, ...) go into every
    config; None means the profile's. `workers`: runs at once (None: $KDLIB_WORKERS, else one per core)."""
    knobs = {k: v for k, v in knobs.items()}
    if dataset == LM_DATASET:
        if recipe is not None:
            raise ConfigError(f"recipe={recipe!r} with dataset={dataset!r}: recipes are for the image datasets")
        p = profile_defaults(profile)["lm"]
        name = LM_DATASET
    else:
        p = profile_defaults(profile, dataset, recipe)
        dataset = p["dataset"]
        knobs.update(dataset=dataset, recipe=recipe)
        name = dataset if p["recipe"] is None else f"{dataset}-{p['recipe']}"
    fractions = sorted(float(f) for f in (p["fractions"] if fractions is None else fractions))
    if seeds is None and n_seeds is None:
        schedule, looks = [int(s) for s in p["seeds"]], tuple(p["looks"])
    else:
        schedule = [int(s) for s in (p["seeds"][:n_seeds] if seeds is None else seeds)]
        looks = (len(schedule),)
    seeds = schedule[:looks[0]]
    selection_seeds = check_selection_seeds(p["selection_seeds"] if selection_seeds is None else selection_seeds,
                                            schedule)
    lr_grid = list(p.get("lr_grid", ()) if lr_grid is None else lr_grid)
    for label, values in (("fractions", fractions), ("seeds", seeds), ("lr_grid", lr_grid)):
        check_nonempty(label, values)
    for lr in lr_grid:
        check_range("lr_grid", lr, low=0, low_open=True)
    dev = resolve_device(device)
    resolve_workers(workers)
    S = Setting(profile, dataset, name, fractions, seeds, schedule, looks, selection_seeds, lr_grid, device, dev,
                results_dir,
                figures_dir, p, knobs,
                kd=None, tune_on=sorted(float(f) for f in (fractions if tune_on is None else tune_on)), workers=workers)
    # every point is validated now, before any training
    for m in ("labels", "kd"):
        for f in S.tune_on + fractions:
            for s in schedule + selection_seeds:
                S.make(method=m, fraction=f, seed=s)
    S.kd = S.make(method="kd", fraction=fractions[-1], seed=seeds[-1])
    check_folder("results_dir", results_dir)  # last: a bad value above leaves nothing behind
    check_folder("figures_dir", figures_dir)
    print(f"profile={profile} dataset={name} device={dev} seeds={seeds}"
          + (f" (then up to {len(schedule)} where a row is open: looks at {', '.join(map(str, looks))})"
             if len(looks) > 1 else "") + f", choices on selection seeds {selection_seeds}, student={S.kd.student} "
          f"teacher={S.kd.teacher} τ={S.kd.tau:g} α grid={fractions}")
    return S

