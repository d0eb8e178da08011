"""Each scoreboard row's settings and report, declared once: what its d reads, and what it records.

A row's d is declared in words in `kdlib.claims` (the declaring file, which this module does not change). Here, per
row, in `CONTEXT`: the settings its d reads, built from the notebook's parameters (`S.decide(row, spec, **params)`
asks for them); and in `REPORTS`: the numbers the scoreboard keeps and the sentence readers get
(`S.verdict(row, df, figure=paths, **context)`). Plain functions keyed by row, in `claims.CLAIMS`' order; each gets
the notebook's setting `S`, the row's name and its table of runs. Every number's key has one grammar,
`metric[setting]@where` (`key`); the rounding is the scoreboard's since kdlib 0.5 (tests/test_reports.py rebuilds a
report by hand)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import analysis, claims, plots
from .analysis import gain_intervals, efficiency_interval


@dataclass(frozen=True)
class Fixed:
    """A row decided without an interval (C4 when one τ is best at both ends): its outcome and why."""
    outcome: str
    reason: str


def base_of(row: str) -> str:
    """The declaration a row belongs to ("C2 (τ = 4)" -> "C2", "C6-ViT from vit-small" -> "C6-ViT")."""
    return claims.claim_for(row).key


def ends(S) -> tuple:
    return S.fractions[0], S.fractions[-1]


def rule_name(S, rule: str) -> str:
    """C2's and C3's τ rules as readers see them."""
    return {"validation": "τ chosen on validation", "fixed": f"τ = {S.kd.tau:g}"}[rule]


def labels_of(rules: dict) -> dict:
    """rule -> its label, from TauRules (kdlib.notebook) or labels."""
    return {r: getattr(v, "label", v) for r, v in rules.items()}


def key(metric: str, setting=None, at=None) -> str:
    """The scoreboard's one key grammar, `metric[setting]@where`: what was measured, of which row, rule, method or
    student (optional), and where (optional): an α as a number, or `κ=…` on the pitfall's axis."""
    where = "" if at is None else f"@{at:g}" if isinstance(at, (int, float)) else f"@{at}"
    return metric + ("" if setting is None else f"[{setting}]") + where


def r4(x) -> float:
    return round(float(x), 4)


def pct(x) -> str:
    return f"{100 * x:+.1f}%"


def span(lo, hi) -> str:
    return f"[{pct(lo)}, {pct(hi)}]"


C2_CONTROLS = ("ls", "smoothed_onehot", "matched_smoothing")
C2_VARIANTS = ("labels", "ls", "smoothed_onehot", "matched_smoothing", "kd")
C3_CONTROLS = ("permuted_dark", "matched_smoothing", "argmax", "conditional", "random_head")
C3_VARIANTS = ("labels", "kd") + C3_CONTROLS
C3_SETTINGS = ("matched_smoothing", "permuted_dark")  # the main control first (kdlib.claims: C3)


# ---- what each row's d reads (kdlib.claims' contexts), from the notebook's parameters

def gain_pair(S, row="validation", baseline="labels") -> dict:
    """C1's d for one row against its baseline, between the setting's two ends (C1, C6-ViT, C6-LM)."""
    lo, hi = ends(S)
    return dict(settings={row: (row, baseline)}, lo=lo, hi=hi)


def language_context(S) -> dict:
    return dict(gain_pair(S, "kd"), metric="test_ppl", higher_is_better=False)


def controls_context(S, controls) -> dict:
    """C2 and C3: KD's relative gain minus each control's, at the smallest α."""
    return dict(settings=list(controls), lo=S.fractions[0])


def label_smoothing_context(S) -> dict:
    return controls_context(S, C2_CONTROLS)


def dark_knowledge_context(S) -> dict:
    return controls_context(S, C3_SETTINGS)


def tau_pair_context(S, pair: dict, rows: dict):
    """C4: the τ chosen for the smallest α and the one chosen for α = 1 (`pair`: α -> row name), each at its own end:
    acc(τ_lo, lo) − acc(τ_hi, lo) − acc(τ_lo, hi) + acc(τ_hi, hi). One τ chosen at both ends decides it: contradicted."""
    lo, hi = ends(S)
    (row_lo, row_hi) = pair[lo], pair[hi]
    tau_lo, tau_hi = rows[row_lo]["tau"], rows[row_hi]["tau"]
    if tau_lo == tau_hi:
        return Fixed("contradicted", "one τ is best at both ends")
    terms = [(1, row_lo, lo, "test_acc"), (-1, row_hi, lo, "test_acc"), (-1, row_lo, hi, "test_acc"),
             (1, row_hi, hi, "test_acc")]
    return dict(settings={f"τ {tau_lo:g} vs {tau_hi:g}": [(0.0, terms)]})


def factor_context(S, rows, at, baseline="labels") -> dict:
    """A C5 factor: C1's d per setting, each row against its baseline row (a name, or row -> its baseline)."""
    base = baseline if isinstance(baseline, dict) else {r: baseline for r in rows}
    return dict(settings={r: (r, base[r]) for r in rows}, lo=min(at), hi=max(at))


def fidelity1_context(S, added_inputs=None) -> dict:
    """0.99 − the self-distilled student's train agreement at α = 1; its counts (n_train per seed) give an exact test
    where every seed agrees the same."""
    hi = S.fractions[-1]
    return dict(settings={f"self-distillation, α = {hi:g}": (0.99, "self-distillation", hi, "train_agreement",
                                                             "n_train")})


def fidelity2_context(S, added_inputs) -> dict:
    """Stanton et al.'s own comparison, declared in one direction: added inputs against self-distillation."""
    return dict(settings=claims.fidelity2_settings(added_inputs, S.fractions))


def fidelity3_context(S, added_inputs) -> dict:
    return dict(settings={f"+ {a} inputs, α = {f:g}": [(0.0, [(1, f"+ {a} inputs", f, "test_agreement"),
                                                             (-1, "self-distillation", f, "test_agreement")])]
                          for a in added_inputs for f in S.fractions})


def pitfall_context(S, methods, strong) -> dict:
    """DKD and DIST must beat vanilla KD at the smallest κ and lose that edge by the largest κ of the strong-teacher
    regime (`strong`), deep supervision keep an edge there (`claims.pitfall_settings`)."""
    lo, hi = S.fractions[0], max(strong, default=S.fractions[0])
    return dict(settings=claims.pitfall_settings(methods, lo, hi))


def alignment_context(S, students: dict) -> dict:
    """Per student (name -> its setting): KD's CKA minus labels' at its smallest α; and that minus the same at α = 1."""
    out = {}
    for name, T in students.items():
        lo, hi = ends(T)
        out[name] = [(0, [(1, f"{name}:kd", lo, "test_cka"), (-1, f"{name}:labels", lo, "test_cka")]),
                     (0, [(1, f"{name}:kd", lo, "test_cka"), (-1, f"{name}:labels", lo, "test_cka"),
                          (-1, f"{name}:kd", hi, "test_cka"), (1, f"{name}:labels", hi, "test_cka")])]
    return dict(settings=out)


def collapse_context(S, students: dict) -> dict:
    """Per student: ln(NC1 of KD ÷ NC1 of labels) at its smallest α."""
    return dict(settings={name: (f"{name}:kd", f"{name}:labels", T.fractions[0], "train_nc1")
                          for name, T in students.items()})


CONTEXT = {"C1": gain_pair, "C6-ViT": gain_pair, "C2": label_smoothing_context, "C3": dark_knowledge_context, "C4": tau_pair_context,
           "C5-lambda": factor_context, "C5-objective": factor_context, "C5-scale": factor_context,
           "C5-samples": factor_context, "C6-LM": language_context, "Fidelity-1": fidelity1_context,
           "Fidelity-2": fidelity2_context, "Fidelity-3": fidelity3_context, "Pitfall": pitfall_context,
           "C7-alignment": alignment_context, "C7-collapse": collapse_context}


# ---- what each row records: (numbers, summary for the scoreboard, what is shown above the verdict: text, or a list
# of texts and tables)

def data_efficiency(S, row, df, rules: dict, chosen: dict):
    """C1 and C6-ViT. `rules`: rule -> its label (or its TauRule); `chosen`: α -> the validation rule's τ candidate."""
    rules = labels_of(rules)
    lo, hi = ends(S)
    summary = analysis.summarize(df, by=("row", "fraction"))
    labels_acc = summary[summary.row == "labels"].set_index("fraction")["mean"]
    teachers = S.teachers(df)
    t_mean, t_sd, t_n = (float(teachers["mean"].iloc[0]), float(teachers["sd"].fillna(0).iloc[0]),
                         int(teachers["seeds"].iloc[0]))
    numbers = {"teacher_acc": round(t_mean, 4), "teacher_acc_sd": round(t_sd, 4), "teacher_seeds": t_n,
               key("acc", "labels", lo): r4(labels_acc[lo]), key("acc", "labels", hi): r4(labels_acc[hi])}
    numbers.update({key("tau_chosen", at=f): chosen[f].replace("τ=", "") for f in S.fractions})
    lines, efficiency = [], {}
    for r in rules:
        g = gain_intervals(df, r, col="row").set_index("fraction")
        table, eff = efficiency[r] = efficiency_interval(df, r, col="row")
        acc = summary[summary.row == r].set_index("fraction")["mean"]
        numbers.update({key("gain", r, lo): r4(g.loc[lo, "mean"]), key("gain_ci", r, lo): [r4(g.loc[lo, "low"]), r4(g.loc[lo, "high"])],
                        key("gain", r, hi): r4(g.loc[hi, "mean"]), key("gain_ci", r, hi): [r4(g.loc[hi, "low"]), r4(g.loc[hi, "high"])],
                        key("acc", r, lo): r4(acc[lo]), key("acc", r, hi): r4(acc[hi]),
                        key("efficiency_median", r): r4(eff["median"]), key("efficiency_ci", r): [r4(eff["low"]), r4(eff["high"])]})
        lines.append(f"{rules[r]}: gain {pct(g.loc[lo, 'mean'])} {span(g.loc[lo, 'low'], g.loc[lo, 'high'])} at α = {lo:g}, "
                     f"{pct(g.loc[hi, 'mean'])} {span(g.loc[hi, 'low'], g.loc[hi, 'high'])} at α = 1 (95% intervals, "
                     f"{int(g.loc[lo, 'n_seeds'])} and {int(g.loc[hi, 'n_seeds'])} seeds); efficiency factor (median over α) "
                     f"{eff['median']:.2f}× [{eff['low']:.2f}, {eff['high']:.2f}]")
    # the authors' CIFAR-100 figure beside ours at matched α, in accuracy points and efficiency factor (relative gains
    # do not carry across datasets with other chance levels; their points are read off a figure, about ±1 point each)
    versus = (analysis.authors_comparison(df, "paper", efficiency["paper"][0], plots.AUTHORS_C1) if "paper" in rules
              else pd.DataFrame())
    for _, v in versus.iterrows():
        at = f"κ={v.kappa:g}"  # their κ, matched to our α
        numbers.update({key("alpha", "authors", at): v.alpha, key("ours_points", "authors", at): r4(v.ours_points),
                        key("theirs_points", "authors", at): r4(v.theirs_points),
                        key("ours_efficiency", "authors", at): r4(v.ours_factor),
                        key("theirs_efficiency", "authors", at): r4(v.theirs_factor)})
    text = ["\n".join(lines + [f"τ chosen on validation per α: {', '.join(f'{f:g}: {chosen[f]}' for f in S.fractions)}."])]
    if len(versus):
        text.append(versus.round(2))  # a table, displayed
    summary_text = (f"Teachers {t_mean:.3f} ± {t_sd:.3f} ({t_n} seeds, one each); labels {labels_acc[lo]:.3f} at α = {lo:g}. "
                    + " ".join(l + "." for l in lines)
                    + f" τ chosen per α: {', '.join(f'{f:g} → {chosen[f]}' for f in S.fractions)}."
                    + "".join(f" At α = {v.alpha:g} (their κ = {v.kappa:g}), KD − labels at T = 100: ours {v.ours_points:+.1f} "
                              f"points [{v.ours_points_low:+.1f}, {v.ours_points_high:+.1f}], theirs (CIFAR-100, read off) "
                              f"{v.theirs_points:+.1f} ± {v.theirs_points_pm:.0f}; efficiency factor ours {v.ours_factor:.2f}×, "
                              f"theirs {v.theirs_factor:.2f}× [{v.theirs_factor_low:.2f}, {v.theirs_factor_high:.2f}]."
                              for v in versus.iloc[:1].itertuples()))
    return numbers, summary_text, text


def label_smoothing(S, row, df, rule: str, taus: dict):
    """C2 (a row per τ rule; `taus`: α -> that rule's τ)."""
    lo, hi = ends(S)
    name = rule_name(S, rule)
    gains = analysis.gains(df, list(C2_VARIANTS[1:]))
    kd_g = analysis.seed_gains(df, "kd", lo, col="variant")
    numbers = {key("gain", "kd", lo): round(float(kd_g.mean()), 4)}
    numbers.update({key("tau", at=f): taus[f] for f in S.fractions})
    lines = []
    for c in C2_CONTROLS:
        g = analysis.seed_gains(df, c, lo, col="variant")
        numbers[key("gain", c, lo)] = round(float(g.mean()), 4)
        numbers[key("share_of_kd_gain", c, lo)] = round(float(g.mean() / kd_g.mean()), 3) if kd_g.mean() != 0 else None
        lines.append(f"{name} · {plots.LABELS[c]:32s} gain at α={lo:g}: {100 * g.mean():5.1f}% "
                     f"(share of KD's {100 * kd_g.mean():.1f}%: {numbers[key('share_of_kd_gain', c, lo)]})")
    for v, g in gains.items():
        numbers[key("gain", v, hi)] = round(float(g["gain_mean"].iloc[-1]), 4)
    parts = S.judgements[row]["settings"]
    summary_text = (f"{name} (per α: {', '.join(f'{f:g} → {taus[f]:g}' for f in S.fractions)}). "
                    f"At α = {lo:g} KD gains {100 * kd_g.mean():+.1f}% over labels; "
                    + "; ".join(f"{plots.LABELS[c]} {100 * numbers[key('gain', c, lo)]:+.1f}% (KD − it: "
                                f"{100 * parts[c]['mean']:+.1f} points, {parts[c]['outcome']})" for c in C2_CONTROLS) + ".")
    at_hi = analysis.summarize(df, by=("variant", "fraction")).query("fraction == @hi")
    best = at_hi.sort_values("mean").iloc[-1]
    lines.append(f"  also measured: at α = {hi:g} the most accurate student is {plots.LABELS[best.variant]} "
                 f"({best['mean']:.3f}); KD reaches {at_hi[at_hi.variant == 'kd']['mean'].iloc[0]:.3f}.")
    return numbers, summary_text, "\n".join(lines)


def dark_knowledge(S, row, df, rule: str, taus: dict):
    """C3 (a row per τ rule; `taus`: α -> that rule's τ)."""
    lo, hi = ends(S)
    name = rule_name(S, rule)
    gains = analysis.gains(df, ["kd", *C3_CONTROLS])
    kd_g = analysis.seed_gains(df, "kd", lo, col="variant")
    numbers = {key("gain", "kd", lo): round(float(kd_g.mean()), 4),
               key("gain", "kd", hi): round(float(gains["kd"]["gain_mean"].iloc[-1]), 4)}
    numbers.update({key("tau", at=f): taus[f] for f in S.fractions})
    lines = []
    for c in C3_CONTROLS:
        g = analysis.seed_gains(df, c, lo, col="variant")
        share = float(g.mean() / kd_g.mean()) if kd_g.mean() != 0 else float("nan")
        numbers[key("gain", c, lo)] = round(float(g.mean()), 4)
        numbers[key("share_of_kd_gain", c, lo)] = round(share, 3)
        numbers[key("gain", c, hi)] = round(float(gains[c]["gain_mean"].iloc[-1]), 4)
        lines.append(f"{name} · {plots.LABELS[c]:32s} gain at α={lo:g}: {100 * g.mean():6.1f}% ± {100 * g.std():4.1f}%   "
                     f"share of KD's gain ({100 * kd_g.mean():.1f}%): {share:6.2f}   at α={hi:g}: "
                     f"{100 * numbers[key('gain', c, hi)]:.1f}%")
    summary_text = (f"{name} (per α: {', '.join(f'{f:g} → {taus[f]:g}' for f in S.fractions)}). "
                    f"At α = {lo:g} KD gains {100 * kd_g.mean():+.1f}% over labels; share of it each control keeps: "
                    + ", ".join(f"{plots.LABELS[c]} {numbers[key('share_of_kd_gain', c, lo)]:.2f}" for c in C3_CONTROLS)
                    + ".")
    return numbers, summary_text, "\n".join(lines)


def temperature_tables(S, df, rows: dict, taus, pair: dict):
    """C4's tables on the first look's runs: the relative gain per row and α (`heat`), and per α the best τ on each
    evaluation seed's validation accuracy (lower median, so always a grid value; min, max), the accuracy range across
    τ, and the τ chosen on the selection seeds (`pair`)."""
    df = df[df["seed"].isin(S.seeds)]
    gain = pd.concat([analysis.relative_gain(df, name, col="row").assign(row=name) for name in rows])
    heat = gain.pivot(index="row", columns="fraction", values="gain_mean").loc[list(rows)]
    sym = df[df["row"].isin([f"τ={t:g}" for t in taus]) & (df["status"] == "ok")]
    best_per_seed = sym.loc[sym.groupby(["fraction", "seed"])["val_acc"].idxmax(), ["fraction", "seed", "tau"]]
    best = best_per_seed.groupby("fraction")["tau"].agg(median=lower_median, min="min", max="max")
    acc = analysis.summarize(sym, by=("tau", "fraction")).pivot(index="tau", columns="fraction", values="mean")
    best["effect (acc range across τ)"] = acc.max() - acc.min()
    best["chosen on selection seeds"] = pd.Series({f: rows[name]["tau"] for f, name in pair.items()})
    return gain, heat, best


def lower_median(values):
    return values.quantile(0.5, interpolation="lower")


def temperature(S, row, df, rows: dict, taus, pair: dict):
    """C4. `rows`: row name -> its KD knobs; `pair`: the smallest α and α = 1 -> the row chosen there."""
    lo, hi = ends(S)
    _, heat, best = temperature_tables(S, df, rows, taus, pair)
    tau_lo, tau_hi = rows[pair[lo]]["tau"], rows[pair[hi]]["tau"]
    eff_lo, eff_hi = float(best.loc[lo, "effect (acc range across τ)"]), float(best.loc[hi, "effect (acc range across τ)"])
    numbers = {key("tau_chosen", at=lo): tau_lo, key("tau_chosen", at=hi): tau_hi,
               key("tau_effect", at=lo): round(eff_lo, 4), key("tau_effect", at=hi): round(eff_hi, 4)}
    for name in rows:
        numbers[key("gain", name, lo)] = round(float(heat.loc[name, lo]), 4)
        numbers[key("gain", name, hi)] = round(float(heat.loc[name, hi]), 4)
    summary_text = (f"τ pair chosen on the selection seeds' validation accuracy: {tau_lo:g} at α = {lo:g}, {tau_hi:g} at α = {hi:g}. Accuracy range across τ: "
                    f"{100 * eff_lo:.1f} points at α = {lo:g}, {100 * eff_hi:.1f} at α = {hi:g}. Relative gain over labels "
                    f"at α = {lo:g}: " + ", ".join(f"{name} {100 * heat.loc[name, lo]:+.1f}%" for name in rows) + ".")
    text = (f"τ pair (selection seeds): {tau_lo:g} at α={lo:g}, {tau_hi:g} at α={hi:g}; best τ per evaluation seed: "
            f"{best.loc[lo, 'median']:g} at α={lo:g} (seeds {best.loc[lo, 'min']:g}–{best.loc[lo, 'max']:g}), "
            f"{best.loc[hi, 'median']:g} at α={hi:g} (seeds {best.loc[hi, 'min']:g}–{best.loc[hi, 'max']:g}).\n"
            f"Effect of τ (accuracy range): {100 * eff_lo:.1f} points at α={lo:g}, {100 * eff_hi:.1f} at α={hi:g}.")
    return numbers, summary_text, text


def factor_gains(df, rows=None, pairs=None) -> dict:
    """A C5 factor's relative gains per setting: each row against labels, or (C5-scale, `pairs`: row -> its labels
    row) each KD student against labels of its own architecture."""
    if pairs is not None:
        return {r: analysis.relative_gain(df, r, b, col="row") for r, b in pairs.items()}
    return analysis.gains(df, rows, col="row")


def factor(S, row, df, rows=None, pairs=None, at="α"):
    """A C5 factor: the gains per setting and α, and the sentence (`at`: what the x axis is)."""
    gain = factor_gains(df, rows, pairs)
    j = S.judgements[row]
    numbers = {key("gain", r, f): round(float(x), 4) for r in gain
               for f, x in gain[r].set_index("fraction")["gain_mean"].items()}
    first = gain[next(iter(gain))]["fraction"]
    lo, hi = min(first), max(first)

    def g_at(r, f):
        return 100 * float(gain[r].set_index("fraction")["gain_mean"][f])

    summary_text = "; ".join(f"{r}: gain {g_at(r, lo):+.1f}% at {at} = {lo:g}, {g_at(r, hi):+.1f}% at {hi:g} "
                             f"({j['settings'][r]['outcome']})" for r in gain) + "."
    return numbers, summary_text, ""


def scale(S, row, df, pairs: dict):
    """C5-scale: `factor`, and each size's teachers' mean test accuracy."""
    numbers, summary_text, _ = factor(S, row, df, pairs=pairs)
    teacher_acc = S.teachers(df[df["row"].isin(pairs)]).set_index("teacher")["mean"]
    return {**numbers, **{key("teacher_acc", t): round(float(a), 4) for t, a in teacher_acc.items()}}, summary_text, ""


def samples_teachers(df, rows):
    """C5-samples: per row, its teachers' training-set size, and their mean test accuracy (each teacher once)."""
    kd = df[df["row"].isin(rows)]
    n_teacher = kd.groupby("row")["teacher_n_train"].first()
    acc_teacher = kd.drop_duplicates(["row", "teacher_seed"]).groupby("row")["teacher_test_acc"].mean()
    return n_teacher, acc_teacher


def samples(S, row, df, rows):
    numbers, summary_text, _ = factor(S, row, df, rows=rows, at="share of the pool")
    n_teacher, acc_teacher = samples_teachers(df, rows)
    return ({**numbers, **{key("teacher_n", r): int(n_teacher[r]) for r in rows},
             **{key("teacher_acc", r): round(float(acc_teacher[r]), 4) for r in rows}}, summary_text, "")


def language(S, row, df):
    """C6-LM: perplexities and bits per character at both ends, the relative gain in perplexity (mean ± std)."""
    smallest, largest = ends(S)
    gain = analysis.relative_gain(df, "kd", metric="test_ppl", higher_is_better=False)
    ppl, bpc = analysis.summarize(df, "test_ppl"), analysis.summarize(df, "test_bpc")
    curves = {m: ppl[ppl.method == m].sort_values("fraction") for m in ("labels", "kd")}
    v = analysis.verdict_growing_gain(gain, df, "kd", metric="test_ppl", higher_is_better=False)
    lo, hi = curves["labels"].iloc[0], curves["labels"].iloc[-1]
    klo, khi = curves["kd"].iloc[0], curves["kd"].iloc[-1]
    teacher = S.teacher_score(df)
    numbers = {
        key("gain", "kd", smallest): round(v["gain_smallest"], 4), key("gain_sd", "kd", smallest): round(v["gain_smallest_std"], 4),
        key("gain", "kd", largest): round(v["gain_largest"], 4), key("gain_sd", "kd", largest): round(v["gain_largest_std"], 4),
        key("test_ppl", "labels", smallest): round(float(lo["mean"]), 3), key("test_ppl", "kd", smallest): round(float(klo["mean"]), 3),
        key("test_ppl", "labels", largest): round(float(hi["mean"]), 3), key("test_ppl", "kd", largest): round(float(khi["mean"]), 3),
        key("test_bpc", "labels", smallest): round(float(bpc[(bpc.method == "labels")].sort_values("fraction")["mean"].iloc[0]), 4),
        key("test_bpc", "kd", smallest): round(float(bpc[(bpc.method == "kd")].sort_values("fraction")["mean"].iloc[0]), 4),
        "teacher_ppl": round(teacher, 3), "alpha_smallest": smallest,
    }
    ppls = (f"Test perplexity at α = {smallest:g}: labels {lo['mean']:.2f}, KD {klo['mean']:.2f}; at α = "
            f"{largest:g}: labels {hi['mean']:.2f}, KD {khi['mean']:.2f} (teachers {teacher:.2f}, mean over seeds).")
    summary_text = (ppls + f" Relative gain of KD in perplexity: {100 * v['gain_smallest']:+.1f}% ± "
                    f"{100 * v['gain_smallest_std']:.1f}% at α = {smallest:g}, {100 * v['gain_largest']:+.1f}% ± "
                    f"{100 * v['gain_largest_std']:.1f}% at α = {largest:g} (mean ± std over seeds).")
    return numbers, summary_text, summary_text


def fidelity_rows(ensemble_members, added_inputs) -> dict:
    """Notebook 06's rows: row name -> its KD knobs (self-distillation, an ensemble teacher, added inputs)."""
    rows = {"self-distillation": {}, f"ensemble of {ensemble_members}": dict(teacher_members=int(ensemble_members))}
    rows.update({f"+ {a} inputs": dict(distill_data=a) for a in added_inputs})
    return rows


def _per_seed(ok, name, f, metric):
    return ok[(ok["row"] == name) & (ok["fraction"] == f)].set_index("seed")[metric]


def _mean(ok, name, f, metric):
    return round(float(_per_seed(ok, name, f, metric).mean()), 4)


def fidelity1(S, row, df, rows, added_inputs=None):
    ok, (lo, hi) = df[df["status"] == "ok"], ends(S)
    names = ["labels", *rows]
    numbers = {key("train_agreement", n, f): _mean(ok, n, f, "train_agreement") for n in names for f in (lo, hi)}
    numbers.update({key("train_kl_teacher", n, f): _mean(ok, n, f, "train_kl_teacher") for n in rows for f in (lo, hi)})
    summary_text = (f"Train agreement of the self-distilled student at α = {hi:g}: "
                    f"{100 * _per_seed(ok, 'self-distillation', hi, 'train_agreement').mean():.2f}% "
                    f"(test {100 * _per_seed(ok, 'self-distillation', hi, 'test_agreement').mean():.1f}%).")
    return numbers, summary_text, f"{row}: {summary_text}"


def fidelity2(S, row, df, rows, added_inputs=None):
    ok, (lo, hi) = df[df["status"] == "ok"], ends(S)
    j = S.judgements[row]
    counter = [name for name, s in j["settings"].items() if s["outcome"] == "reproduced"]
    numbers = {key(m, n, f): _mean(ok, n, f, m) for n in rows for f in (lo, hi) for m in ("test_agreement", "test_acc")}
    summary_text = (f"{len(counter)} counter-example(s) among {len(j['settings'])} declared pairs "
                    f"(added inputs against self-distillation, per α; Holm over them); outcomes of the pairs: "
                    + ", ".join(f"{c} {o}" for o, c in j["counts"].items()) + "."
                    + "".join(f" {name}: the first agrees more and is less accurate." for name in counter))
    return numbers, summary_text, f"{row}: {summary_text}"


def fidelity3(S, row, df, rows, added_inputs):
    ok = df[df["status"] == "ok"]
    settings = S.judgements[row]["settings"]
    numbers = {key("acc_gain", a, f): round(_mean(ok, f"+ {a} inputs", f, "test_acc")
                                             - _mean(ok, "self-distillation", f, "test_acc"), 4)
               for a in added_inputs for f in S.fractions}
    summary_text = "; ".join(f"+ {a} inputs at α = {f:g}: agreement {100 * s['mean']:+.1f} points ({s['outcome']}), "
                             f"accuracy {100 * numbers[key('acc_gain', a, f)]:+.1f}"
                             for a in added_inputs for f in S.fractions
                             for s in [settings[f"+ {a} inputs, α = {f:g}"]]) + "."
    return numbers, summary_text, f"{row}: {summary_text}"


PITFALL_METHODS = {"vanilla KD": dict(objective="forward_kl"), "DKD": dict(objective="dkd"),
                   "DIST": dict(objective="dist"),
                   "KD + deep supervision": dict(objective="forward_kl", aux_heads=True)}


def minus_vanilla(df, m, f):
    """A method's test accuracy minus vanilla KD's, per seed, at share `f` of the pool."""
    ok = df[df["status"] == "ok"]
    a = ok[(ok["row"] == m) & (ok["fraction"] == f)].set_index("seed")["test_acc"]
    b = ok[(ok["row"] == "vanilla KD") & (ok["fraction"] == f)].set_index("seed")["test_acc"]
    return (a - b).dropna()


def kd_tau(df) -> float:
    """The τ the pitfall's methods distil at (its vanilla KD runs')."""
    return float(df[df["row"] == "vanilla KD"]["tau"].iloc[0])


def kappa(kappa_of, f) -> str:
    """The pitfall's `where` in a key: κ at share `f` of the pool, two significant digits."""
    return f"κ={kappa_of[f]:.2g}"


def kappas(df):
    """The pitfall's κ = M/N per share of the pool (N: the KD teachers' training set), with M and N."""
    ok = df[df["status"] == "ok"]
    n_teacher = int(ok[ok["row"] == "vanilla KD"]["teacher_n_train"].iloc[0])
    m_of = ok.groupby("fraction")["n_train"].mean()
    return m_of / n_teacher, m_of, n_teacher


def pitfall(S, row, df, methods, strong, lam):
    """Pitfall. `strong`: the shares of the pool in the strong-teacher regime (`S.teacher_regime`)."""
    ok = df[df["status"] == "ok"]
    kappa_of, _, n_teacher = kappas(df)
    acc = analysis.summarize(df, by=("row", "fraction")).pivot(index="fraction", columns="row", values="mean")
    lo, hi = S.fractions[0], max(strong, default=S.fractions[0])
    parts = S.judgements[row]["settings"]
    tau = kd_tau(df)
    teacher_acc = float(S.teachers(ok[ok["row"] == "vanilla KD"])["mean"].iloc[0])  # the KD rows' teachers
    weak = [f for f in S.fractions if f not in strong]  # the teacher below label training: outside the verdict
    numbers = {"teacher_n": n_teacher, "teacher_acc": round(teacher_acc, 4),
               "kappa_smallest": round(float(kappa_of[lo]), 4), "kappa_judged_largest": round(float(kappa_of[hi]), 4),
               "kappa_largest": round(float(kappa_of[S.fractions[-1]]), 4),
               "kappa_weak_teacher": [round(float(kappa_of[f]), 4) for f in weak]}
    for m in methods:
        numbers[key("acc", m, kappa(kappa_of, lo))] = round(float(acc.iloc[0][m]), 4)
        numbers[key("acc", m, kappa(kappa_of, S.fractions[-1]))] = round(float(acc.iloc[-1][m]), 4)
        if m != "vanilla KD":
            numbers[key("minus_vanilla", m, kappa(kappa_of, lo))] = round(float(minus_vanilla(df, m, lo).mean()), 4)
            numbers[key("minus_vanilla", m, kappa(kappa_of, hi))] = round(float(minus_vanilla(df, m, hi).mean()), 4)
            numbers.update({key("minus_vanilla", m, kappa(kappa_of, f)): round(float(minus_vanilla(df, m, f).mean()), 4)
                            for f in weak})
    summary_text = (f"Teacher on N = {n_teacher} ({teacher_acc:.3f}); λ = {lam:g}, τ = {tau:g}. Accuracy minus vanilla KD's, "
                    f"κ = {kappa_of[lo]:.2g} → {kappa_of[hi]:.2g} (the largest κ where the teacher is not below label "
                    f"training on validation): "
                    + "; ".join(f"{m} {100 * minus_vanilla(df, m, lo).mean():+.1f} → {100 * minus_vanilla(df, m, hi).mean():+.1f} "
                                f"points ({parts[m]['outcome']})" for m in methods if m in parts) + "."
                    + (f" Outside the verdict (teacher below label training): κ = {', '.join(f'{kappa_of[f]:.2g}' for f in weak)}, where "
                       + "; ".join(f"{m} {', '.join(f'{100 * minus_vanilla(df, m, f).mean():+.1f}' for f in weak)} points"
                                   for m in methods if m != "vanilla KD") + "." if weak else ""))
    return numbers, summary_text, summary_text


C7_FEATURES = ("test_cka", "train_nc1", "test_nc1", "train_nc2", "test_nc2")  # what notebook 10 reads of every run
C7_METRICS = {"C7-alignment": ("test_cka",), "C7-collapse": ("train_nc1", "test_nc1", "train_nc2", "test_nc2")}


def features(S, row, df, students: dict):
    """C7-alignment and C7-collapse: per student, the row's metrics at both ends, the correlation of its change with
    the accuracy gain over (α, seed) pairs, and what the metrics cost."""
    ok = df[df["status"] == "ok"]
    means = ok.groupby(["row", "fraction"])[["test_acc", *C7_FEATURES]].mean()
    numbers, lines = {}, []
    for name, T in students.items():
        lo, hi = ends(T)
        for m in ("labels", "kd"):
            for f in (lo, hi):
                numbers.update({key(metric, f"{name}:{m}", f): r4(means.loc[(f"{name}:{m}", f), metric])
                                for metric in C7_METRICS[row]})
        p = analysis.seed_pairs(df, f"{name}:kd", f"{name}:labels")
        gain = (p["test_acc"] - p["test_acc_base"]) / p["test_acc_base"]

        def at(m, f, metric):
            return means.loc[(f"{name}:{m}", f), metric]

        if row == "C7-alignment":
            r = float(np.corrcoef(gain, p["test_cka"] - p["test_cka_base"])[0, 1])
            numbers.update({key("r_cka_gain_vs_acc_gain", name): r4(r), key("pairs", name): len(p)})
            lines.append(
                f"{name}: CKA with the teacher, labels {at('labels', lo, 'test_cka'):.3f} → KD {at('kd', lo, 'test_cka'):.3f} "
                f"at α = {lo:g}, labels {at('labels', hi, 'test_cka'):.3f} → KD {at('kd', hi, 'test_cka'):.3f} at α = {hi:g}; "
                f"r with the accuracy gain {r:+.2f} over {len(p)} (α, seed) pairs")
        else:
            r = float(np.corrcoef(gain, np.log(p["train_nc1"] / p["train_nc1_base"]))[0, 1])
            numbers.update({key("r_ln_nc1_ratio_vs_acc_gain", name): r4(r), key("pairs", name): len(p)})
            lines.append(
                f"{name}: NC1 on its own training subset, labels {at('labels', lo, 'train_nc1'):.3g} vs KD "
                f"{at('kd', lo, 'train_nc1'):.3g} at α = {lo:g} (labels {at('labels', hi, 'train_nc1'):.3g} vs KD "
                f"{at('kd', hi, 'train_nc1'):.3g} at α = {hi:g}); r of the ln ratio with the accuracy gain {r:+.2f}")
    # what the metrics cost: their share of each run's own time, over the runs that measured them
    timed = ok[ok["features_time_s"].notna()] if "features_time_s" in ok else ok.iloc[:0]
    text = "\n".join(lines)
    if len(timed):
        share = timed["features_time_s"] / timed["wall_time_s"]
        numbers.update(features_cost_median_s=r4(timed["features_time_s"].median()),
                       features_cost_share_median=r4(share.median()), features_cost_share_max=r4(share.max()),
                       features_cost_runs=len(timed))
        text = (f"feature metrics: median {timed['features_time_s'].median():.3f} s per run, {100 * share.median():.2f}% "
                f"of its time (largest {100 * share.max():.2f}%), over {len(timed)} runs measured here\n" + text)
    return numbers, " ".join(l + "." for l in lines), text


NEEDS = {"C7-alignment": C7_FEATURES, "C7-collapse": C7_FEATURES}  # metrics a row reads that older records lack

REPORTS = {"C1": data_efficiency, "C6-ViT": data_efficiency, "C2": label_smoothing, "C3": dark_knowledge,
           "C4": temperature, "C5-lambda": factor, "C5-objective": factor, "C5-scale": scale, "C5-samples": samples,
           "C6-LM": language, "Fidelity-1": fidelity1, "Fidelity-2": fidelity2, "Fidelity-3": fidelity3,
           "Pitfall": pitfall, "C7-alignment": features, "C7-collapse": features}
