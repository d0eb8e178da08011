"""Every notebook executed end to end through papermill at the smoke profile, in temporary folders; every notebook's
parameter checks run in this process (its set-up cell, tests/nbsetup.py), two of them through papermill too; on
CIFAR (small fake images), notebook 01 end to end and what notebooks 02-05 and the paper recipe add, in this process."""
from __future__ import annotations

import json
import re
import os

import nbformat
import papermill as pm
import pytest
import torch

import fake_cifar
from kdlib import claims
from kdlib.errors import ConfigError
from nbsetup import NOTEBOOKS, execute, notebook, setup


def _text(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") if o.output_type == "stream" else json.dumps(o.get("data", {})))
    return "\n".join(out)


def test_every_notebook_has_a_parameters_cell():
    assert NOTEBOOKS, "no notebooks found"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: expected one cell tagged 'parameters', found {len(tagged)}"
        assert "profile" in tagged[0].source and "results_dir" in tagged[0].source
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
            f"{path.name} is committed with outputs; clear them"
        code = [c for c in nb.cells if c.cell_type == "code"]
        setup_cells = [i for i, c in enumerate(code) if "setup" in c.metadata.get("tags", [])]
        # the set-up (checks, setting) is the first cell after the parameters and the Colab cell: nothing trains before
        assert setup_cells == [2] and "google.colab" in code[1].source, f"{path.name}: tag its set-up cell 'setup'"


# Narrower grids than the notebooks' own at smoke (two α, a few τ, ε and λ): every code path of the notebook still
# runs (the choice on validation among several values, every control and factor), with a third to a half of the runs.
# The learning-rate choice among two rates runs in 01 and 04 (on the two selection seeds); the others take one rate,
# which keeps the suite's time near what it was before each seed got its own teacher and choices two seeds.
ONE_RATE = dict(lr_grid=[1e-2])
SMOKE = {
    "01": dict(fractions=[0.1, 1.0], tau_grid=[1, 100]),
    "02": dict(fractions=[0.1, 1.0], tau_grid=[1, 100], eps_grid=[0.1, 0.4], **ONE_RATE),
    "03": dict(fractions=[0.1, 1.0], tau_grid=[1, 100], **ONE_RATE),
    "04": dict(fractions=[0.1, 1.0], taus=[1, 4, 100]),
    "05": dict(fractions=[0.1, 1.0], lams=[0, 0.5, 1], scale_fractions=[0.1, 1.0], sample_ratios=[0.2, 2], **ONE_RATE),
    "06": dict(fractions=[0.1, 1.0], **ONE_RATE),
    "07": dict(sample_ratios=[0.2, 2], **ONE_RATE),
    "08": dict(lr_grid=[3e-3]),
    "10": dict(fractions=[0.1, 1.0], vit_fractions=[0.1, 1.0], tau_grid=[100], lr_grid=[1e-2], vit_student="vit-tiny"),
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_at_smoke(path, tmp_path, monkeypatch):
    # notebook 01's sweeps go to two worker processes, as on a user's laptop; the others run in the kernel (the tests
    # already run on every core, and the pool's path is the same for every notebook)
    monkeypatch.setenv("KDLIB_WORKERS", "2" if path.stem.startswith("01") else "1")
    figures = tmp_path / "figures"
    nb = execute(path, tmp_path / path.name, profile="smoke", results_dir=str(tmp_path / "results"),
                 figures_dir=str(figures), device="cpu", **SMOKE.get(path.stem[:2], {}))
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    text = _text(nb)
    if path.stem.startswith("00"):
        assert "test_acc" in text
    elif path.stem.startswith("09"):  # the audit of the reader's data: an answer and a figure, no scoreboard entry
        assert "ANSWER: At M = " in text and "labelled samples" in text and "C1 on this data" in text
        assert {p.name for p in figures.iterdir()} == {"audit_breast_cancer_smoke.png", "audit_breast_cancer_smoke.pdf"}
    else:  # a claim notebook: a verdict printed, a figure and a scoreboard entry written
        assert "VERDICT" in text
        assert list(figures.glob("*.png")) and list(figures.glob("*.pdf"))
        board = json.loads((figures / "scoreboard.json").read_text())
        assert all(e["profile"] == "smoke" and e["verdict"] in claims.OUTCOMES for e in board.values())
        for e in board.values():  # every row: its settings and Δ, the machines its runs ran on, a summary
            assert e["settings"] and e["delta"] > 0 and e["looks"] == [1, 2] and e["n_seeds"] <= 2
            assert e["machines"] and all("torch" in m and "thread" in m for m in e["machines"]) and e["summary"]
            assert e["interval"] is None or len(e["interval"]) == 2
            assert all(KEY.fullmatch(k) for k in e["numbers"]), [k for k in e["numbers"] if not KEY.fullmatch(k)]
            # the first look (one seed) decides nothing, so every setting was judged again at two seeds
            assert all(s["look"] == 2 or e["claim"] == "C4" for s in e["settings"].values())
    if path.stem.startswith("05"):  # one figure and one scoreboard entry per factor
        assert {p.stem for p in figures.glob("c5_*.png")} == {f"c5_{f}_mnist1d_smoke" for f in
                                                              ("lambda", "objective", "scale", "samples")}
        assert {k.split("/")[0] for k in board} == {"C5-lambda", "C5-objective", "C5-scale", "C5-samples"}
    if path.stem.startswith("06"):  # three verdicts, one figure
        assert {k.split("/")[0] for k in board} == {"Fidelity-1", "Fidelity-2", "Fidelity-3"}
        pairs = board["Fidelity-2/mnist1d/smoke"]["settings"]  # declared pairs only: added inputs vs self-distillation
        assert pairs and all(name.endswith("inputs vs self-distillation") for name in pairs)
    if path.stem.startswith("07"):
        assert {k.split("/")[0] for k in board} == {"Pitfall"}
        assert set(next(iter(board.values()))["settings"]) == {"DKD", "DIST", "KD + deep supervision"}
        assert all(len(s.get("parts", [])) == 2 for k, s in next(iter(board.values()))["settings"].items() if k != "KD + deep supervision")
    if path.stem.startswith("01"):  # three temperature rules, the τ chosen per α, the authors' numbers beside ours
        numbers = board["C1/mnist1d/smoke"]["numbers"]
        assert {f"efficiency_median[{r}]" for r in ("validation", "paper", "fixed")} <= set(numbers)
        assert {"tau_chosen@0.1", "tau_chosen@1"} <= set(numbers)
        # the authors' figure at matched α, in points and efficiency factor (no median over their κ against ours)
        assert numbers["theirs_points[authors]@κ=0.024"] == pytest.approx(9.9) and numbers["alpha[authors]@κ=0.024"] == 0.1
        assert not any(k.startswith("authors_") for k in numbers)
    if path.stem[:2] in ("02", "03"):  # judged at the validation-chosen τ and at τ = 4, one figure each
        claim = "C2" if path.stem.startswith("02") else "C3"
        assert {k.split("/")[0] for k in board} == {claim, f"{claim} (τ = 4)"}
        assert len(list(figures.glob("*.png"))) == 2
    if path.stem.startswith("08"):  # perplexities, a figure and generated text from all three models
        assert {k.split("/")[0] for k in board} == {"C6-LM"}
        assert {p.stem for p in figures.glob("*.png")} == {"c6_language_shakespeare_smoke"}
        numbers = next(iter(board.values()))["numbers"]
        assert numbers[f"test_ppl[labels]@{numbers['alpha_smallest']:g}"] > 1 and numbers["test_ppl[kd]@1"] > 1
        assert text.count("--- ") == 3 and "prompt: " in text
    if path.stem.startswith("10"):  # C7: two rows from one figure, both students' numbers, the metrics' cost
        assert {k.split("/")[0] for k in board} == {"C7-alignment", "C7-collapse"}
        assert {p.stem for p in figures.glob("*.png")} == {"c7_features_mnist1d_smoke"}
        numbers = {k.split("/")[0]: e["numbers"] for k, e in board.items()}
        assert all(set(e["settings"]) == {"cnn-tiny", "vit-tiny"} for e in board.values())
        assert 0 <= numbers["C7-alignment"]["test_cka[cnn-tiny:kd]@0.1"] <= 1
        assert numbers["C7-collapse"]["train_nc1[vit-tiny:labels]@1"] > 0
        assert all(0 < n["features_cost_share_median"] < 0.5 and n["pairs[cnn-tiny]"] == 4 for n in numbers.values())
    if path.stem.startswith("04"):  # the explorer: a static figure for papermill/HTML, and the live widget
        images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        assert len(images) >= 2 and "application/vnd.jupyter.widget-view+json" in text


KEY = re.compile(r"[a-z][a-z0-9_]*(\[[^\]]+\])?(@(κ=)?[0-9.e+-]+)?")  # a number's key: metric[setting]@where

BAD_VALUES = {  # notebook number -> (parameter, bad value, text the message must contain)
    "00": ("profile", "laptop", "profile='laptop' is not known; allowed: cpu, gpu, smoke"),
    "01": ("fractions", [0.1, 1.5], "fraction=1.5 is outside the allowed range (0, 1]"),
    "02": ("eps_grid", [0.1, 1.2], "eps_grid=1.2 is outside the allowed range [0, 1)"),
    "03": ("n_examples", 0, "n_examples=0 is outside the allowed range [1, 8]"),
    "04": ("taus", [1, 0], "taus=0 is outside the allowed range (0, inf)"),
    "05": ("sample_ratios", [0.02, 3], "sample_ratios contains 3: with teacher_share=0.5 the pool holds "
                                       "1/teacher_share = 2 times the teacher's samples; allowed: (0, 2]"),
    "06": ("ensemble_members", 1, "ensemble_members=1 is outside the allowed range [2, 20]"),
    "07": ("methods", ["vanilla KD", "CRD"],
           "methods='CRD' is not known; allowed: DIST, DKD, KD + deep supervision, vanilla KD"),
    "08": ("student", "gpt-huge", "student='gpt-huge' is not known; allowed: gpt-base, gpt-small, gpt-tiny"),
    "09": ("label", "target", "label='target' is not a column of breast_cancer.csv; allowed: one of its 31 columns"),
    "10": ("vit_student", "cnn-tiny", "vit_student='cnn-tiny' is the student's architecture; allowed: another model"),
}


def _stops_before_any_work(call, message, tmp_path):
    """`call` raises a ConfigError with `message` and leaves no results or figures folder behind."""
    with pytest.raises(ConfigError) as err:
        call()
    assert message in str(err.value)
    assert not (tmp_path / "results").exists() and not (tmp_path / "figures").exists()


def _folders(tmp_path):
    return {"results_dir": str(tmp_path / "results"), "figures_dir": str(tmp_path / "figures")}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_bad_parameter_stops_before_training(path, tmp_path):
    """A bad value is reported by name, with what is allowed, by the notebook's set-up cell: before any run is stored."""
    assert path.stem[:2] in BAD_VALUES, f"add a bad-value case for {path.name}"
    name, value, message = BAD_VALUES[path.stem[:2]]
    parameters = {"profile": "smoke", name: value, **_folders(tmp_path)}
    _stops_before_any_work(lambda: setup(path, **parameters), message, tmp_path)


@pytest.mark.parametrize("prefix", ["01", "09"])
def test_bad_parameter_stops_the_notebook_itself(prefix, tmp_path):
    """The same through papermill and a kernel, for a claim notebook and the audit: the run stops with the message."""
    path = notebook(prefix)
    name, value, message = BAD_VALUES[prefix]
    with pytest.raises(pm.PapermillExecutionError) as err:
        execute(path, tmp_path / "bad.ipynb", **{"profile": "smoke", name: value, **_folders(tmp_path)})
    assert "ConfigError" in str(err.value) and message in str(err.value)
    assert not (tmp_path / "results").exists() and not (tmp_path / "figures").exists()


def test_c1_notebook_with_a_vit_student_is_a_variant(tmp_path):
    """C6's ViT variant of notebook 01 (what `make reproduce` runs): its own figure and scoreboard entry, so the
    CNN's C1 results are never overwritten."""
    figures = tmp_path / "figures"
    nb = execute(notebook("01"), tmp_path / "vit.ipynb", profile="smoke", student="vit-tiny", seeds=[0],
                 tau_rules=["validation", "fixed"], fractions=[0.1, 1.0], tau_grid=[1, 100],
                 results_dir=str(tmp_path / "results"), figures_dir=str(figures), device="cpu")
    assert {p.stem for p in figures.glob("*.png")} == {"c1_data_efficiency_vit-tiny_from_cnn-tiny_mnist1d_smoke"}
    board = json.loads((figures / "scoreboard.json").read_text())
    assert list(board) == ["C6-ViT/mnist1d/smoke"]
    assert "vit-tiny student of a cnn-tiny teacher" in board["C6-ViT/mnist1d/smoke"]["title"]
    assert "VERDICT C6-ViT" in _text(nb)


def test_reproduce_plan_includes_the_variants():
    from kdlib import reproduce

    plan = reproduce.plan("cpu")
    names = [name for _, name, _ in plan]
    assert names == sorted(names) and "01_data_efficiency_vit.ipynb" in names and "08_language.ipynb" in names
    # C7 reads notebook 01's runs (both variants'), so it comes after them
    assert names[-2:] == ["09_your_data.ipynb", "10_features.ipynb"]
    assert len(names) == len(NOTEBOOKS) + 2
    extra = dict((name, params) for _, name, params in plan)
    vit = {"student": "vit-small", "fractions": [0.02, 0.1, 1.0], "tau_rules": ["validation", "fixed"]}
    assert extra["01_data_efficiency_vit.ipynb"] == vit  # every seed of the profile
    assert extra["01_data_efficiency_vit_from_vit.ipynb"] == {**vit, "teacher": "vit-small"}
    assert [name for _, name, _ in reproduce.plan("smoke", ["01"])] == [
        "01_data_efficiency.ipynb", "01_data_efficiency_vit.ipynb", "01_data_efficiency_vit_from_vit.ipynb"]
    # on the gpu profile (CIFAR-10) the ViT student is the image ViT
    assert dict((name, params) for _, name, params in reproduce.plan("gpu", ["01"]))[
        "01_data_efficiency_vit.ipynb"]["student"] == "vit-cifar"


# --- CIFAR (small fake images; tests/fake_cifar.py) -------------------------------------------------------------------
# What a CIFAR notebook adds to the MNIST-1D path is data, recipes and the configs it makes; the notebook cells are the
# same code on any dataset. So: notebook 01 end to end once (the loader, augmentation, online teacher, figure and
# scoreboard names), and for the paper recipe and notebooks 02-05 their set-up cells and every kind of run they make,
# in this process, on the smallest budgets (α = 1 only, one seed, one learning rate).

def test_claim_notebook_runs_on_cifar_at_smoke(tmp_path, monkeypatch):
    """C1 on CIFAR-10 (fake images, the smoke budget of the fast recipe): the notebook runs end to end, names its
    figures and scoreboard rows by dataset and recipe, and says which recipe it used."""
    hook = fake_cifar.kernel_hook(tmp_path / "hook")  # the kernel sees the fake CIFAR classes too
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [hook, os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("KDLIB_DATA", str(tmp_path / "data"))
    figures = tmp_path / "figures"
    text = _text(execute(notebook("01"), tmp_path / "01.ipynb", profile="smoke", dataset="cifar10", device="cpu",
                         fractions=[0.3, 1.0], tau_grid=[1, 100], tau_rules=["validation"], lr_grid=[0.1],
                         results_dir=str(tmp_path / "results"),
                         figures_dir=str(figures)))
    assert "dataset=cifar10-fast" in text and "VERDICT" in text
    pngs = {p.stem for p in figures.glob("*.png")}
    assert pngs and all(name.endswith("_cifar10-fast_smoke") for name in pngs)
    board = json.loads((figures / "scoreboard.json").read_text())
    assert board and all(key.endswith("/cifar10-fast/smoke") for key in board)


def _cifar_setup(prefix, tmp_path, **parameters):
    """Notebook `prefix`'s set-up on fake CIFAR-10 at the smallest budget; checks the setting's name (dataset and
    recipe: what names its figures and scoreboard rows) and device."""
    ns = setup(notebook(prefix), **{"profile": "smoke", "dataset": "cifar10", "device": "cpu", "fractions": [1.0],
                                    "seeds": [0], "lr_grid": [0.1], **_folders(tmp_path), **parameters})
    S = ns["S"]
    name = f"cifar10-{parameters.get('recipe') or 'fast'}"
    assert S.name == name and S.dataset == "cifar10" and S.dev == torch.device("cpu")
    return ns, S, name


def test_the_paper_recipe_on_cifar(tmp_path, fake_cifar10):
    """Notebook 01 with recipe="paper": its ResNet students train, and its figures and rows are named by the recipe."""
    import matplotlib.pyplot as plt

    ns, S, name = _cifar_setup("01", tmp_path, recipe="paper", lr_grid=None)  # the recipe's own rate
    assert (S.kd.student, S.kd.teacher, S.lr_grid) == ("resnet20", "resnet20", [0.1])  # the smoke paper recipe
    df = S.sweep(S.grid(), desc="paper recipe")
    assert (df["status"] == "ok").all() and len(df) == 2 and set(df["student"]) == {"resnet20"}
    fig = plt.figure()
    paths = S.save(fig, "c1_data_efficiency")
    plt.close(fig)
    assert [p.name for p in paths] == [f"c1_data_efficiency_{name}_smoke.png", f"c1_data_efficiency_{name}_smoke.pdf"]
    S.record("C1", {}, judgement=claims.fixed(claims.CLAIMS["C1"], "open", len(S.seeds), "a test row"))
    board = json.loads((tmp_path / "figures" / "scoreboard.json").read_text())
    assert list(board) == [f"C1/{name}/smoke"]


def _all_train(S, runs):
    df = S.sweep(runs, desc="on fake CIFAR")
    assert len(df) == len(runs) and (df["status"] == "ok").all(), df[["row", "status"]]
    assert set(df["dataset"]) == {"cifar10"} and df["test_acc"].between(0, 1).all()
    return df


def test_what_notebooks_02_and_03_run_on_cifar(tmp_path, fake_cifar10):
    """The smoothing controls of 02 (label smoothing, the class-agnostic smoothed teacher at the authors' T = 100,
    matched smoothing) and the argmax control of 03 (its other controls: tests/test_cifar_runs.py), from each
    notebook's own set-up, on augmented fake CIFAR batches with the online teacher: all of them train."""
    f, s = 1.0, 0
    ns, S, _ = _cifar_setup("02", tmp_path)
    runs = [("02", S.config("ls", f, s, eps=0.1)),
            ("02", S.config("kd", f, s, signal="smoothed_onehot", eps=0.1, tau=100.0)),
            ("02", S.config("kd", f, s, signal="matched_smoothing"))]
    ns, S, _ = _cifar_setup("03", tmp_path)
    _all_train(S, runs + [("03", S.config("kd", f, s, signal="argmax"))])


def test_what_notebooks_04_and_05_run_on_cifar(tmp_path, fake_cifar10):
    """04's logit matching and teacher-only τ, 05's λ, reverse KL, the recipe's size ladder and a teacher on half of
    the pool, from each notebook's own set-up, on fake CIFAR: all of them train (the ladder's pairs are built and
    checked; training the larger ConvNet here would add nothing the other runs do not exercise)."""
    f, s = 1.0, 0
    ns, S, _ = _cifar_setup("04", tmp_path)
    runs = [("04", S.config("kd", f, s, objective="logit_mse")),
            ("04", S.config("kd", f, s, objective="teacher_tau", tau=4.0))]
    ns, S, _ = _cifar_setup("05", tmp_path, scale_fractions=[1.0], sample_ratios=[2])
    assert ns["sizes"] == ["convnet-s", "convnet-l"]  # the fast recipe's ladder, by parameter count
    assert ns["n_params"]["convnet-s"] < ns["n_params"]["convnet-l"] and ns["pool_fractions"] == [1.0]
    assert [(S.config("kd", f, s, student=m, teacher=t).student, S.config("kd", f, s, student=m, teacher=t).teacher)
            for t, m in ns["pairs"]] == [("convnet-s", "convnet-s"), ("convnet-l", "convnet-l"),
                                         ("convnet-s", "convnet-l")]
    df = _all_train(S, runs + [("05", S.config("kd", f, s, lam=0.5)), ("05", S.config("kd", f, s, objective="reverse_kl")),
                               ("05", S.config("kd", f, s, teacher_fraction=float(ns["teacher_share"])))])
    assert df[df["row"] == "05"]["teacher_n_train"].nunique() == 2  # the teacher on half of the pool is another


@pytest.mark.parametrize("parameters, message", [
    ({"dataset": "cifar10", "recipe": "fastest"}, "recipe='fastest' is not known; allowed: fast, paper"),
    ({"recipe": "paper"}, "recipe='paper' with dataset='mnist1d': recipes are for the image datasets"),
    ({"dataset": "cifar10", "student": "cnn-base"}, "student='cnn-base' is not known; allowed: convnet-l, convnet-s, resnet18"),
])
def test_cifar_mistakes_stop_before_any_work(parameters, message, tmp_path):
    _stops_before_any_work(lambda: setup(notebook("01"), profile="smoke", **parameters, **_folders(tmp_path)),
                           message, tmp_path)
