"""The run layer's seams: the loss of a run chosen once from its config, the profiles as data, the integer and list
checks, and a notebook's setting (validation before work, the learning-rate rule)."""
from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch

from kdlib import errors, losses, profiles
from kdlib.config import OBJECTIVES, make_config, make_lm_config, profile_defaults
from kdlib.errors import ConfigError
from kdlib.notebook import setting


def _tensors(k=5, b=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, k, generator=g), torch.randn(b, k, generator=g), torch.randint(0, k, (b,), generator=g)


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("lam", [0.5, 1.0])
def test_make_loss_is_kd_loss_with_the_objective_looked_up_once(objective, lam):
    s, t, y = _tensors()
    cfg = make_config("smoke", method="kd", objective=objective, lam=lam, tau=3.0)
    got = losses.make_loss(cfg)(s, y, t)
    want = losses.kd_loss(s, y, t, lam=lam, tau=cfg.tau if cfg.tau is not None else 1.0, objective=objective)
    assert torch.equal(got, want)  # bit for bit: the same operations in the same order


def test_make_loss_of_labels_smoothing_controls_and_deep_supervision():
    s, t, y = _tensors()
    assert torch.equal(losses.make_loss(make_config("smoke", method="labels"))(s, y, None),
                       torch.nn.functional.cross_entropy(s, y))
    assert torch.equal(losses.make_loss(make_config("smoke", method="ls", eps=0.2))(s, y, None),
                       torch.nn.functional.cross_entropy(s, y, label_smoothing=0.2))
    q = torch.softmax(t, 1)
    control = losses.make_loss(make_config("smoke", method="kd", signal="argmax", lam=0.5, tau=2.0))
    # by hand: lam * tau^2 * KL(q || softmax(s / tau)) + (1 - lam) * CE
    kl = (q * (q.log() - torch.log_softmax(s / 2.0, 1))).sum(1).mean()
    assert control(s, y, q).item() == pytest.approx(0.5 * 4 * kl.item() + 0.5 * torch.nn.functional.cross_entropy(s, y).item(), rel=1e-6)
    aux = losses.make_loss(make_config("smoke", method="kd", aux_heads=True, tau=2.0))
    assert torch.equal(aux((s, [t]), y, t), losses.deep_supervision_loss((s, [t]), y, t, lam=1.0, tau=2.0))


def test_make_loss_of_a_language_model_averages_every_position():
    g = torch.Generator().manual_seed(1)
    s, t, y = torch.randn(2, 3, 7, generator=g), torch.randn(2, 3, 7, generator=g), torch.randint(0, 7, (2, 3), generator=g)
    kd = losses.make_loss(make_lm_config("smoke", method="kd", lam=0.25, tau=2.0))
    assert torch.equal(kd(s, y, t), losses.sequence_kd_loss(s, y, t, lam=0.25, tau=2.0))
    labels = losses.make_loss(make_lm_config("smoke", method="labels"))
    assert labels(s, y, None).item() == pytest.approx(torch.nn.functional.cross_entropy(s.reshape(6, 7), y.reshape(6)).item())


def test_profiles_are_plain_data_that_resolving_never_changes():
    before = copy.deepcopy(profiles.PROFILES)
    for p in profiles.PROFILES:
        for ds in ("mnist1d", "digits", "cifar10", "cifar100"):
            profile_defaults(p, ds)["data"]["n_val"] = -1  # a caller's edit of the resolved copy stays there
    assert profiles.PROFILES == before
    assert profile_defaults("gpu")["dataset"] == "cifar10" and profile_defaults("cpu")["fractions"] == profiles.FRACTIONS


def test_check_int_and_check_list_messages():
    errors.check_int("n", 3, 1, 5)
    for bad in (0, 6, 2.0, True, "3"):
        with pytest.raises(ConfigError, match=r"n=.* is not allowed; allowed: an integer in \[1, 5\]"):
            errors.check_int("n", bad, 1, 5)
    with pytest.raises(ConfigError, match="seed=-1 is not allowed; allowed: an integer in \[0, 999999\]"):
        make_config("smoke", seed=-1)
    with pytest.raises(ConfigError, match=r"taus=0 is outside the allowed range \(0, inf\)"):
        errors.check_list("taus", [1, 0], low=0, low_open=True)
    with pytest.raises(ConfigError, match="taus=\\[\\] is empty"):
        errors.check_list("taus", [], low=0)
    with pytest.raises(ConfigError, match="m='x' is not known; allowed: a, b"):
        errors.check_list("m", ["a", "x"], choices=("a", "b"))


def test_setting_checks_everything_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match=r"fraction=1.5 is outside the allowed range \(0, 1\]"):
        setting("smoke", fractions=[0.1, 1.5], results_dir=str(tmp_path / "r"), figures_dir=str(tmp_path / "f"))
    with pytest.raises(ConfigError, match="lr_grid=0 is outside"):
        setting("smoke", lr_grid=[1e-3, 0], results_dir=str(tmp_path / "r"))
    with pytest.raises(ConfigError, match="student='gpt-huge' is not known"):
        setting("smoke", "shakespeare", student="gpt-huge", results_dir=str(tmp_path / "r"))
    assert not (tmp_path / "r").exists() and not (tmp_path / "f").exists()


def test_setting_resolves_the_profile_and_applies_the_learning_rate_rule(tmp_path):
    S = setting("smoke", seeds=[3, 4], n_seeds=1, tau=2.0, results_dir=str(tmp_path))
    assert S.name == "mnist1d" and S.fractions == [0.1, 0.3, 1.0] and S.seeds == [3, 4]
    assert S.kd == make_config("smoke", method="kd", fraction=1.0, seed=4, tau=2.0)
    assert setting("smoke", n_seeds=1).seeds == [0] and setting("smoke", "cifar10").name == "cifar10-fast"
    # the profile's seeds come in looks (kdlib.claims); seeds given explicitly are one look
    whole = setting("smoke")
    assert (whole.seeds, whole.schedule, whole.looks) == ([0], [0, 1], (1, 2)) and S.looks == (2,)
    S._lr = pd.DataFrame({"method": ["labels", "kd", "labels", "kd"], "fraction": [0.1, 0.1, 0.3, 0.3],
                          "lr": [1e-3, 2e-3, 3e-3, 4e-3]})  # as if chosen on validation data
    assert S.config("ls", 0.1, 3, eps=0.1).train.lr == 1e-3  # label smoothing takes the labels' rate
    assert S.config("kd", 0.3, 3, signal="argmax").train.lr == 4e-3  # every KD variant takes KD's
    assert S.config("kd", 0.3, 4) == make_config("smoke", method="kd", fraction=0.3, seed=4, tau=2.0, lr=4e-3)
    with pytest.raises(ConfigError, match="fraction=1.0 has no chosen learning rate"):
        S.config("kd", 1.0, 3)
    assert [c.fraction for c in S.grid(("labels",), fractions=[0.1])] == [0.1, 0.1]
