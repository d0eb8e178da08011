"""Interactive views for the notebooks (ipywidgets): the notebook layer, beside kdlib.notebook.

`temperature(S, df, taus, start)` is notebook 04's explorer: sliders for τ, α and a test input; the teacher's
distribution softmax(t/τ) for that input beside the stored results of that (τ, α) cell. A static copy (three
temperatures at the smallest α) is drawn first, so an executed copy (papermill, HTML) shows it; the widget draws only
when a slider moves (output drawn into a widget while papermill runs can hang the run: jupyter/nbclient#312)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import torch.nn.functional as F

from . import plots
from .analysis import relative_gain


def temperature(S, df, taus, start: int = 0):
    """Draw the static copy and display the explorer of `df`'s runs (rows "τ=…", with their relative gains per α on
    the first look's seeds), for the teacher of setting `S` and its test input `start`."""
    import ipywidgets as widgets
    from IPython.display import display

    teacher, data = S.teacher(), S.data()
    first = df[df["seed"].isin(S.seeds)]
    gain = pd.concat([relative_gain(first, f"τ={t:g}", col="row").assign(row=f"τ={t:g}") for t in taus])

    def cell(tau, alpha, index, ax):
        p = F.softmax(teacher.logits["test"][index] / tau, -1).cpu().numpy()
        acc = df[(df["row"] == f"τ={tau:g}") & (df["fraction"] == alpha) & (df["status"] == "ok")]["test_acc"]
        g = gain[(gain["row"] == f"τ={tau:g}") & (gain["fraction"] == alpha)]["gain_mean"]
        plots.class_bars(ax, p, int(data.y_test[index]), f"τ={tau:g}, α={alpha:g}: KD acc {acc.mean():.3f} ± "
                                                         f"{acc.std():.3f}, gain {100 * g.iloc[0]:+.1f}%")

    fig, axes = plt.subplots(1, 3, figsize=(13, 3), sharey=True)
    for ax, tau in zip(axes, [taus[0], taus[len(taus) // 2], taus[-1]]):
        cell(tau, S.fractions[0], start, ax)
    axes[0].set_ylabel("teacher probability")
    fig.tight_layout()
    plt.show()

    out = widgets.Output()
    tau_w = widgets.SelectionSlider(options=[float(t) for t in taus], value=float(taus[len(taus) // 2]),
                                    description="τ")
    alpha_w = widgets.SelectionSlider(options=S.fractions, value=S.fractions[0], description="α")
    index_w = widgets.IntSlider(value=start, min=0, max=len(data.y_test) - 1, description="test input")

    def draw(change):
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(6, 3))
            cell(tau_w.value, alpha_w.value, index_w.value, ax)
            plt.show()

    for w in (tau_w, alpha_w, index_w):
        w.observe(draw, names="value")
    display(widgets.VBox([widgets.HTML("Move a slider to draw that (τ, α, input) cell."), tau_w, alpha_w, index_w,
                          out]))
