"""Every notebook executed end to end through papermill at the smoke profile, in temporary folders."""
from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import papermill as pm
import pytest

import fake_cifar

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_at_smoke(path, tmp_path, monkeypatch):
    monkeypatch.setenv("KDLIB_WORKERS", "2")  # the kernel's sweeps go to two worker processes, as on a user's laptop
    out = tmp_path / path.name
    figures = tmp_path / "figures"
    pm.execute_notebook(str(path), str(out), cwd=str(path.parent), kernel_name="python3", progress_bar=False,
                        parameters={"profile": "smoke", "results_dir": str(tmp_path / "results"),
                                    "figures_dir": str(figures), "device": "cpu"})
    nb = nbformat.read(out, as_version=4)
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
        assert all(e["profile"] == "smoke" and e["verdict"] in ("reproduced", "not reproduced", "inconclusive", "mixed")
                   for e in board.values())
        for e in board.values():  # every row: its halves, the machine its runs ran on, a summary for the README
            assert len(e["halves"]) == 2 and e["halves_agree"] == (e["halves"][0] == e["halves"][1])
            assert e["machines"] and all("torch" in m and "thread" in m for m in e["machines"]) and e["summary"]
            assert e["interval"] is None or len(e["interval"]) == 2
    if path.stem.startswith("05"):  # one figure and one scoreboard entry per factor
        assert {p.stem for p in figures.glob("c5_*.png")} == {f"c5_{f}_mnist1d_smoke" for f in
                                                              ("lambda", "objective", "scale", "samples")}
        assert {k.split("/")[0] for k in board} == {"C5-lambda", "C5-objective", "C5-scale", "C5-samples"}
    if path.stem.startswith("06"):  # three verdicts, one figure
        assert {k.split("/")[0] for k in board} == {"Fidelity-1", "Fidelity-2", "Fidelity-3"}
    if path.stem.startswith("07"):
        assert {k.split("/")[0] for k in board} == {"Pitfall"}
        assert "verdict[DKD]" in next(iter(board.values()))["numbers"]
    if path.stem.startswith("01"):  # three temperature rules, the τ chosen per α, the authors' numbers beside ours
        numbers = board["C1/mnist1d/smoke"]["numbers"]
        assert {f"{r}:efficiency_median" for r in ("validation", "paper", "fixed")} <= set(numbers)
        assert {"tau_chosen@0.1", "tau_chosen@1"} <= set(numbers) and "authors_cifar100_T100:efficiency_median" in numbers
    if path.stem[:2] in ("02", "03"):  # judged at the validation-chosen τ and at τ = 4, one figure each
        claim = "C2" if path.stem.startswith("02") else "C3"
        assert {k.split("/")[0] for k in board} == {claim, f"{claim} (τ = 4)"}
        assert len(list(figures.glob("*.png"))) == 2
    if path.stem.startswith("08"):  # perplexities, a figure and generated text from all three models
        assert {k.split("/")[0] for k in board} == {"C6-LM"}
        assert {p.stem for p in figures.glob("*.png")} == {"c6_language_shakespeare_smoke"}
        numbers = next(iter(board.values()))["numbers"]
        assert numbers["labels_test_ppl_smallest"] > 1 and numbers["kd_test_ppl_alpha_1"] > 1
        assert text.count("--- ") == 3 and "prompt: " in text
    if path.stem.startswith("04"):  # the explorer: a static figure for papermill/HTML, and the live widget
        images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        assert len(images) >= 2 and "application/vnd.jupyter.widget-view+json" in text


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
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_bad_parameter_stops_before_training(path, tmp_path):
    """A bad value is reported by name, with what is allowed, before any run is stored."""
    assert path.stem[:2] in BAD_VALUES, f"add a bad-value case for {path.name}"
    name, value, message = BAD_VALUES[path.stem[:2]]
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(path), str(tmp_path / "bad.ipynb"), cwd=str(path.parent), kernel_name="python3",
                            progress_bar=False, parameters={"profile": "smoke", name: value,
                                                            "results_dir": str(tmp_path / "results"),
                                                            "figures_dir": str(tmp_path / "figures")})
    assert "ConfigError" in str(err.value) and message in str(err.value)
    assert not (tmp_path / "results").exists() and not (tmp_path / "figures").exists()


def test_c1_notebook_with_a_vit_student_is_a_variant(tmp_path):
    """C6's ViT variant of notebook 01 (what `make reproduce` runs): its own figure and scoreboard entry, so the
    CNN's C1 results are never overwritten."""
    path = next(p for p in NOTEBOOKS if p.stem.startswith("01"))
    figures = tmp_path / "figures"
    pm.execute_notebook(str(path), str(tmp_path / "vit.ipynb"), cwd=str(path.parent), kernel_name="python3",
                        progress_bar=False, parameters={"profile": "smoke", "student": "vit-tiny", "seeds": [0],
                                                        "tau_rules": ["validation", "fixed"],
                                                        "results_dir": str(tmp_path / "results"),
                                                        "figures_dir": str(figures), "device": "cpu"})
    assert {p.stem for p in figures.glob("*.png")} == {"c1_data_efficiency_vit-tiny_from_cnn-tiny_mnist1d_smoke"}
    board = json.loads((figures / "scoreboard.json").read_text())
    assert list(board) == ["C6-ViT/mnist1d/smoke"]
    assert "vit-tiny student of a cnn-tiny teacher" in board["C6-ViT/mnist1d/smoke"]["title"]
    assert "VERDICT C6-ViT" in _text(nbformat.read(tmp_path / "vit.ipynb", as_version=4))


def test_reproduce_plan_includes_the_variants():
    from kdlib import reproduce

    plan = reproduce.plan("cpu")
    names = [name for _, name, _ in plan]
    assert names == sorted(names) and "01_data_efficiency_vit.ipynb" in names and "08_language.ipynb" in names
    assert names[-1] == "09_your_data.ipynb"  # the audit of the reader's data runs last, on the embedded example
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


CLAIM_NOTEBOOKS_ON_CIFAR = [p for p in NOTEBOOKS if p.stem[:2] in ("01", "02", "03", "04", "05")]


@pytest.fixture
def cifar_kernel(tmp_path, monkeypatch):
    """Kernels started from this test see small fake CIFAR datasets in place of torchvision's (tests/fake_cifar.py)."""
    hook = fake_cifar.kernel_hook(tmp_path / "hook")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [hook, os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("KDLIB_DATA", str(tmp_path / "data"))


@pytest.mark.parametrize("path, recipe", [(p, None) for p in CLAIM_NOTEBOOKS_ON_CIFAR] +
                         [(CLAIM_NOTEBOOKS_ON_CIFAR[0], "paper")],
                         ids=[p.stem for p in CLAIM_NOTEBOOKS_ON_CIFAR] + ["01_paper"])
def test_claim_notebook_runs_on_cifar_at_smoke(path, recipe, tmp_path, cifar_kernel):
    """C1-C5 on CIFAR-10 (fake images, the smoke budget of a recipe): the notebook runs end to end, names its figures
    and scoreboard rows by dataset and recipe, and says which recipe it used."""
    figures = tmp_path / "figures"
    out = tmp_path / path.name
    pm.execute_notebook(str(path), str(out), cwd=str(path.parent), kernel_name="python3", progress_bar=False,
                        parameters={"profile": "smoke", "dataset": "cifar10", "recipe": recipe, "device": "cpu",
                                    "results_dir": str(tmp_path / "results"), "figures_dir": str(figures)})
    setting = f"cifar10-{recipe or 'fast'}"
    text = _text(nbformat.read(out, as_version=4))
    assert f"dataset={setting}" in text and "VERDICT" in text
    pngs = {p.stem for p in figures.glob("*.png")}
    assert pngs and all(name.endswith(f"_{setting}_smoke") for name in pngs)
    board = json.loads((figures / "scoreboard.json").read_text())
    assert board and all(key.endswith(f"/{setting}/smoke") for key in board)


@pytest.mark.parametrize("parameters, message", [
    ({"dataset": "cifar10", "recipe": "fastest"}, "recipe='fastest' is not known; allowed: fast, paper"),
    ({"recipe": "paper"}, "recipe='paper' with dataset='mnist1d': recipes are for the image datasets"),
    ({"dataset": "cifar10", "student": "cnn-base"}, "student='cnn-base' is not known; allowed: convnet-l, convnet-s, resnet18"),
])
def test_cifar_mistakes_stop_before_any_work(parameters, message, tmp_path):
    path = CLAIM_NOTEBOOKS_ON_CIFAR[0]
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(path), str(tmp_path / "bad.ipynb"), cwd=str(path.parent), kernel_name="python3",
                            progress_bar=False, parameters={"profile": "smoke", **parameters,
                                                            "results_dir": str(tmp_path / "results"),
                                                            "figures_dir": str(tmp_path / "figures")})
    assert "ConfigError" in str(err.value) and message in str(err.value)
    assert not (tmp_path / "results").exists()
