"""DKD, DIST, deep supervision and AuxiliaryHeads against hand computations (math / numpy, float64)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hand import hand_ce, np_softmax, t64
from kdlib.errors import ConfigError
from kdlib.losses import (DKD_ALPHA, DKD_BETA, OBJECTIVES, deep_supervision_loss, distill_term, dist_term, dkd_term,
                          kd_loss)
from kdlib.models import MODELS, AuxiliaryHeads, build_model, parse_model

S = [[1.0, 2.0, 0.5], [0.3, -1.0, 2.2], [-0.4, 0.9, 0.1]]
T = [[2.0, 0.0, 1.0], [-0.5, 1.5, 0.7], [0.2, 0.3, -1.1]]
Y = [1, 2, 0]


def kl(p, q):
    return sum(pk * math.log(pk / qk) for pk, qk in zip(p, q))


def hand_dkd(s, t, y, tau, alpha=1.0, beta=8.0):
    """Per row: TCKD on [p_y, 1 - p_y], NCKD on the non-target probabilities renormalised by 1 - p_y."""
    p, q = np_softmax(np.asarray(t) / tau), np_softmax(np.asarray(s) / tau)
    total = 0.0
    for i, yi in enumerate(y):
        tckd = kl([p[i, yi], 1 - p[i, yi]], [q[i, yi], 1 - q[i, yi]])
        others = [k for k in range(p.shape[1]) if k != yi]
        nckd = kl([p[i, k] / (1 - p[i, yi]) for k in others], [q[i, k] / (1 - q[i, yi]) for k in others])
        total += alpha * tckd + beta * nckd
    return tau**2 * total / len(y)


def hand_pearson(x, z):
    mx, mz = sum(x) / len(x), sum(z) / len(z)
    num = sum((a - mx) * (b - mz) for a, b in zip(x, z))
    return num / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - mz) ** 2 for b in z))


def hand_dist(s, t, tau, beta=1.0, gamma=1.0):
    p, q = np_softmax(np.asarray(t) / tau), np_softmax(np.asarray(s) / tau)
    inter = np.mean([1 - hand_pearson(q[i], p[i]) for i in range(p.shape[0])])
    intra = np.mean([1 - hand_pearson(q[:, j], p[:, j]) for j in range(p.shape[1])])
    return tau**2 * (beta * inter + gamma * intra)


# ---- DKD

def test_dkd_simple_probabilities_by_hand():
    """p = [1/2, 1/4, 1/4], q = [1/4, 1/2, 1/4], y = 0: p_hat = [1/2, 1/2], q_hat = [2/3, 1/3]."""
    t, s = t64([[math.log(2), 0.0, 0.0]]), t64([[0.0, math.log(2), 0.0]])
    tckd = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    nckd = 0.5 * math.log(0.5 / (2 / 3)) + 0.5 * math.log(0.5 / (1 / 3))
    got = dkd_term(s, t, torch.tensor([0]), tau=1.0).item()
    assert math.isclose(got, DKD_ALPHA * tckd + DKD_BETA * nckd, rel_tol=1e-12)
    assert (DKD_ALPHA, DKD_BETA) == (1.0, 8.0)
    assert math.isclose(dkd_term(s, t, torch.tensor([0]), alpha=2.0, beta=0.5).item(), 2 * tckd + 0.5 * nckd,
                        rel_tol=1e-12)


@pytest.mark.parametrize("tau", [1.0, 4.0])
def test_dkd_matches_hand(tau):
    expected = hand_dkd(S, T, Y, tau)
    assert math.isclose(dkd_term(t64(S), t64(T), torch.tensor(Y), tau).item(), expected, rel_tol=1e-10)
    got32 = dkd_term(torch.tensor(S), torch.tensor(T), torch.tensor(Y), tau).item()
    assert got32 == pytest.approx(expected, rel=1e-6)
    assert math.isclose(distill_term(t64(S), t64(T), tau, "dkd", labels=torch.tensor(Y)).item(), expected,
                        rel_tol=1e-10)
    # the labels matter: another target splits the classes differently
    assert not math.isclose(hand_dkd(S, T, [0, 0, 0], tau), expected, rel_tol=1e-3)


def test_dkd_decomposes_forward_kl():
    """Zhao et al., eq. 4: KL(p || q) = TCKD + (1 - p_y) NCKD, row by row (one row so the weight is a number)."""
    s, t, y, tau = t64([S[1]]), t64([T[1]]), torch.tensor([Y[1]]), 2.0
    p_y = np_softmax(np.asarray([T[1]]) / tau)[0, Y[1]]
    tckd = dkd_term(s, t, y, tau, alpha=1.0, beta=0.0).item()
    nckd = dkd_term(s, t, y, tau, alpha=0.0, beta=1.0).item()
    assert math.isclose(tckd + (1 - p_y) * nckd, distill_term(s, t, tau, "forward_kl").item(), rel_tol=1e-10)


def test_dkd_two_classes_is_alpha_times_kl():
    """With K = 2 there is one non-target class, so NCKD = 0 and TCKD is the whole KL."""
    s, t = t64([[0.3, -1.2], [2.0, 0.5]]), t64([[1.0, 0.0], [-0.7, 0.4]])
    got = dkd_term(s, t, torch.tensor([0, 1]), tau=2.0, alpha=3.0, beta=8.0).item()
    assert math.isclose(got, 3.0 * distill_term(s, t, 2.0, "forward_kl").item(), rel_tol=1e-10)


def test_dkd_zero_when_student_equals_teacher():
    for tau in (1.0, 3.0):
        assert abs(dkd_term(t64(T), t64(T), torch.tensor(Y), tau).item()) < 1e-12
    assert dkd_term(t64(S), t64(T), torch.tensor(Y)).item() > 0.01


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dkd_finite_for_near_one_hot_teachers(dtype):
    """A teacher with p_y rounding to 1 (and 1 - p_y to 0), right or wrong label, and K = 2: no inf, no NaN."""
    cases = [([[60.0, 0.0, 0.0], [0.0, 0.0, 1000.0]], [0, 1]),  # p_y ~ 1; a teacher sure of a wrong class
             ([[80.0, -80.0], [0.0, 1.0]], [0, 0])]            # K = 2
    for t, y in cases:
        s = torch.randn(len(t), len(t[0]), dtype=dtype, generator=torch.Generator().manual_seed(0)).requires_grad_()
        loss = dkd_term(s, torch.tensor(t, dtype=dtype), torch.tensor(y), tau=1.0)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0


def test_dkd_needs_labels():
    with pytest.raises(ValueError, match="labels"):
        distill_term(t64(S), t64(T), 1.0, "dkd")


# ---- DIST

@pytest.mark.parametrize("tau", [1.0, 2.0])
def test_dist_matches_hand(tau):
    expected = hand_dist(S, T, tau)
    assert math.isclose(dist_term(t64(S), t64(T), tau).item(), expected, rel_tol=1e-10)
    assert math.isclose(distill_term(t64(S), t64(T), tau, "dist").item(), expected, rel_tol=1e-10)
    assert dist_term(torch.tensor(S), torch.tensor(T), tau).item() == pytest.approx(expected, rel=1e-5)
    got = dist_term(t64(S), t64(T), tau, beta=2.0, gamma=0.0).item()
    assert math.isclose(got, hand_dist(S, T, tau, beta=2.0, gamma=0.0), rel_tol=1e-10)
    # and the hand Pearson is numpy's
    p, q = np_softmax(np.asarray(T) / tau), np_softmax(np.asarray(S) / tau)
    assert math.isclose(hand_pearson(q[0], p[0]), np.corrcoef(q[0], p[0])[0, 1], rel_tol=1e-12)


def test_dist_zero_when_student_equals_teacher():
    for tau in (1.0, 4.0):
        assert abs(dist_term(t64(T), t64(T), tau).item()) < 1e-12
    assert dist_term(t64(S), t64(T)).item() > 0.01


def test_dist_unchanged_by_shifting_logits_per_row():
    shift = t64([[3.0], [-7.5], [0.25]])
    for tau in (1.0, 3.0):
        base = dist_term(t64(S), t64(T), tau).item()
        assert math.isclose(dist_term(t64(S), t64(T) + shift, tau).item(), base, rel_tol=1e-10)
        assert math.isclose(dist_term(t64(S) - shift, t64(T), tau).item(), base, rel_tol=1e-10)


def test_dist_constant_column_is_finite():
    """Identical teacher rows make every teacher column constant: its correlation counts as 0, not NaN."""
    s = t64(S).requires_grad_()
    t = t64([T[0]] * 3)
    loss = dist_term(s, t)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()
    p, q = np_softmax(np.asarray(t)), np_softmax(np.asarray(S))
    inter = np.mean([1 - hand_pearson(q[i], p[i]) for i in range(3)])
    assert math.isclose(loss.item(), inter + 1.0, rel_tol=1e-10)  # intra = mean_j (1 - 0) = 1


# ---- the new objectives in kd_loss, and deep supervision

def test_new_objectives_listed_after_the_old_ones():
    assert OBJECTIVES == ("forward_kl", "reverse_kl", "logit_mse", "teacher_tau", "dkd", "dist")


@pytest.mark.parametrize("objective, hand", [("dkd", lambda tau: hand_dkd(S, T, Y, tau)),
                                             ("dist", lambda tau: hand_dist(S, T, tau))])
def test_kd_loss_mixes_labels_and_new_terms(objective, hand):
    y = torch.tensor(Y)
    for lam in (0.0, 0.25, 1.0):
        got = kd_loss(t64(S), y, t64(T), lam=lam, tau=2.0, objective=objective).item()
        assert math.isclose(got, (1 - lam) * hand_ce(S, Y) + lam * hand(2.0), rel_tol=1e-10)


def hand_kd(s, y, t, lam, tau):
    """(1 - lam) CE + lam tau^2 KL(softmax(t / tau) || softmax(s / tau)), by numpy."""
    p, q = np_softmax(np.asarray(t) / tau), np_softmax(np.asarray(s) / tau)
    return (1 - lam) * hand_ce(s, y) + lam * tau**2 * np.mean([kl(p[i], q[i]) for i in range(len(y))])


def test_deep_supervision_of_a_tensor_is_kd_loss():
    y = torch.tensor(Y)
    for objective in ("forward_kl", "dkd", "dist"):
        expected = kd_loss(t64(S), y, t64(T), lam=0.3, tau=2.0, objective=objective).item()
        assert deep_supervision_loss(t64(S), y, t64(T), 0.3, 2.0, objective).item() == expected
        assert deep_supervision_loss((t64(S), []), y, t64(T), 0.3, 2.0, objective).item() == expected


def test_deep_supervision_of_a_tuple_matches_hand_sum():
    a1 = [[0.0, 1.0, -1.0], [0.5, 0.5, 0.0], [2.0, -0.3, 0.1]]
    a2 = [[-1.0, 0.2, 0.4], [1.1, -0.6, 0.3], [0.0, 0.0, 0.7]]
    lam, tau, w = 0.3, 2.0, 0.5
    expected = hand_kd(S, Y, T, lam, tau) + w * (hand_kd(a1, Y, T, lam, tau) + hand_kd(a2, Y, T, lam, tau)) / 2
    got = deep_supervision_loss((t64(S), [t64(a1), t64(a2)]), torch.tensor(Y), t64(T), lam=lam, tau=tau,
                                aux_weight=w).item()
    assert math.isclose(got, expected, rel_tol=1e-10)


# ---- AuxiliaryHeads

@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("input_shape", [(40,), (2, 40)])
def test_aux_heads_shapes_and_modes(name, input_shape):
    torch.manual_seed(0)
    net = build_model(name, input_shape, 10)
    model = AuxiliaryHeads(net, 10)
    depth = parse_model(name)[2]
    assert isinstance(model, AuxiliaryHeads) and len(model.aux_heads) == depth - 1
    x = torch.randn(5, *input_shape)
    logits, aux = model.train()(x)
    assert logits.shape == (5, 10) and len(aux) == depth - 1  # a one-block net: (logits, [])
    assert all(a.shape == (5, 10) for a in aux)
    out = model.eval()(x)
    assert isinstance(out, torch.Tensor) and torch.equal(out, net(x)) and torch.equal(out, logits)


def test_aux_head_reads_length_averaged_block_output():
    torch.manual_seed(0)
    x = torch.randn(4, 40)
    for name in ("cnn-small", "mlp-large"):
        model = AuxiliaryHeads(build_model(name, (40,), 3), 3).train()
        _, aux = model(x)
        _, feats = model.net(x, return_features=True)
        for head, f, a in zip(model.aux_heads, feats, aux):
            pooled = f.mean(-1) if name.startswith("cnn") else f
            assert torch.allclose(a, pooled @ head.weight.T + head.bias)


def test_aux_heads_share_the_base_parameters():
    net = build_model("cnn-base", (40,), 10)
    model = AuxiliaryHeads(net, 10)
    assert model.net is net
    ids = {id(p) for p in model.parameters()}
    assert all(id(p) in ids for p in net.parameters())
    base = net.state_dict()
    wrapped = model.state_dict()
    assert {f"net.{k}" for k in base} <= set(wrapped)
    assert all(k.startswith(("net.", "aux_heads.")) for k in wrapped)
    assert all(wrapped[f"net.{k}"].data_ptr() == v.data_ptr() for k, v in base.items())


@pytest.mark.parametrize("name", ["cnn-small", "mlp-large"])
def test_gradients_reach_aux_heads_and_base(name):
    torch.manual_seed(0)
    model = AuxiliaryHeads(build_model(name, (40,), 4), 4).train()
    x, y, t = torch.randn(8, 40), torch.randint(0, 4, (8,)), torch.randn(8, 4)
    deep_supervision_loss(model(x), y, t, lam=0.5, tau=2.0).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname
    # aux-only loss: the aux heads and the blocks below them get gradient, the final head none
    model.zero_grad()
    logits, aux = model(x)
    sum(a.sum() for a in aux).backward()
    assert model.net.head.weight.grad is None or model.net.head.weight.grad.abs().sum() == 0
    assert model.net.blocks[0][0].weight.grad.abs().sum() > 0


def test_aux_heads_num_classes_must_match():
    with pytest.raises(ConfigError, match="num_classes"):
        AuxiliaryHeads(build_model("mlp-small", (40,), 10), 5)
