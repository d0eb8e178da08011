"""kdlib.losses against hand computations (numpy / math, float64)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hand import hand_ce, np_softmax, t64
from kdlib.losses import kd_loss, kl_to_targets, label_smoothing_ce

S = [[1.0, 2.0, 0.5], [0.3, -1.0, 2.2]]
T = [[2.0, 0.0, 1.0], [-0.5, 1.5, 0.7]]
Y = [1, 2]


def hand_kl(s, t, tau):
    """mean_i sum_k p_k log(p_k / q_k), p = softmax(t / tau), q = softmax(s / tau)."""
    p, q = np_softmax(np.asarray(t) / tau), np_softmax(np.asarray(s) / tau)
    return float(np.mean([sum(p[i, k] * math.log(p[i, k] / q[i, k]) for k in range(p.shape[1]))
                          for i in range(p.shape[0])]))


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("tau", [1.0, 4.0])
def test_kd_loss_matches_hand_computation(lam, tau):
    expected = (1 - lam) * hand_ce(S, Y) + lam * tau**2 * hand_kl(S, T, tau)
    got = kd_loss(t64(S), torch.tensor(Y), t64(T), lam=lam, tau=tau)
    assert got.item() == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # float32 inputs give the same number to float32 precision
    got32 = kd_loss(torch.tensor(S), torch.tensor(Y), torch.tensor(T), lam=lam, tau=tau)
    assert got32.item() == pytest.approx(expected, rel=1e-5)


def test_hand_numbers_are_not_degenerate():
    # the parametrised test above is only meaningful if the two terms differ and depend on tau
    assert hand_ce(S, Y) > 0.1 and hand_kl(S, T, 1.0) > 0.1
    assert abs(hand_ce(S, Y) - hand_kl(S, T, 1.0)) > 0.1
    assert abs(hand_kl(S, T, 1.0) - 16 * hand_kl(S, T, 4.0)) > 0.05


def test_lam0_is_cross_entropy_and_ignores_teacher():
    s, y = t64(S), torch.tensor(Y)
    ce = F.cross_entropy(s, y)
    assert kd_loss(s, y, None, lam=0.0).item() == pytest.approx(ce.item(), rel=1e-14)
    assert kd_loss(s, y, None, lam=0.0, tau=7.0).item() == pytest.approx(ce.item(), rel=1e-14)
    garbage = torch.full((2, 3), float("nan"), dtype=torch.float64)
    assert kd_loss(s, y, garbage, lam=0.0, tau=4.0).item() == pytest.approx(ce.item(), rel=1e-14)


def test_lam1_ignores_labels_and_is_zero_for_equal_logits():
    s, t = t64(S), t64(T)
    a = kd_loss(s, torch.tensor([0, 0]), t, lam=1.0, tau=2.0)
    b = kd_loss(s, torch.tensor([2, 1]), t, lam=1.0, tau=2.0)
    assert a.item() == b.item()
    for tau in (0.5, 1.0, 4.0, 20.0):
        assert abs(kd_loss(s, torch.tensor(Y), s.clone(), lam=1.0, tau=tau).item()) < 1e-12
        # softmax is shift invariant per row, so a per-row constant shift also gives zero
        shifted = s + t64([[3.0], [-5.0]])
        assert abs(kd_loss(s, torch.tensor(Y), shifted, lam=1.0, tau=tau).item()) < 1e-12


def test_lam1_is_nonnegative_on_random_logits():
    g = torch.Generator().manual_seed(0)
    values = []
    for _ in range(200):
        s = torch.randn(8, 10, generator=g, dtype=torch.float64) * 3
        t = torch.randn(8, 10, generator=g, dtype=torch.float64) * 3
        tau = float(torch.rand((), generator=g, dtype=torch.float64)) * 10 + 0.1
        values.append(kd_loss(s, torch.zeros(8, dtype=torch.long), t, lam=1.0, tau=tau).item())
    assert min(values) >= 0.0
    assert max(values) > 0.1


@pytest.mark.parametrize("seed", range(5))
def test_large_tau_limit(seed):
    """tau^2 KL(softmax(t/tau) || softmax(s/tau)) -> (1/2K) mean_i sum_k ((s - mean s) - (t - mean t))^2."""
    g = torch.Generator().manual_seed(seed)
    B, K = 6, 7
    s = torch.randn(B, K, generator=g, dtype=torch.float64) * 2
    t = torch.randn(B, K, generator=g, dtype=torch.float64) * 2
    d = (s - s.mean(1, keepdim=True)) - (t - t.mean(1, keepdim=True))
    limit = ((d ** 2).sum(1) / (2 * K)).mean().item()
    y = torch.zeros(B, dtype=torch.long)
    at100 = kd_loss(s, y, t, lam=1.0, tau=100.0).item()
    at1000 = kd_loss(s, y, t, lam=1.0, tau=1000.0).item()
    assert at100 == pytest.approx(limit, rel=1e-2)
    assert at1000 == pytest.approx(limit, rel=1e-3)
    # and at tau = 1 it is genuinely different (the limit is not trivially true)
    assert abs(kd_loss(s, y, t, lam=1.0, tau=1.0).item() - limit) > 0.05 * limit


def test_kl_to_one_hot_targets_is_cross_entropy():
    g = torch.Generator().manual_seed(1)
    s = torch.randn(16, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (16,), generator=g)
    onehot = F.one_hot(y, 5).to(torch.float64)
    assert kl_to_targets(s, onehot).item() == pytest.approx(F.cross_entropy(s, y).item(), rel=1e-12)
    # with tau: cross-entropy of s / tau
    assert kl_to_targets(s, onehot, tau=3.0).item() == pytest.approx(F.cross_entropy(s / 3.0, y).item(), rel=1e-12)


def test_kl_to_soft_targets_matches_hand():
    p = np_softmax(np.asarray(T) / 2.0)
    expected = hand_kl(S, T, 2.0)
    assert kl_to_targets(t64(S), t64(p.tolist()), tau=2.0).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5])
def test_label_smoothing_ce_matches_hand(eps):
    K = 3
    p = np_softmax(S)
    losses = []
    for i, y in enumerate(Y):
        target = [(1 - eps) * (k == y) + eps / K for k in range(K)]
        assert sum(target) == pytest.approx(1.0)
        losses.append(-sum(target[k] * math.log(p[i, k]) for k in range(K)))
    expected = float(np.mean(losses))
    assert label_smoothing_ce(t64(S), torch.tensor(Y), eps).item() == pytest.approx(expected, rel=1e-12)
    if eps > 0:
        assert expected != pytest.approx(hand_ce(S, Y), rel=1e-3)


def test_gradient_of_pure_kd_at_tau1():
    s = t64(S).requires_grad_(True)
    t = t64(T)
    kd_loss(s, torch.tensor(Y), t, lam=1.0, tau=1.0).backward()
    expected = (np_softmax(S) - np_softmax(T)) / len(Y)
    np.testing.assert_allclose(s.grad.numpy(), expected, rtol=1e-12, atol=1e-14)
    assert np.abs(expected).max() > 0.05


def test_gradient_of_pure_kd_scales_as_tau():
    """d/ds of tau^2 KL(softmax(t/tau) || softmax(s/tau)) = tau (softmax(s/tau) - softmax(t/tau)) / B."""
    tau = 4.0
    s = t64(S).requires_grad_(True)
    kd_loss(s, torch.tensor(Y), t64(T), lam=1.0, tau=tau).backward()
    expected = tau * (np_softmax(np.asarray(S) / tau) - np_softmax(np.asarray(T) / tau)) / len(Y)
    np.testing.assert_allclose(s.grad.numpy(), expected, rtol=1e-12, atol=1e-14)


# ---- distillation objectives (reverse KL, logit MSE, teacher-only temperature) against hand computations

def _kl_rows(p, q):
    return float(np.mean([sum(p[i, k] * math.log(p[i, k] / q[i, k]) for k in range(p.shape[1]))
                          for i in range(p.shape[0])]))


@pytest.mark.parametrize("tau", [1.0, 3.0])
def test_reverse_kl_matches_hand(tau):
    from kdlib.losses import distill_term

    p, q = np_softmax(np.asarray(T) / tau), np_softmax(np.asarray(S) / tau)
    expected = tau**2 * _kl_rows(q, p)  # KL(student || teacher)
    got = distill_term(t64(S), t64(T), tau, "reverse_kl").item()
    assert math.isclose(got, expected, rel_tol=1e-10)
    assert not math.isclose(got, tau**2 * _kl_rows(p, q), rel_tol=1e-3)  # and it is not the forward KL


def test_logit_mse_matches_hand_and_ignores_tau():
    from kdlib.losses import distill_term

    expected = float(np.mean((np.asarray(S) - np.asarray(T)) ** 2))  # mean over 2 x 3 entries
    assert math.isclose(expected, (1.0 + 4.0 + 0.25 + 0.64 + 6.25 + 2.25) / 6)
    for tau in (1.0, 10.0):
        assert math.isclose(distill_term(t64(S), t64(T), tau, "logit_mse").item(), expected, rel_tol=1e-12)


@pytest.mark.parametrize("tau", [0.5, 4.0])
def test_teacher_only_temperature_matches_hand(tau):
    from kdlib.losses import distill_term

    p = np_softmax(np.asarray(T) / tau)  # tempered teacher
    q = np_softmax(np.asarray(S))        # untempered student, and no tau^2
    assert math.isclose(distill_term(t64(S), t64(T), tau, "teacher_tau").item(), _kl_rows(p, q), rel_tol=1e-10)


def test_objectives_in_kd_loss_mix_with_labels():
    from kdlib.losses import OBJECTIVES, distill_term

    y = torch.tensor(Y)
    for objective in OBJECTIVES:
        full = kd_loss(t64(S), y, t64(T), lam=0.25, tau=2.0, objective=objective).item()
        parts = 0.75 * hand_ce(S, Y) + 0.25 * distill_term(t64(S), t64(T), 2.0, objective, labels=y).item()
        assert math.isclose(full, parts, rel_tol=1e-10)
        zero = kd_loss(t64(T), y, t64(T), lam=1.0, tau=2.0, objective=objective).item()
        if objective == "teacher_tau":  # the student is not tempered, so s == t is not its minimum at tau != 1
            assert zero > 0.01
        else:
            assert zero == pytest.approx(0, abs=1e-12)


def test_large_tau_forward_kl_approaches_half_mse_of_centred_logits():
    from kdlib.losses import distill_term

    s, t = t64(S), t64(T)
    sc, tc = s - s.mean(1, keepdim=True), t - t.mean(1, keepdim=True)
    limit = ((sc - tc) ** 2).sum(1).mean().item() / (2 * 3)
    assert distill_term(s, t, 1000.0, "forward_kl").item() == pytest.approx(limit, rel=1e-3)
