"""Each claim notebook's figure from its table of runs: what the figure needs is computed here, drawn by kdlib.plots.

One function per figure, `figure(S, df, ...)` -> the matplotlib figure, titled with the setting, its seeds and its
profile; the notebook saves it (`S.save(fig, row.figure)`) and shows it."""
from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F

from . import analysis, plots, reports, signals


def data_efficiency(S, df, rules: dict, row):
    """C1 (and C6-ViT): accuracy, relative gain and efficiency factor per α, per τ rule (`rules`: rule -> its TauRule or label);
    the authors' CIFAR-100 points where our setting is theirs or its MNIST-1D stand-in."""
    rules = reports.labels_of(rules)
    gains = {r: analysis.gain_intervals(df, r, col="row") for r in rules}
    efficiency = {r: analysis.efficiency_interval(df, r, col="row")[0] for r in rules}
    return plots.c1_rules(analysis.summarize(df, by=("row", "fraction")), gains, efficiency, rules, S.teacher_score(df),
                          S.fractions, authors=plots.AUTHORS_C1 if S.dataset in ("mnist1d", "cifar100") else None,
                          df=df, title=f"{row.name} on {S.dataset}: {S.kd.student} students of a {S.kd.teacher} "
                                       f"teacher, {S.seeds_text(df)}, profile {S.profile}")


def label_smoothing(S, df, rule: str):
    """C2 at one τ rule: accuracy and relative gain per α, for labels, label smoothing, two controls and KD."""
    variants = list(reports.C2_VARIANTS)
    return plots.label_smoothing(analysis.summarize(df, by=("variant", "fraction")), analysis.gains(df, variants[1:]),
                                 variants, S.fractions, df=df,
                                 title=f"C2 on {S.dataset}: is KD label smoothing? {S.kd.student} students, "
                                       f"{reports.rule_name(S, rule)}, {S.seeds_text(df)}, profile {S.profile}")


def dark_knowledge(S, df, rule: str, taus: dict, n_examples: int):
    """C3 at one τ rule: each control's relative gain per α, and what each does to `n_examples` test inputs' tempered
    teacher probabilities (at the smallest α's τ; the last input one the teacher gets wrong, where there is one)."""
    data, t = S.data(), S.teacher()  # the examples are drawn from one seed's teacher (S.kd's)
    right = (t.logits["test"].argmax(1) == data.y_test).nonzero().flatten()
    wrong = (t.logits["test"].argmax(1) != data.y_test).nonzero().flatten()
    pick = torch.cat([right[: n_examples - 1], wrong[:1]]) if len(wrong) else right[:n_examples]
    controls = reports.C3_CONTROLS
    tau_shown = taus[S.fractions[0]]
    p, y = F.softmax(t.logits["test"][pick] / tau_shown, 1).cpu(), data.y_test[pick].cpu()
    shown = {"teacher": p}
    shown.update({c: signals.TRANSFORMS[c](p, y, torch.Generator().manual_seed(0)) for c in controls
                  if c in signals.TRANSFORMS})
    shown["random_head"] = F.softmax(t.random_head_logits(data.x_test[pick], 0) / tau_shown, 1).cpu()
    return plots.dark_knowledge(analysis.gains(df, ["kd", *controls]), shown, pick, y, S.fractions, df=df,
                                title=f"C3 on {S.dataset}: dark-knowledge controls, {S.kd.student} students, "
                                      f"{reports.rule_name(S, rule)} (shown: τ = {tau_shown:g}), {S.seeds_text(df)}, "
                                      f"profile {S.profile}")


def temperature(S, df, rows: dict, taus, pair: dict):
    """C4: relative gain per τ row and α (the first look's seeds), the best τ per evaluation seed and the pair."""
    _, heat, best = reports.temperature_tables(S, df, rows, taus, pair)
    return plots.temperature(heat, best, S.fractions, df=df, title=f"C4 on {S.dataset}: temperature × α, "
                                                                   f"{S.kd.student} students, {S.seeds_text(df)}, "
                                                                   f"profile {S.profile}")


def lam(S, df, rows):
    return plots.lam_figure(df, reports.factor_gains(df, rows), rows, S.fractions,
                            f"C5 · λ on {S.dataset}: {S.kd.student} from {S.kd.teacher}, τ = {S.kd.tau:g}, "
                            f"{S.seeds_text(df)}, profile {S.profile}")


def objective(S, df, objectives):
    return plots.rows_figure(df, analysis.summarize(df, by=("row", "fraction")),
                             reports.factor_gains(df, objectives), objectives, S.fractions,
                             f"C5 · objective on {S.dataset}: {S.kd.student} from {S.kd.teacher}, λ = 1, "
                             f"{S.seeds_text(df)}, profile {S.profile}")


def scale(S, df, sizes, pairs: dict, fractions):
    """C5-scale: `pairs`: KD row -> the labels row of its student's architecture."""
    teacher_acc = S.teachers(df[df["row"].isin(pairs)]).set_index("teacher")["mean"]
    return plots.scale_figure(df, analysis.summarize(df, by=("row", "fraction")),
                              reports.factor_gains(df, pairs=pairs), sizes, pairs, teacher_acc,
                              sorted(float(f) for f in fractions),
                              f"C5 · scale on {S.dataset}: solid = self-distillation, dotted = from the largest teacher, "
                              f"dashed = labels; {S.seeds_text(df)}, profile {S.profile}")


def samples(S, df, rows):
    n_teacher, acc_teacher = reports.samples_teachers(df, rows)
    m_of = df.groupby("fraction")["n_train"].mean()  # student samples at each share of the pool
    return plots.samples_figure(df, analysis.summarize(df, by=("row", "fraction")),
                                reports.factor_gains(df, rows), rows, m_of, n_teacher, acc_teacher,
                                f"C5 · relative number of samples on {S.dataset}: {S.kd.student} from "
                                f"{S.kd.teacher}, τ = {S.kd.tau:g}, {S.seeds_text(df)}, profile {S.profile}")


def fidelity(S, df, rows):
    ok = df[df["status"] == "ok"]
    return plots.fidelity(ok, df, ["labels", *rows], S.fractions,
                          f"Fidelity on {S.dataset}: {S.kd.student} students, τ = {S.kd.tau:g}, λ = 1, every run of "
                          f"{S.seeds_text(df)}, profile {S.profile}")


def pitfall(S, df, methods, strong, lam):
    """Pitfall: accuracy per κ, and each method minus vanilla KD per seed; the κ outside the strong-teacher regime
    shaded."""
    kappa_of, _, n_teacher = reports.kappas(df)
    diffs = {m: [reports.minus_vanilla(df, m, f) for f in S.fractions] for m in methods if m != "vanilla KD"}
    return plots.pitfall(analysis.summarize(df, by=("row", "fraction")), diffs, ["labels", *methods], kappa_of,
                         S.fractions, df=df, weak=[f for f in S.fractions if f not in strong],
                         title=f"Small-data pitfall on {S.dataset}: {S.kd.student} from {S.kd.teacher} "
                               f"(teacher on N={n_teacher}), λ = {lam:g}, τ = {reports.kd_tau(df):g}, {S.seeds_text(df)}, "
                               f"profile {S.profile}")


def pitfall_table(S, df, methods) -> pd.DataFrame:
    """Each method's accuracy minus vanilla KD's per κ: mean ± sd over seeds, in points."""
    kappa_of, _, _ = reports.kappas(df)
    diffs = {m: [reports.minus_vanilla(df, m, f) for f in S.fractions] for m in methods if m != "vanilla KD"}
    return pd.DataFrame({m: [f"{100 * d.mean():+.1f} ± {100 * d.std():.1f}" for d in ds] for m, ds in diffs.items()},
                        index=[f"κ={kappa_of[f]:.2g}" for f in S.fractions])


def language(S, df):
    """C6-LM: perplexity per α (teacher dashed), KD's relative gain in perplexity, bits per character."""
    ppl = analysis.summarize(df, "test_ppl")
    curves = {m: ppl[ppl.method == m].sort_values("fraction") for m in ("labels", "kd")}
    gain = analysis.relative_gain(df, "kd", metric="test_ppl", higher_is_better=False)
    return plots.language(curves, gain, analysis.summarize(df, "test_bpc"), analysis.summarize(df, "train_bpc"),
                          S.teacher_score(df), S.fractions, df=df,
                          title=f"C6 on Shakespeare (characters): {S.kd.student} students of a {S.kd.teacher} "
                                f"teacher, τ = {S.kd.tau:g}, {S.seeds_text(df)}, profile {S.profile}")


def fidelity_table(df) -> pd.DataFrame:
    """Per row and α: agreement and predictive KL with the teacher (train and test), accuracy, the teacher's."""
    metrics = ["train_agreement", "test_agreement", "train_kl_teacher", "test_kl_teacher", "test_acc", "teacher_test_acc"]
    return df[df["status"] == "ok"].groupby(["row", "fraction"])[metrics].mean().round(3)


def language_table(df) -> pd.DataFrame:
    """Per α and method: test perplexity (mean ± sd over seeds), test and train bits per character."""
    ppl, bpc, fit = (analysis.summarize(df, m) for m in ("test_ppl", "test_bpc", "train_bpc"))
    shown = ppl.assign(ppl=[f"{m:.2f} ± {s:.2f}" for m, s in zip(ppl["mean"], ppl["std"].fillna(0))],
                       bpc=[f"{m:.3f}" for m in bpc["mean"]], train_bpc=[f"{m:.3f}" for m in fit["mean"]])
    return shown.pivot(index="fraction", columns="method", values=["ppl", "bpc", "train_bpc"])


def features_table(df) -> pd.DataFrame:
    """Per row and α: test accuracy and C7's feature metrics, means over seeds."""
    return df[df["status"] == "ok"].groupby(["row", "fraction"])[["test_acc", *reports.C7_FEATURES]].mean().round(3)


def features(S, df, students: dict):
    """C7: per student (name -> its setting), CKA with the teacher and NC1 per α, and their change against the
    accuracy gain per (α, seed) pair."""
    pairs = {name: analysis.seed_pairs(df, f"{name}:kd", f"{name}:labels") for name in students}
    return plots.features(df, {name: T.fractions for name, T in students.items()}, pairs,
                          title=f"C7 on {S.dataset}: {' and '.join(students)} students of a {S.kd.teacher} teacher, "
                                f"{S.seeds_text(df)}, profile {S.profile}")
