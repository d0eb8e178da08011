"""Ensemble teachers, added distillation inputs (mixup, extra generated inputs) and deep supervision in a run."""
from __future__ import annotations

import math

import pytest
import torch

import kdlib.losses as losses_mod
import kdlib.run as run_mod
import kdlib.sweep as sweep_mod
import kdlib.tasks as tasks
import kdlib.teachers as teachers
from kdlib.data import nested_subset
from kdlib.config import make_config, member_seed
from kdlib.data import extra_inputs, mixup_inputs
from kdlib.errors import ConfigError
from kdlib.train import num_steps, resolve_device

CPU = resolve_device("cpu")


# ---------------------------------------------------------------- added inputs

def test_mixup_inputs_are_convex_combinations_of_two_rows():
    # rows e_0 .. e_4 (one-hot): a mixture w * e_i + (1 - w) * e_j shows i, j and w directly
    x = torch.eye(5)
    mixed = mixup_inputs(x, 200, seed=3)
    assert mixed.shape == (200, 5)
    assert torch.allclose(mixed.sum(1), torch.ones(200), atol=1e-6)  # weights sum to one
    assert (mixed >= 0).all() and ((mixed > 1e-9).sum(1) <= 2).all()  # at most two rows take part
    assert torch.equal(mixed, mixup_inputs(x, 200, seed=3))  # seeded
    assert not torch.equal(mixed, mixup_inputs(x, 200, seed=4))
    w = mixed.max(1).values
    assert 0.5 <= float(w.min()) and float(w.mean()) == pytest.approx(0.75, abs=0.05)  # max(w, 1-w), w ~ U(0, 1)


def test_mixup_keeps_trailing_dimensions():
    x = torch.randn(7, 2, 9)
    assert mixup_inputs(x, 11, seed=0).shape == (11, 2, 9)


def test_extra_inputs_are_new_inputs():
    cfg = make_config("smoke")
    data = tasks.dataset_for(cfg, CPU)
    extra = extra_inputs(len(data.y_train), **cfg.data)
    assert extra.shape == (len(data.y_train), *data.input_shape)
    pool = torch.cat([data.x_train, data.x_val, data.x_test])
    # no extra input equals any input of the dataset (distances all clearly positive)
    assert float(torch.cdist(extra, pool).min()) > 1e-3


# ---------------------------------------------------------------- configs

@pytest.mark.parametrize("overrides, message", [
    (dict(distill_data="more"), "distill_data='more' is not known; allowed: extra, mixup, subset"),
    (dict(distill_data="extra", lam=0.5), "distill_data='extra' adds unlabelled inputs; allowed only with lam=1"),
    (dict(distill_data="mixup", objective="dkd"), "objective='dkd'"),
    (dict(distill_data="extra", signal="argmax"), "allowed only with signal='teacher'"),
    (dict(aux_heads=True, signal="permuted_dark"), "aux_heads=True with signal='permuted_dark'"),
    (dict(teacher_members=0), "teacher_members=0 is not allowed; allowed: an integer in [1, 20]"),
    (dict(teacher_members=2, signal="random_head"), "teacher_members=2 with signal='random_head'"),
    (dict(aux_heads="yes"), "aux_heads='yes' is not allowed; allowed: True, False"),
])
def test_extras_validation(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        make_config("smoke", method="kd", **overrides)


def test_extra_inputs_need_a_generator():
    with pytest.raises(ConfigError, match="distill_data='extra' with dataset='digits'"):
        make_config("smoke", "digits", method="kd", distill_data="extra")


def test_extras_are_blank_for_label_runs_and_separate_kd_runs():
    labels = make_config("smoke", method="labels", teacher_members=3)
    assert (labels.teacher_members, labels.distill_data, labels.aux_heads) == (1, None, None)
    assert labels.key() == make_config("smoke", method="labels").key()
    kd = make_config("smoke", method="kd")
    keys = {kd.key(), make_config("smoke", method="kd", teacher_members=3).key(),
            make_config("smoke", method="kd", distill_data="mixup").key(),
            make_config("smoke", method="kd", aux_heads=True).key()}
    assert len(keys) == 4


# ---------------------------------------------------------------- runs

@pytest.fixture
def fresh(tmp_path):
    teachers._MEMORY.clear()
    yield tmp_path
    teachers._MEMORY.clear()


def test_ensemble_teacher_averages_member_probabilities(fresh):
    cfg = make_config("smoke", method="kd", fraction=0.3, teacher_members=3)
    data = tasks.dataset_for(cfg, CPU)
    ens = teachers.get_teacher(cfg, data, CPU, fresh)
    members = [teachers.get_teacher(make_config("smoke", method="kd", teacher_seed=member_seed(0, i)), data, CPU, fresh)
               for i in range(3)]
    assert len(list((fresh / "teachers").glob("*.pt"))) == 3  # each member cached once, as a single teacher
    for split in ("train", "test"):
        mean_p = torch.stack([m.logits[split].softmax(-1) for m in members]).mean(0)
        assert torch.allclose(ens.logits[split].exp(), mean_p, atol=1e-6)
        assert torch.allclose(ens.logits[split].exp().sum(-1), torch.ones(len(mean_p)), atol=1e-5)
    # the ensemble module gives the same logits on inputs (used to label added inputs)
    with torch.no_grad():
        assert torch.allclose(ens.model.eval()(data.x_test), ens.logits["test"], atol=1e-5)
    acc = (mean_p.argmax(-1) == data.y_test).float().mean().item()
    assert ens.metrics["test_acc"] == pytest.approx(acc)
    record = sweep_mod.run_one(cfg, "cpu", fresh)
    assert record["status"] == "ok" and record["metrics"]["teacher_test_acc"] == pytest.approx(acc)


@pytest.mark.parametrize("kind", ["mixup", "extra"])
def test_added_inputs_are_labelled_by_the_teacher_and_keep_the_budget(fresh, monkeypatch, kind):
    cfg = make_config("smoke", method="kd", fraction=0.1, distill_data=kind)
    seen = {}
    real = run_mod.train

    def spy(model, x, y, loss_fn, tcfg, seed, targets=None, steps=None, **kw):
        seen.update(x=x, y=y, targets=targets, steps=steps)
        return real(model, x, y, loss_fn, tcfg, seed, targets=targets, steps=steps, **kw)

    monkeypatch.setattr(run_mod, "train", spy)
    record = sweep_mod.run_one(cfg, "cpu", fresh)
    data = tasks.dataset_for(cfg, CPU)
    m, n = record["n_train"], len(data.y_train)
    assert record["status"] == "ok" and record["n_distill"] == m + n == len(seen["x"])
    assert seen["steps"] == record["steps"] == num_steps(m, cfg.train)  # the subset's budget, not (m + n)'s
    assert (seen["y"][m:] == -1).all() and (seen["y"][:m] >= 0).all()  # added inputs carry no label
    teacher = teachers.get_teacher(cfg, data, CPU, fresh)
    with torch.no_grad():
        assert torch.allclose(seen["targets"][m:], teacher.model.eval()(seen["x"][m:]), atol=1e-5)
    assert torch.allclose(seen["targets"][:m], teacher.logits["train"][nested_subset(data.y_train, 0.1, 0)])


def test_aux_heads_run_uses_deep_supervision(fresh, monkeypatch):
    calls = []
    real = losses_mod._deep_supervision

    def spy(outputs, *args, **kwargs):
        calls.append(outputs)
        return real(outputs, *args, **kwargs)

    monkeypatch.setattr(losses_mod, "_deep_supervision", spy)  # what make_loss picks for aux_heads
    cfg = make_config("smoke", method="kd", fraction=0.3, aux_heads=True)
    record = sweep_mod.run_one(cfg, "cpu", fresh)
    assert record["status"] == "ok" and 0 <= record["metrics"]["test_acc"] <= 1
    assert len(calls) == record["steps"]
    logits, aux = calls[0]  # in training the student also returns its auxiliary classifiers' logits
    assert isinstance(aux, list) and len(aux) == 1 and aux[0].shape == logits.shape  # cnn-tiny: 2 blocks, 1 head
    plain = sweep_mod.run_one(make_config("smoke", method="kd", fraction=0.3), "cpu", fresh)
    assert not math.isclose(plain["metrics"]["test_nll"], record["metrics"]["test_nll"])
