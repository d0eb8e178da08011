"""Every draw inside the interval (issue 32): each evaluation seed distils from its own teacher, in every kind of run,
and every hyperparameter is chosen on selection seeds, by the mean validation metric over them, which never
evaluate. No training here: the sweeps are replaced by a table that scores each config by hand."""
from __future__ import annotations

import pandas as pd
import pytest

from kdlib import audit, claims, notebook
from kdlib.analysis import choice_table, select_on_validation, teacher_table
from kdlib.config import MAX_SEED, MEMBER_SEEDS, make_config, make_lm_config, member_seed
from kdlib.errors import ConfigError
from kdlib.notebook import setting
from kdlib.profiles import PROFILES


# ---- a teacher per seed

KINDS = {  # every kind of teacher a notebook distils from
    "the profile's": dict(method="kd"),
    "label training's reference": dict(method="labels"),
    "label smoothing's reference": dict(method="ls", eps=0.1),
    "a control's (C2/C3)": dict(method="kd", signal="permuted_dark"),
    "another size (C5)": dict(method="kd", student="cnn-tiny", teacher="cnn-base"),
    "less data (C5, pitfall)": dict(method="kd", teacher_fraction=0.5),
    "an ensemble (fidelity)": dict(method="kd", teacher_members=3),
    "a ViT (C6)": dict(method="kd", student="vit-small", teacher="vit-small"),
    "a CIFAR recipe's": dict(method="kd", dataset="cifar10"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_the_teacher_seed_follows_the_evaluation_seed(kind):
    keys = set()
    for s in (0, 1, 7):
        cfg = make_config("smoke", fraction=0.3, seed=s, **KINDS[kind])
        assert cfg.teacher_seed == s
        keys.add(cfg.teacher_key())
    assert len(keys) == 3  # three seeds, three teachers
    # an explicit teacher seed is kept (a reader who wants one teacher for every seed can still ask for it)
    assert make_config("smoke", seed=5, teacher_seed=0, **KINDS[kind]).teacher_seed == 0


def test_the_language_models_teacher_follows_the_seed_too():
    runs = [make_lm_config("smoke", method=m, fraction=0.1, seed=s) for m in ("labels", "kd") for s in (0, 3)]
    assert [c.teacher_seed for c in runs] == [0, 3, 0, 3]
    assert runs[0].teacher_key() == runs[2].teacher_key() != runs[1].teacher_key()


def test_a_notebooks_runs_each_distil_from_their_own_seeds_teacher(tmp_path):
    S = setting("smoke", results_dir=str(tmp_path))
    S._lr = pd.DataFrame({"method": ["labels", "kd"] * 3, "fraction": [0.1, 0.1, 0.3, 0.3, 1.0, 1.0], "lr": 1e-2})
    for kw in KINDS.values():
        if kw.get("dataset") or kw["method"] == "ls":
            continue
        m = kw["method"]
        cfg = S.config(m, 0.3, 1, **{k: v for k, v in kw.items() if k != "method"})
        assert cfg.teacher_seed == 1


def test_ensemble_members_never_coincide_across_seeds_nor_with_a_plain_seed():
    members = {s: [member_seed(s, i) for i in range(20)] for s in (0, 1, 2, 15, 1000, 1001, MAX_SEED)}
    assert all(m[0] == s for s, m in members.items())  # member 0 is the seed's own single teacher
    flat = [x for m in members.values() for x in m]
    assert len(flat) == len(set(flat))
    assert all(x > MAX_SEED for m in members.values() for x in m[1:]) and MEMBER_SEEDS == MAX_SEED + 1
    assert member_seed(1, 1) == MEMBER_SEEDS + 21  # 1,000,000 + 20 · 1 + 1


def test_the_teacher_table_counts_each_seeds_teacher_once():
    df = pd.DataFrame({"status": "ok", "teacher": "t", "teacher_fraction": 1.0, "teacher_members": 1,
                       "teacher_seed": [0, 0, 1, 1, 2], "teacher_test_acc": [0.9, 0.9, 0.8, 0.8, 0.7]})
    t = teacher_table(df).iloc[0]
    assert (t["seeds"], t["mean"]) == (3, pytest.approx(0.8)) and t["sd"] == pytest.approx(0.1)


# ---- selection seeds

def test_selection_and_evaluation_seeds_are_disjoint_in_every_profile():
    for name, p in PROFILES.items():
        for part in (p, p["lm"]):
            assert len(part["selection_seeds"]) >= 2
            assert not set(part["selection_seeds"]) & set(part["seeds"]), name
    assert not set(audit.SELECTION_SEEDS) & {s for b in audit.BUDGETS.values() for s in b["seeds"]}


@pytest.mark.parametrize("bad", [[0, 1000], [1000], [1000, 1000], 1000, [1000, -1], [1000, True]])
def test_a_selection_seed_that_could_evaluate_is_refused_before_any_work(bad, tmp_path):
    with pytest.raises(ConfigError, match=r"selection_seeds=.* is not allowed; allowed: a list of at least two "
                                          r"distinct integers .* none of them an evaluation seed \(0, 1\)"):
        setting("smoke", selection_seeds=bad, results_dir=str(tmp_path / "r"))
    assert not (tmp_path / "r").exists()
    with pytest.raises(ConfigError, match="selection_seeds="):
        audit.prepare(profile="smoke", seeds=[0, 1], selection_seeds=bad, results_dir=str(tmp_path / "a"))
    assert not (tmp_path / "a").exists()


def _fake_sweep(seen: list):
    """A sweep that trains nothing: each config's validation accuracy is a fixed function of its knobs and seed
    (so the choices are known by hand), its test accuracy too; every config handed to it is kept in `seen`."""
    def score(c):
        lr_bonus = 0.05 if c.train.lr == 1e-2 else 0.0
        tau_bonus = {1.0: 0.0, 4.0: 0.02}.get(c.tau, 0.01) if c.method == "kd" else 0.0
        return 0.5 + lr_bonus + tau_bonus + 0.001 * (c.seed % 7)

    def fake(runs, *args, **kwargs):
        pairs = runs if runs and isinstance(runs[0], tuple) else [(None, c) for c in runs]
        seen.extend(c for _, c in pairs)
        rows = [{**{k: v for k, v in c.as_dict().items() if not isinstance(v, dict)}, "lr": c.train.lr,
                 "row": name, "variant": c.method, "status": "ok", "key": c.key(), "val_acc": score(c),
                 "test_acc": score(c) + 0.01, "teacher_test_acc": 0.9} for name, c in pairs]
        df = pd.DataFrame(rows)
        return df if pairs[0][0] is not None else df.drop(columns="row")
    return fake


def test_no_evaluation_seed_ever_selects_and_no_selection_seed_ever_evaluates(tmp_path, monkeypatch):
    seen = []
    S = setting("smoke", results_dir=str(tmp_path))
    monkeypatch.setattr(S, "sweep", _fake_sweep(seen))
    S.lr, S.choose_tau([1, 4]), S.select("ε", {"ε=0.1": dict(eps=0.1), "ε=0.2": dict(eps=0.2)}, method="ls")
    chosen = S.show_choices()
    assert set(chosen["what"]) == {"learning rate", "τ", "ε"}
    assert {c.seed for c in seen} == set(S.selection_seeds) == {1000, 1001}  # every choice ran on them alone
    assert set(chosen["seeds"]) == {"1000, 1001"}
    selection_runs = len(seen)
    # the row's runs: evaluation seeds only, look by look
    S.decide("C1", lambda seeds: [(m, S.config(m, f, s)) for m in ("labels", "kd") for f in S.fractions for s in seeds],
             ctx=dict(settings={"kd": ("kd", "labels")}, lo=S.fractions[0], hi=S.fractions[-1]))
    judged = {c.seed for c in seen[selection_runs:]}
    assert judged and judged <= set(S.schedule) and not judged & set(S.selection_seeds)


# ---- choices by the mean over the selection seeds, worked by hand

def test_the_choice_is_the_best_mean_over_the_selection_seeds():
    # validation accuracy per (candidate, seed):   A      B      C
    #   seed 1000                                  0.70   0.66   0.60
    #   seed 1001                                  0.50   0.58   0.62
    #   mean                                       0.60   0.62   0.61  -> B, runner-up C, gap 0.01
    # seed 1000 alone would choose A; the mean over both chooses B
    table = {("A", 1000): 0.70, ("A", 1001): 0.50, ("B", 1000): 0.66, ("B", 1001): 0.58,
             ("C", 1000): 0.60, ("C", 1001): 0.62}
    df = pd.DataFrame([{"row": r, "seed": s, "fraction": 0.1, "status": "ok", "val_acc": v}
                       for (r, s), v in table.items()])
    got = choice_table(df, ["A", "B", "C"]).iloc[0]
    assert (got["chosen"], got["runner_up"], got["seeds"]) == ("B", "C", [1000, 1001])
    assert got["score"] == pytest.approx(0.62) and got["gap"] == pytest.approx(0.01)
    assert choice_table(df[df["seed"] == 1000], ["A", "B", "C"]).iloc[0]["chosen"] == "A"
    # a tie of means goes to the candidate earlier in the order fixed in advance
    tie = df.assign(val_acc=0.5)
    assert choice_table(tie, ["C", "A", "B"]).iloc[0]["chosen"] == "C"
    assert choice_table(tie, ["A", "B", "C"]).iloc[0]["gap"] == 0
    # lower is better (perplexity): C has the lowest mean... of the negated table
    low = df.assign(val_ppl=-df["val_acc"])
    assert choice_table(low, ["A", "B", "C"], metric="val_ppl", higher_is_better=False).iloc[0]["chosen"] == "B"


def test_the_learning_rate_is_the_best_mean_and_a_tie_goes_to_the_smaller_rate():
    df = pd.DataFrame({"status": "ok", "method": "kd", "fraction": 0.1, "seed": [1000, 1001, 1000, 1001],
                       "lr": [1e-3, 1e-3, 1e-2, 1e-2], "val_acc": [0.9, 0.5, 0.6, 0.7]})  # means 0.70 vs 0.65
    assert select_on_validation(df, "lr")["lr"].item() == 1e-3
    assert select_on_validation(df.assign(val_acc=0.5), "lr")["lr"].item() == 1e-3


def test_the_audit_chooses_on_the_mean_over_its_selection_seeds():
    # labels: lr 1e-3 wins seed 1000 (0.9 vs 0.7) but loses the mean (0.6 vs 0.65);
    # KD: (1e-2, τ=4) has the best mean accuracy (0.7); a tie in accuracy goes to the lower mean cross-entropy
    rows = [("labels", 1e-3, None, 1000, 0.9, 1.0), ("labels", 1e-3, None, 1001, 0.3, 1.0),
            ("labels", 1e-2, None, 1000, 0.7, 1.0), ("labels", 1e-2, None, 1001, 0.6, 1.0),
            ("kd", 1e-3, 1.0, 1000, 0.7, 0.9), ("kd", 1e-3, 1.0, 1001, 0.7, 0.8),
            ("kd", 1e-2, 4.0, 1000, 0.6, 0.5), ("kd", 1e-2, 4.0, 1001, 0.8, 0.5)]
    df = pd.DataFrame([dict(method=m, lr=lr, tau=t, seed=s, val_acc=a, val_nll=n, fraction=0.5, status="ok")
                       for m, lr, t, s, a, n in rows])
    chosen = audit.choose(df, lr_grid=[1e-3, 1e-2], taus=[1.0, 4.0]).set_index("method")
    assert chosen.loc["labels", "lr"] == 1e-2 and chosen.loc["labels", "val_acc"] == pytest.approx(0.65)
    assert (chosen.loc["kd", "lr"], chosen.loc["kd", "tau"]) == (1e-2, 4.0)  # 0.7 each: 0.5 < 0.85 cross-entropy


def test_the_c4_claim_says_its_pair_comes_from_the_selection_seeds():
    assert "selection seeds" in claims.CLAIMS["C4"].d and "first look" not in claims.CLAIMS["C4"].d
    assert notebook.Setting.select.__doc__ and "selection seed" in notebook.Setting.select.__doc__


def test_a_run_of_seed_1_is_compared_with_and_distils_from_the_teacher_of_seed_1(tmp_path):
    from kdlib import run, tasks, teachers
    cfg = make_config("smoke", method="kd", fraction=0.1, seed=1, min_steps=5, epochs=1)
    record = run.run_one(cfg, "cpu", str(tmp_path))
    own = teachers.get_teacher(cfg, tasks.dataset_for(cfg, "cpu"), "cpu", str(tmp_path))
    seed0 = teachers.get_teacher(make_config("smoke", method="kd", seed=0), tasks.dataset_for(cfg, "cpu"), "cpu",
                                 str(tmp_path))
    assert record["config"]["teacher_seed"] == 1
    assert record["metrics"]["teacher_test_acc"] == own.metrics["test_acc"]
    assert len(list((tmp_path / "teachers").glob("*.pt"))) == 2  # seed 1's, then seed 0's: two teachers
    assert not all(own.logits["test"].flatten() == seed0.logits["test"].flatten())
