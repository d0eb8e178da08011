"""The figures' shared style, and saving a figure as PNG (README) and PDF (papers)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

COLORS = {"labels": "#4d4d4d", "kd": "#d62728", "ls": "#1f77b4", "smoothed_onehot": "#17becf",
          "matched_smoothing": "#9467bd", "permuted_dark": "#ff7f0e", "argmax": "#8c564b",
          "conditional": "#2ca02c", "random_head": "#7f7f7f"}
LABELS = {"labels": "labels only", "kd": "distillation (KD)", "ls": "label smoothing (ε tuned)",
          "smoothed_onehot": "class-agnostic smoothed teacher", "matched_smoothing": "KD, matched smoothing",
          "permuted_dark": "KD, permuted dark knowledge", "argmax": "KD, teacher argmax only",
          "conditional": "KD, teacher where right", "random_head": "KD, random-head teacher"}


def style() -> None:
    plt.rcParams.update({
        "figure.dpi": 110, "savefig.dpi": 150, "axes.grid": True, "grid.alpha": 0.3,
        "axes.spines.top": False, "axes.spines.right": False, "font.size": 10, "legend.frameon": False,
    })


def errorbar_curve(ax, x, mean, std, method: str, **kw) -> None:
    ax.errorbar(x, mean, yerr=std, marker="o", ms=4, capsize=3, color=COLORS.get(method),
                label=LABELS.get(method, method), **kw)


def fraction_axis(ax, fractions) -> None:
    """Log-scaled alpha axis with the grid's own values as ticks."""
    ax.set_xscale("log")
    ax.set_xticks(list(fractions))
    ax.set_xticklabels([f"{f:g}" for f in fractions])
    ax.minorticks_off()
    ax.set_xlabel("α = M / N (student data / teacher data)")


def save(fig, figures_dir, name: str) -> list[Path]:
    """Write <figures_dir>/<name>.png and .pdf; return both paths."""
    d = Path(figures_dir)
    d.mkdir(parents=True, exist_ok=True)
    paths = [d / f"{name}.png", d / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, bbox_inches="tight")
    return paths


def accuracy_panel(ax, summary, variants, fractions, col: str = "variant") -> None:
    """Mean ± std test accuracy vs alpha, one curve per variant (summary from analysis.summarize)."""
    for v in variants:
        curve = summary[summary[col] == v].sort_values("fraction")
        errorbar_curve(ax, curve["fraction"], curve["mean"], curve["std"].fillna(0), v)
    ax.set_ylabel("test accuracy")
    fraction_axis(ax, fractions)


def gain_panel(ax, gains: dict, fractions) -> None:
    """Relative gain over labels (%) vs alpha, one curve per variant (gains: variant -> relative_gain table)."""
    for v, g in gains.items():
        errorbar_curve(ax, g["fraction"], 100 * g["gain_mean"], 100 * g["gain_std"].fillna(0), v)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("relative gain over labels (%)")
    fraction_axis(ax, fractions)


def note_failures(fig, df, label: str = "method") -> int:
    """Say under the figure which runs are left out of it (diverged), so a point with fewer seeds is never silent.
    Returns how many runs that is."""
    bad = df[df["status"] != "ok"]
    if len(bad):
        items = []
        for _, r in bad.iterrows():
            step = r.get("diverged_step")
            at = f" at step {int(step)}" if step is not None and step == step else ""
            items.append(f"{r.get(label, r['method'])} α={r['fraction']:g} seed {r['seed']} ({r['status']}{at})")
        text = f"{len(bad)} run(s) left out of this figure: " + "; ".join(items[:6]) + ("; …" if len(items) > 6 else "")
        fig.text(0.01, -0.04, text, fontsize=8, color="#b00000", ha="left", va="top")
    return len(bad)


def curves_panel(ax, curves: dict, fractions, ylabel: str, reference=None,
                 reference_label: str = "teachers (α = 1, mean over seeds)") -> None:
    """Mean ± std vs alpha, one curve per method (curves: method -> summarize rows), and a dashed reference line."""
    for method, curve in curves.items():
        errorbar_curve(ax, curve["fraction"], curve["mean"], curve["std"].fillna(0), method)
    if reference is not None:
        ax.axhline(reference, ls="--", lw=1, color="k", label=reference_label)
    ax.set_ylabel(ylabel)
    ax.legend()
    fraction_axis(ax, fractions)


def gain_curve(ax, gain, fractions, ylabel: str = "relative gain of KD over labels (%)") -> None:
    """KD's relative gain (%) vs alpha with its seed std (gain: analysis.relative_gain), and the zero line."""
    ax.errorbar(gain["fraction"], 100 * gain["gain_mean"], yerr=100 * gain["gain_std"].fillna(0),
                marker="o", ms=4, capsize=3, color=COLORS["kd"])
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel(ylabel)
    fraction_axis(ax, fractions)


def efficiency_panel(ax, kd_fractions, factor, fractions) -> None:
    """The data-efficiency factor α_needed / α at each KD point; a point outside the measured range is marked."""
    import numpy as np

    ax.plot(kd_fractions, factor, marker="o", ms=4, color=COLORS["kd"])
    ax.axhline(1, color="k", lw=0.8)
    for f in kd_fractions[~np.isfinite(factor)]:  # no number outside the measured range: say so
        ax.annotate("outside the\nmeasured range", (f, 1), xytext=(0, 12), textcoords="offset points",
                    ha="center", fontsize=8, color="0.4")
    ax.set_ylabel("data-efficiency factor α_needed / α")
    fraction_axis(ax, fractions)


def data_efficiency(curves: dict, gain, factor, teacher_acc: float, fractions, title: str, df=None):
    """C1's figure: test accuracy of labels and KD vs alpha (teacher dashed), KD's relative gain, and the
    efficiency factor; runs of `df` left out (diverged) are named under it. Returns the figure."""
    style()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.9))
    curves_panel(axes[0], curves, fractions, "test accuracy", reference=teacher_acc)
    gain_curve(axes[1], gain, fractions)
    efficiency_panel(axes[2], curves["kd"]["fraction"], factor, fractions)
    fig.suptitle(title, y=1.02)
    if df is not None:
        note_failures(fig, df)  # diverged runs are left out of the means: say so on the figure
    return fig


# The authors' own C1 figure (../shared/CLAIMS.md, "The authors' own C1 figure": scripts/cifar100.ipynb of their
# repository, commit 9a04fce, cell 17), read off the plotted points (about ±1 point): ResNet-18 students of a ResNet-18
# teacher on CIFAR-100, label training and pure distillation at T = 100, against the student's share κ of the data.
AUTHORS_C1 = {"kappa": (0.024, 0.12, 0.24, 0.48, 0.96), "labels": (0.122, 0.352, 0.531, 0.656, 0.740),
              "kd": (0.221, 0.608, 0.699, 0.744, 0.770), "teacher": 0.802, "read_off": 0.01,
              "label": "Lanzillotta et al. (theirs): CIFAR-100, ResNet-18, T = 100"}
RULE_COLORS = {"validation": "#d62728", "paper": "#9467bd", "fixed": "#ff7f0e"}


def c1_rules(summary, gains: dict, efficiency: dict, rule_labels: dict, teacher_acc: float, fractions, title: str,
             authors: dict | None = None, df=None):
    """C1's figure under several temperature rules. Left: test accuracy vs α, labels and KD under each rule (mean ±
    std over seeds; teacher dashed). Middle: KD's relative gain over labels per rule, mean with its 95% interval over
    seeds (gains: rule -> table with fraction, mean, low, high). Right: the efficiency factor per rule with its
    bootstrap interval over seeds (efficiency: rule -> analysis.efficiency_interval's table). `authors` (AUTHORS_C1)
    adds the authors' CIFAR-100 points, labelled as theirs, on the middle and right panels. Returns the figure."""
    import numpy as np

    from .analysis import efficiency_factor

    style()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    color = lambda r: RULE_COLORS.get(r, COLORS["kd"])
    ax = axes[0]
    for r in ["labels", *rule_labels]:
        c = summary[summary["row"] == r].sort_values("fraction")
        ax.errorbar(c["fraction"], c["mean"], yerr=c["std"].fillna(0), marker="o", ms=4, capsize=3,
                    color=COLORS["labels"] if r == "labels" else color(r), label=rule_labels.get(r, LABELS["labels"]))
    ax.axhline(teacher_acc, ls="--", lw=1, color="k", label="teachers (α = 1, mean over seeds)")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=7)
    fraction_axis(ax, fractions)
    ax = axes[1]
    for i, (r, g) in enumerate(gains.items()):
        x = np.asarray(g["fraction"], float) * (1 + 0.04 * (i - 1))  # side by side, not on top of each other
        m, lo, hi = (100 * np.asarray(g[k], float) for k in ("mean", "low", "high"))
        ax.errorbar(x, m, yerr=[m - lo, hi - m], marker="o", ms=4, capsize=3, color=color(r), label=rule_labels[r])
    ax.set_ylabel("relative gain of KD over labels (%)\nmean, 95% interval over seeds")
    ax = axes[2]
    for i, (r, e) in enumerate(efficiency.items()):
        x = np.asarray(e["fraction"], float) * (1 + 0.04 * (i - 1))
        f, lo, hi = (np.asarray(e[k], float) for k in ("factor", "low", "high"))
        ax.errorbar(x, f, yerr=[np.clip(f - lo, 0, None), np.clip(hi - f, 0, None)], marker="o", ms=4, capsize=3,
                    color=color(r), label=rule_labels[r])
    ax.set_ylabel("efficiency factor α_needed / α\n(95% bootstrap interval over seeds)")
    if authors is not None:
        k = np.asarray(authors["kappa"])
        lab, kd = np.asarray(authors["labels"]), np.asarray(authors["kd"])
        r = authors.get("read_off", 0.01)  # each read-off value about ± r: the bars span the least and most favourable
        gain = 100 * (kd - lab) / lab
        g_lo, g_hi = 100 * (kd - r - lab - r) / (lab + r), 100 * (kd + r - lab + r) / (lab - r)
        axes[1].errorbar(k, gain, yerr=[gain - g_lo, g_hi - gain], fmt="k^--", ms=5, lw=0.8, capsize=2,
                         label=authors["label"] + f" (read off, ±{100 * r:g} point)")
        f_mid = efficiency_factor(k, lab, k, kd)
        f_lo, f_hi = efficiency_factor(k, lab + r, k, kd - r), efficiency_factor(k, lab - r, k, kd + r)
        axes[2].errorbar(k, f_mid, yerr=[np.nan_to_num(f_mid - f_lo), np.nan_to_num(f_hi - f_mid)], fmt="k^--", ms=5,
                         lw=0.8, capsize=2, label=authors["label"] + f" (read off, ±{100 * r:g} point)")
    ticks = sorted(set(fractions) | (set() if authors is None else set(authors["kappa"])))
    for ax in axes[1:]:
        ax.axhline(0 if ax is axes[1] else 1, color="k", lw=0.8)
        fraction_axis(ax, fractions)
        ax.set_xlim(min(ticks) * 0.8, max(ticks) * 1.2)
    axes[2].annotate("a missing point: outside the labels curve's measured range (never extrapolated)",
                     (0.01, 0.01), xycoords="axes fraction", fontsize=7, color="0.4")
    fig.tight_layout()
    # one legend for the gain and efficiency panels, under them, so it hides no point
    handles, names = axes[1].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", bbox_to_anchor=(0.66, 0.0), ncol=2, fontsize=8)
    fig.suptitle(title, y=1.02)
    if df is not None:
        note_failures(fig, df, "row")
    return fig


SHORT = {"teacher": "teacher", "permuted_dark": "permuted", "matched_smoothing": "matched", "argmax": "argmax",
         "conditional": "where right", "random_head": "random head"}


def dark_knowledge(gains: dict, shown: dict, pick, y, fractions, title: str, df=None):
    """C3's figure. Left: each control's relative gain over labels vs alpha. Right: a grid of bar charts, one row per
    test input `pick` (true classes y, in black) and one column per distribution in `shown` (name -> probs [n, K]:
    the teacher's tempered distribution and each control's version of it). Returns the figure."""
    style()
    fig = plt.figure(figsize=(15, 4.8))
    left, right_fig = fig.subfigures(1, 2, width_ratios=[1, 1.5])
    ax = left.subplots()
    gain_panel(ax, gains, fractions)
    ax.legend(fontsize=7)
    axes = right_fig.subplots(len(pick), len(shown), sharey=True, sharex=True)
    axes = axes.reshape(len(pick), len(shown))
    for j, (name, probs) in enumerate(shown.items()):
        for i in range(len(pick)):
            colors = ["k" if k == int(y[i]) else COLORS.get(name, "#d62728") for k in range(probs.shape[1])]
            axes[i, j].bar(range(probs.shape[1]), probs[i].numpy(), color=colors)
            axes[i, j].set_xticks([])
            if i == 0:
                axes[i, j].set_title(SHORT[name], fontsize=8)
        axes[len(pick) - 1, j].set_xlabel("class", fontsize=8)
    for i in range(len(pick)):
        axes[i, 0].set_ylabel(f"test #{int(pick[i])}\n(y={int(y[i])})", fontsize=8)
    fig.suptitle(title, y=1.03)
    if df is not None:
        note_failures(fig, df, "variant")  # diverged runs are left out of the means: say so on the figure
    return fig


def temperature(heat, best, fractions, title: str, df=None):
    """C4's figure. Left: relative gain of KD over labels (%) per row (τ, logit MSE, ...) and α as a heat map
    (heat: rows x fractions). Right: the best τ on validation per α (median, min-max over seeds), and the accuracy
    range across τ on a second axis (best: analysis of notebook 04). Returns the figure."""
    import numpy as np

    style()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1.4, 1]})
    ax = axes[0]
    lim = np.nanmax(np.abs(100 * heat.values))
    im = ax.imshow(100 * heat.values, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(fractions)), [f"{f:g}" for f in fractions])
    ax.set_yticks(range(len(heat)), heat.index)
    ax.set_xlabel("α = M / N"); ax.grid(False)
    for i in range(heat.shape[0]):
        for j in range(heat.shape[1]):
            ax.text(j, i, f"{100 * heat.values[i, j]:.1f}", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label="relative gain of KD over labels (%)")
    ax = axes[1]
    ax.errorbar(best.index, best["median"], yerr=[best["median"] - best["min"], best["max"] - best["median"]],
                marker="o", capsize=3, color=COLORS["kd"],
                label="best τ per evaluation seed on its validation accuracy (median; bars: min–max)")
    if "chosen on selection seeds" in best:  # the verdict's pair, chosen apart from the evaluation seeds
        pair = best["chosen on selection seeds"].dropna()
        ax.plot(pair.index, pair.values, "kX", markersize=9, label="the verdict's τ pair (selection seeds)")
    ax.set_yscale("log"); ax.set_ylabel("best τ"); fraction_axis(ax, fractions)
    ax2 = ax.twinx()
    ax2.plot(best.index, 100 * best["effect (acc range across τ)"], "s--", color="0.4",
             label="effect of τ: accuracy range across τ (right axis)")
    ax2.set_ylabel("accuracy range across τ (points)")
    (h1, l1), (h2, l2) = ax.get_legend_handles_labels(), ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper center", bbox_to_anchor=(0.5, -0.18), fontsize=8)
    fig.suptitle(title, y=1.02)
    if df is not None:
        note_failures(fig, df, "row")  # diverged runs are left out of the means: say so on the figure
    return fig


def class_bars(ax, probs, y: int, title: str) -> None:
    """One distribution over classes as bars, the true class y in black (probs: a NumPy vector)."""
    ax.bar(range(len(probs)), probs, color=["k" if k == y else COLORS["kd"] for k in range(len(probs))])
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(f"class (true class {y} in black)"); ax.set_ylim(0, 1)


# ---- C5: one figure per factor

def lam_figure(df, gains: dict, rows, fractions, title: str):
    """C5 · λ. Left: test accuracy vs λ, one curve per α (the λ rows of df are named "λ=<value>"). Right: the
    relative gain over labels vs α for each λ > 0 (gains: row -> relative_gain). Returns the figure."""
    style()
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.9))
    cmap = plt.get_cmap("viridis")
    ax = axes[0]
    for i, f in enumerate(fractions):
        sub = df[(df["fraction"] == f) & (df["status"] == "ok") & df["row"].str.startswith("λ=")].copy()
        sub["lam"] = sub["row"].str.slice(2).astype(float)
        acc = sub.groupby("lam")["test_acc"].agg(["mean", "std"])
        ax.errorbar(acc.index, acc["mean"], yerr=acc["std"].fillna(0), marker="o", ms=4, capsize=3,
                    color=cmap(0.85 * i / max(1, len(fractions) - 1)), label=f"α = {f:g}")
    ax.set_xlabel("λ (0 = labels, 1 = pure distillation)"); ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8, loc="best")
    ax = axes[1]
    for i, r in enumerate(rows):
        g = gains[r]
        ax.errorbar(g["fraction"], 100 * g["gain_mean"], yerr=100 * g["gain_std"].fillna(0), marker="o", ms=4,
                    capsize=3, color=plt.get_cmap("Reds")(0.35 + 0.65 * (i + 1) / len(rows)), label=r)
    ax.axhline(0, color="k", lw=0.8); ax.set_ylabel("relative gain over labels (%)"); ax.legend(fontsize=8)
    fraction_axis(ax, fractions)
    fig.suptitle(title, y=1.02)
    note_failures(fig, df, "row")  # diverged runs are left out of the means: say so on the figure
    return fig


def rows_figure(df, summary, gains: dict, rows, fractions, title: str):
    """Test accuracy (left) and relative gain over labels (right) vs α, one curve per row name of df (labels first;
    summary: summarize by row and fraction; gains: row -> relative_gain). C5's objective figure."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.9))
    colors = dict(zip(["labels", *rows], ["#4d4d4d", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]))
    for r in ["labels", *rows]:
        c = summary[summary["row"] == r].sort_values("fraction")
        axes[0].errorbar(c["fraction"], c["mean"], yerr=c["std"].fillna(0), marker="o", ms=4, capsize=3,
                         color=colors[r], label=r)
        if r != "labels":
            g = gains[r]
            axes[1].errorbar(g["fraction"], 100 * g["gain_mean"], yerr=100 * g["gain_std"].fillna(0), marker="o",
                             ms=4, capsize=3, color=colors[r], label=r)
    axes[0].set_ylabel("test accuracy"); axes[0].legend(fontsize=8); fraction_axis(axes[0], fractions)
    axes[1].axhline(0, color="k", lw=0.8); axes[1].set_ylabel("relative gain over labels (%)")
    axes[1].legend(fontsize=8); fraction_axis(axes[1], fractions)
    fig.suptitle(title, y=1.02)
    note_failures(fig, df, "row")
    return fig


def scale_figure(df, summary, gains: dict, sizes, pairs: dict, teacher_acc, fractions, title: str):
    """C5 · scale. Rows of df: "labels <size>" and "<teacher>→<student>" (pairs: KD row -> its labels row). Solid:
    self-distillation, dotted: from the largest teacher, dashed: labels. Returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.9))
    shades = {m: plt.get_cmap("tab10")(i) for i, m in enumerate(sizes)}
    for r in [f"labels {m}" for m in sizes] + list(pairs):
        c = summary[summary["row"] == r].sort_values("fraction")
        m = r.split("→")[-1].replace("labels ", "")
        line = dict(ls="--", marker="s") if r.startswith("labels") else dict(ls="-" if r.split("→")[0] == m else ":",
                                                                               marker="o")
        axes[0].errorbar(c["fraction"], c["mean"], yerr=c["std"].fillna(0), ms=4, capsize=3, color=shades[m],
                         label=r, **line)
        if not r.startswith("labels"):
            g = gains[r]
            axes[1].errorbar(g["fraction"], 100 * g["gain_mean"], yerr=100 * g["gain_std"].fillna(0), ms=4,
                             capsize=3, color=shades[m], label=f"{r} (teacher {teacher_acc[r.split('→')[0]]:.3f})",
                             **line)
    axes[0].set_ylabel("test accuracy"); axes[0].legend(fontsize=7, ncol=2); fraction_axis(axes[0], fractions)
    axes[1].axhline(0, color="k", lw=0.8); axes[1].set_ylabel("relative gain over labels of the same student (%)")
    axes[1].legend(fontsize=7); fraction_axis(axes[1], fractions)
    fig.suptitle(title, y=1.02, fontsize=10)
    note_failures(fig, df, "row")
    return fig


def samples_figure(df, summary, gains: dict, rows, m_of, n_teacher, acc_teacher, title: str):
    """C5 · the relative number of samples. Left: test accuracy vs the student's sample count M (m_of: fraction ->
    M), dotted lines at each teacher's N (n_teacher, acc_teacher: row -> value). Right: relative gain over labels
    vs κ = M / N_teacher. Returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.9))
    colors = {"labels": COLORS["labels"], rows[0]: COLORS["kd"], rows[1]: "#ff7f0e"}
    for r in ["labels", *rows]:
        c = summary[summary["row"] == r].sort_values("fraction")
        label = r if r == "labels" else f"KD, {r} (N={n_teacher[r]:.0f}, teacher acc {acc_teacher[r]:.3f})"
        axes[0].errorbar(m_of[c["fraction"]].values, c["mean"], yerr=c["std"].fillna(0), marker="o", ms=4,
                         capsize=3, color=colors[r], label=label)
        if r != "labels":
            axes[0].axvline(n_teacher[r], color=colors[r], ls=":", lw=1)
            g = gains[r]
            kappa = m_of[g["fraction"]].values / n_teacher[r]
            axes[1].errorbar(kappa, 100 * g["gain_mean"], yerr=100 * g["gain_std"].fillna(0), marker="o", ms=4,
                             capsize=3, color=colors[r], label=f"KD, {r}")
    axes[0].set_xscale("log"); axes[0].set_xlabel("student samples M (dotted: each teacher's N)")
    axes[0].set_ylabel("test accuracy"); axes[0].legend(fontsize=7)
    axes[1].set_xscale("log"); axes[1].axhline(0, color="k", lw=0.8); axes[1].axvline(1, color="0.5", ls=":", lw=1)
    axes[1].set_xlabel("κ = M / N_teacher (student samples / teacher samples)")
    axes[1].set_ylabel("relative gain over labels (%)"); axes[1].legend(fontsize=8)
    fig.suptitle(title, y=1.02)
    note_failures(fig, df, "row")
    return fig


def fidelity(ok, df, names, fractions, title: str):
    """The fidelity figure (Stanton et al., 2021), one colour per kind of student (names: values of ok["row"]): top-1
    agreement with the teacher vs α on train (dashed) and test inputs, the test predictive KL(teacher ‖ student), and
    test agreement against test accuracy for every run (ok: the finished runs of df). Returns the figure."""
    style()
    colors = dict(zip(names, ["#4d4d4d", "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd"]))
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    for name in names:
        sub = ok[ok["row"] == name]
        for split, ls in (("train", "--"), ("test", "-")):
            m = sub.groupby("fraction")[f"{split}_agreement"].agg(["mean", "std"])
            axes[0].errorbar(m.index, 100 * m["mean"], yerr=100 * m["std"].fillna(0), ls=ls, marker="o", ms=4,
                             capsize=3, color=colors[name], label=f"{name} ({split})")
        m = sub.groupby("fraction")["test_kl_teacher"].agg(["mean", "std"])
        axes[1].errorbar(m.index, m["mean"], yerr=m["std"].fillna(0), marker="o", ms=4, capsize=3, color=colors[name],
                         label=name)
    axes[0].axhline(100, color="k", lw=0.8)
    axes[0].set_ylabel("top-1 agreement with the teacher (%)"); fraction_axis(axes[0], fractions)
    axes[0].legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    axes[1].set_yscale("log"); axes[1].set_ylabel("predictive KL(teacher ‖ student), test"); axes[1].legend(fontsize=8)
    fraction_axis(axes[1], fractions)
    markers = dict(zip(fractions, ["o", "s", "^", "D", "v", "P"]))
    for name in names:
        for f in fractions:
            sub = ok[(ok["row"] == name) & (ok["fraction"] == f)]
            axes[2].scatter(100 * sub["test_agreement"], sub["test_acc"], color=colors[name], marker=markers[f], s=22,
                            label=name if f == fractions[0] else None)
    for f in fractions:
        axes[2].scatter([], [], color="0.5", marker=markers[f], label=f"α = {f:g}")
    axes[2].set_xlabel("test agreement with the teacher (%)"); axes[2].set_ylabel("student test accuracy")
    axes[2].legend(fontsize=7)
    fig.suptitle(title, y=1.02)
    note_failures(fig, df, "row")  # diverged runs are left out: say so on the figure
    return fig


PITFALL_COLORS = {"labels": COLORS["labels"], "vanilla KD": COLORS["kd"], "DKD": "#1f77b4", "DIST": "#2ca02c",
                  "KD + deep supervision": "#9467bd"}


def pitfall(summary, diffs: dict, rows, kappa_of, fractions, title: str, df=None, weak=()):
    """The small-data pitfall (Hao et al., 2026) against κ = M / N_teacher (kappa_of: fraction -> κ). Left: test
    accuracy of each row (labels dashed). Right: each method's accuracy minus vanilla KD's, in points (diffs: method
    -> per-seed differences at each fraction). `weak`: the fractions where the teacher is below label training,
    shaded as outside the verdict. Returns the figure."""
    style()
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4))
    for r in rows:
        c = summary[summary["row"] == r].sort_values("fraction")
        axes[0].errorbar(kappa_of[c["fraction"]].values, c["mean"], yerr=c["std"].fillna(0), marker="o", ms=4,
                         capsize=3, color=PITFALL_COLORS[r], label=r, ls="--" if r == "labels" else "-")
        if r in diffs:
            d = diffs[r]
            axes[1].errorbar(kappa_of[fractions].values, [100 * x.mean() for x in d],
                             yerr=[100 * (x.std() if len(x) > 1 else 0) for x in d], marker="o", ms=4, capsize=3,
                             color=PITFALL_COLORS[r], label=r)
    for ax in axes:
        ax.set_xscale("log"); ax.axvline(1, color="0.5", ls=":", lw=1)
        ax.set_xticks(list(kappa_of[fractions]), [f"{k:.2g}" for k in kappa_of[fractions]]); ax.minorticks_off()
        ax.set_xlabel("κ = M / N_teacher (dotted: the teacher's own sample count)")
    axes[0].set_ylabel("test accuracy"); axes[0].legend(fontsize=8)
    axes[1].axhline(0, color=PITFALL_COLORS["vanilla KD"], lw=1)
    if len(weak):
        ks = sorted(float(kappa_of[f]) for f in fractions)
        first = min(float(kappa_of[f]) for f in weak)
        below = [k for k in ks if k < first]
        start = (below[-1] * first) ** 0.5 if below else first / 1.5
        for ax in axes:
            ax.axvspan(start, ks[-1] * 1.5, color="0.85", alpha=0.5, lw=0,
                       label="teacher below label training (outside the verdict)")
            ax.set_xlim(ks[0] / 1.5, ks[-1] * 1.5)
    axes[1].set_ylabel("test accuracy − vanilla KD's (points)"); axes[1].legend(fontsize=8)
    fig.suptitle(title, y=1.02)
    if df is not None:
        note_failures(fig, df, "row")  # diverged runs are left out: say so on the figure
    return fig


def language(curves: dict, gain, bpc, fit, teacher_ppl: float, fractions, title: str, df=None):
    """C6's language-model figure: test perplexity of labels and KD vs alpha (teacher dashed), KD's relative gain
    in perplexity, and bits per character on the test plays (solid) and on each student's own training windows
    (dashed; bpc and fit: summarize tables by method). Returns the figure."""
    style()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.9))
    curves_panel(axes[0], curves, fractions, "test perplexity (lower is better)", reference=teacher_ppl)
    gain_curve(axes[1], gain, fractions, "relative gain of KD in test perplexity (%)")
    ax = axes[2]
    for method in ("labels", "kd"):
        test_curve = bpc[bpc.method == method].sort_values("fraction")
        train_curve = fit[fit.method == method].sort_values("fraction")
        ax.plot(test_curve["fraction"], test_curve["mean"], marker="o", ms=4, color=COLORS[method],
                label=f"{LABELS[method]}: test")
        ax.plot(train_curve["fraction"], train_curve["mean"], marker="s", ms=4, ls="--", color=COLORS[method],
                label=f"{LABELS[method]}: own training text")
    ax.set_ylabel("bits per character"); ax.legend(fontsize=7); fraction_axis(ax, fractions)
    fig.suptitle(title, y=1.02)
    if df is not None:
        note_failures(fig, df)
    return fig


def label_smoothing(summary, gains: dict, variants, fractions, title: str, df=None):
    """C2's figure: test accuracy of every variant (labels, smoothing controls, KD) and their relative gain over
    labels vs alpha (summary: summarize by variant and fraction; gains: variant -> relative_gain). Returns it."""
    style()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    accuracy_panel(axes[0], summary, variants, fractions)
    gain_panel(axes[1], gains, fractions)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, y=1.02)
    if df is not None:
        note_failures(fig, df, "variant")  # diverged runs are left out of the means: say so on the figure
    return fig


STUDENT_STYLES = ({"ls": "-", "marker": "o"}, {"ls": "--", "marker": "s"})  # first and second student (C7)


def features(df, students: dict, pairs: dict, title: str):
    """C7's figure. `df`: the runs, with `row` "<student>:labels" / "<student>:kd"; `students`: student -> its α
    grid; `pairs`: student -> `analysis.seed_pairs(df, "<student>:kd", "<student>:labels")`. Panels: the
    student–teacher CKA (test inputs) vs α and NC1 on the student's own training subset vs α (labels grey, KD red,
    mean and 95% interval over seeds; one line style per student), then per seed and α the KD-minus-labels CKA and
    the ln NC1 ratio against KD's relative accuracy gain. Returns the figure."""
    import numpy as np

    from .analysis import interval

    style()
    fig, axes = plt.subplots(2, 2, figsize=(12.5, 8.6))
    axes = axes.flatten()
    every = sorted({f for fr in students.values() for f in fr})
    for (student, fractions), st in zip(students.items(), STUDENT_STYLES):
        for method in ("labels", "kd"):
            sub = df[(df["status"] == "ok") & (df["row"] == f"{student}:{method}")]
            for ax, metric in ((axes[0], "test_cka"), (axes[1], "train_nc1")):
                rows = [(f, *interval(sub.loc[np.isclose(sub["fraction"], f), metric])) for f in fractions]
                f, mean, low, high = (np.array(v, float) for v in zip(*rows))
                ax.errorbar(f, mean, yerr=[mean - low, high - mean], ls=st["ls"], marker=st["marker"], ms=4, capsize=3,
                            color=COLORS[method], label=f"{student}, {LABELS[method]}")
    axes[0].set_ylabel("linear CKA with the teacher (test inputs)")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("NC1 on the student's own training subset")
    for ax in axes[:2]:
        fraction_axis(ax, every)
    axes[0].legend(fontsize=7)
    cmap = plt.get_cmap("viridis")
    shade = {f: cmap(i / max(1, len(every) - 1)) for i, f in enumerate(every)}
    for (student, _), st in zip(students.items(), STUDENT_STYLES):
        p = pairs[student]
        gain = 100 * (p["test_acc"] - p["test_acc_base"]) / p["test_acc_base"]
        colors = [shade[min(every, key=lambda e: abs(e - f))] for f in p["fraction"]]
        axes[2].scatter(gain, 100 * (p["test_cka"] - p["test_cka_base"]), c=colors, marker=st["marker"], s=22)
        axes[3].scatter(gain, np.log(p["train_nc1"] / p["train_nc1_base"]), c=colors, marker=st["marker"], s=22)
    for ax in axes[2:]:  # the legend: marker = student, colour = α
        for student, st in zip(students, STUDENT_STYLES):
            ax.scatter([], [], color="0.5", marker=st["marker"], s=22, label=student)
        for f in every:
            ax.scatter([], [], color=shade[f], marker="o", s=22, label=f"α = {f:g}")
        ax.axhline(0, color="k", lw=0.8)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel("KD's relative accuracy gain over labels (%), per seed and α")
        ax.legend(fontsize=7)
    axes[2].set_ylabel("CKA with the teacher: KD − labels (points)")
    axes[3].set_ylabel("ln(NC1 of KD ÷ NC1 of labels), own training subset")
    fig.suptitle(title, y=1.0)
    fig.tight_layout()
    note_failures(fig, df, "row")
    return fig
