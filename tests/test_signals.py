"""Teacher-signal transforms (controls of C2/C3): rows sum to one and each keeps exactly what it promises."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from kdlib import signals
from kdlib.losses import kd_loss, kl_to_targets, label_smoothing_ce

K = 10


@pytest.fixture
def teacher():
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(64, K, generator=g, dtype=torch.float64)
    y = torch.randint(0, K, (64,), generator=g)
    y[:32] = logits[:32].argmax(1)  # half right, half (mostly) wrong, so `conditional` has both cases
    return F.softmax(logits, 1), y


def _entropy(p):
    return -(torch.xlogy(p, p)).sum(1)


def _non_target(p, y):
    mask = torch.ones_like(p, dtype=torch.bool).scatter_(1, y[:, None], False)
    return p[mask].view(len(p), K - 1)


@pytest.mark.parametrize("name", sorted(signals.TRANSFORMS))
def test_rows_sum_to_one_and_nonnegative(teacher, name):
    p, y = teacher
    q = signals.TRANSFORMS[name](p, y, torch.Generator().manual_seed(1))
    assert q.shape == p.shape and q.dtype == p.dtype
    assert torch.allclose(q.sum(1), torch.ones(len(p), dtype=p.dtype), atol=1e-12)
    assert (q >= 0).all()


def test_matched_smoothing_keeps_true_mass_and_is_uniform_elsewhere(teacher):
    p, y = teacher
    q = signals.matched_smoothing(p, y)
    assert torch.equal(q.gather(1, y[:, None]), p.gather(1, y[:, None]))
    rest = _non_target(q, y)
    expected = (1 - p.gather(1, y[:, None])) / (K - 1)
    assert torch.allclose(rest, expected.expand_as(rest), atol=1e-15)


def test_permuted_dark_keeps_mass_entropy_and_multiset(teacher):
    p, y = teacher
    q = signals.permuted_dark(p, y, torch.Generator().manual_seed(3))
    assert torch.equal(q.gather(1, y[:, None]), p.gather(1, y[:, None]))  # true-class mass, exactly
    assert torch.equal(torch.sort(_non_target(q, y), 1).values, torch.sort(_non_target(p, y), 1).values)
    assert torch.allclose(_entropy(q), _entropy(p), atol=1e-12)
    moved = (_non_target(q, y) != _non_target(p, y)).any(1).float().mean().item()
    assert moved > 0.9  # which wrong class is likely has changed in (almost) every row
    again = signals.permuted_dark(p, y, torch.Generator().manual_seed(3))
    assert torch.equal(q, again)  # deterministic given the generator


def test_argmax_and_conditional(teacher):
    p, y = teacher
    hard = signals.argmax_teacher(p, y)
    assert torch.equal(hard.argmax(1), p.argmax(1)) and torch.equal(hard.sum(1), torch.ones(len(p), dtype=p.dtype))
    assert set(hard.unique().tolist()) == {0.0, 1.0}
    c = signals.conditional_teacher(p, y)
    right = p.argmax(1) == y
    assert 0 < right.sum() < len(y)
    assert torch.equal(c[right], p[right])
    assert torch.equal(c[~right], F.one_hot(y[~right], K).to(p.dtype))


def test_smoothed_onehot_is_label_smoothing_through_tau():
    y = torch.tensor([0, 3])
    q = signals.smoothed_onehot(y, 4, eps=0.2, tau=1.0)
    assert torch.allclose(q[0], torch.tensor([0.85, 0.05, 0.05, 0.05]))  # (1 - 0.2) + 0.2/4, then 0.2/4
    # at tau the log-odds of true vs other class shrink by tau: log(0.85/0.05) / 4
    q4 = signals.smoothed_onehot(y, 4, eps=0.2, tau=4.0)
    assert math.isclose(math.log(q4[1, 3] / q4[1, 0]), math.log(0.85 / 0.05) / 4, rel_tol=1e-5)
    assert torch.allclose(q4.sum(1), torch.ones(2))
    assert torch.equal(q4[0].argmax(), torch.tensor(0))


def test_kd_to_matched_target_is_label_smoothing_up_to_a_constant():
    """If the teacher's true-class mass is the same m for every sample, KD towards matched smoothing (tau = 1)
    equals label-smoothed CE with eps = K (1 - m) / (K - 1), minus the target's entropy (a constant)."""
    g = torch.Generator().manual_seed(5)
    y = torch.randint(0, K, (16,), generator=g)
    m = 0.7
    p = torch.full((16, K), (1 - m) / (K - 1), dtype=torch.float64).scatter_(1, y[:, None], m)
    p = signals.permuted_dark(p, y, g)  # irrelevant here: still uniform off-target
    q = signals.matched_smoothing(p, y)
    eps = K * (1 - m) / (K - 1)
    const = _entropy(q).mean()
    for _ in range(3):
        s = torch.randn(16, K, generator=g, dtype=torch.float64)
        kd = kl_to_targets(s, q, tau=1.0)
        ls = label_smoothing_ce(s, y, eps)
        assert torch.allclose(kd, ls - const, atol=1e-12)


def test_kd_loss_with_teacher_probs_equals_kl_to_targets():
    """The probability-target path used by the controls agrees with kd_loss on the unmodified teacher."""
    g = torch.Generator().manual_seed(7)
    s, t = torch.randn(8, K, generator=g, dtype=torch.float64), torch.randn(8, K, generator=g, dtype=torch.float64)
    y = torch.randint(0, K, (8,), generator=g)
    for tau in (1.0, 4.0):
        q = F.softmax(t / tau, 1)
        assert torch.allclose(kd_loss(s, y, t, lam=1.0, tau=tau), tau**2 * kl_to_targets(s, q, tau), atol=1e-12)


def test_every_signal_runs_and_random_head_keeps_features(tmp_path):
    from kdlib.config import SIGNALS, make_config
    from kdlib.sweep import sweep
    from kdlib.tasks import dataset_for, distill_targets
    from kdlib.teachers import get_teacher

    configs = [make_config("smoke", method="kd", fraction=0.3, signal=s,
                           eps=0.1 if s == "smoothed_onehot" else None) for s in SIGNALS]
    df = sweep(configs, tmp_path, "cpu", progress=False)
    assert list(df["status"]) == ["ok"] * len(SIGNALS) and df["key"].nunique() == len(SIGNALS)

    cfg = next(c for c in configs if c.signal == "random_head")
    data = dataset_for(cfg)
    teacher = get_teacher(cfg, data, torch.device("cpu"), tmp_path)
    before = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    idx = torch.arange(50)
    q = distill_targets(cfg, teacher, data, idx)
    assert torch.allclose(q.sum(1), torch.ones(50))
    p = F.softmax(teacher.logits["train"][idx] / cfg.tau, 1)
    assert not torch.allclose(q, p, atol=1e-3)  # the class mapping is scrambled
    assert all(torch.equal(v, teacher.model.state_dict()[k]) for k, v in before.items())  # teacher untouched
    assert torch.equal(q, distill_targets(cfg, teacher, data, idx))  # seeded: same run, same head
