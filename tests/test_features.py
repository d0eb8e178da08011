"""C7's feature metrics on cases worked by hand, their invariances, and the penultimate features of every classifier."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from kdlib.features import head_of, linear_cka, nc1, nc2
from kdlib.models import CIFAR_MODELS, AuxiliaryHeads, cnn1d, mlp, vit1d
from kdlib.train import predict
from kdlib.vision import STATS


def _orthogonal(d: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


def _random(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---- linear CKA

def test_cka_on_a_case_worked_by_hand():
    # one feature each: CKA is the squared correlation. Centred x = (-1, 0, 1), y = (-1, 1, 0): <x, y> = 1,
    # |x|² = |y|² = 2, so CKA = 1² / (2 · 2) = 0.25
    x = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    y = torch.tensor([[1.0], [3.0], [2.0]], dtype=torch.float64)
    assert linear_cka(x, y) == pytest.approx(0.25, abs=1e-12)
    # two features against one, by hand: x = [[1, 0], [0, 1], [-1, -1]] (centred already), y = (1, 0, -1):
    # yᵀx = (2, 1), |yᵀx|² = 5; xᵀx = [[2, 1], [1, 2]], |xᵀx|_F = √10; yᵀy = 2: CKA = 5 / (2√10)
    x2 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    y2 = torch.tensor([[1.0], [0.0], [-1.0]], dtype=torch.float64)
    assert linear_cka(x2, y2) == pytest.approx(5 / (2 * math.sqrt(10)), abs=1e-12)


def test_cka_is_one_for_identical_features_and_invariant_to_rotation_scaling_and_shift():
    x, y = _random(200, 12, 0), _random(200, 7, 1) + 0.3 * _random(200, 12, 0)[:, :7]
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    base = linear_cka(x, y)
    assert 0 < base < 1
    for a, b in [(x @ _orthogonal(12, 2), y), (x, y @ _orthogonal(7, 3)), (3.7 * x, y), (x, 0.01 * y),
                 (x + 5.0, y - 2.0)]:
        assert linear_cka(a, b) == pytest.approx(base, rel=1e-10)
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x), rel=1e-12)  # symmetric
    # an anisotropic scaling is not an allowed transform: it changes CKA
    assert abs(linear_cka(x * torch.linspace(0.1, 10, 12, dtype=torch.float64), y) - base) > 1e-3


def test_cka_of_independent_features_is_small_and_refuses_different_inputs():
    assert linear_cka(_random(4000, 5, 0), _random(4000, 5, 1)) < 0.01
    with pytest.raises(ValueError, match="same inputs"):
        linear_cka(_random(10, 3, 0), _random(11, 3, 0))


# ---- neural collapse

def test_nc1_on_a_case_worked_by_hand():
    # one feature, two classes at -1 and +1, each with samples at ±a around its mean: μ_G = 0, Σ_B = (1 + 1) / 2 = 1,
    # Σ_W = a², so NC1 = tr(Σ_W Σ_B⁺) / K = a² / 2
    a = 0.3
    h = torch.tensor([[-1 - a], [-1 + a], [1 - a], [1 + a]], dtype=torch.float64)
    assert nc1(h, torch.tensor([0, 0, 1, 1])) == pytest.approx(a * a / 2, abs=1e-12)


def test_nc1_is_zero_when_collapsed_and_matches_the_definition_on_random_features():
    means = _random(4, 6, 0) * 5
    y = torch.arange(40) % 4
    assert nc1(means[y], y) == pytest.approx(0.0, abs=1e-20)  # every sample on its class mean
    h, y = _random(300, 6, 1), torch.randint(0, 3, (300,), generator=torch.Generator().manual_seed(2))
    # the definition written out with numpy, class by class
    hn, yn = h.numpy(), y.numpy()
    mu = hn.mean(0)
    sw = sum((hn[yn == c] - hn[yn == c].mean(0)).T @ (hn[yn == c] - hn[yn == c].mean(0)) for c in range(3)) / len(hn)
    sb = sum(np.outer(hn[yn == c].mean(0) - mu, hn[yn == c].mean(0) - mu) for c in range(3)) / 3
    expected = np.trace(sw @ np.linalg.pinv(sb)) / 3
    assert nc1(h, y) == pytest.approx(expected, rel=1e-8)
    # random features are far from collapsed: within-class spread dwarfs the tiny between-class one
    assert expected > 10
    # collapse is a property of the geometry: rotation, isotropic scaling and a shift change nothing
    for g in (h @ _orthogonal(6, 3), 0.2 * h, h + 7.0):
        assert nc1(g, y) == pytest.approx(expected, rel=1e-8)
    # labels that are not 0..K-1, and a class absent: K counts the classes present
    assert nc1(h, y * 3 + 1) == pytest.approx(expected, rel=1e-12)


def test_nc2_is_zero_for_a_simplex_etf_and_worked_by_hand_otherwise():
    # the standard basis of R³ as class means: centred, they are a simplex ETF
    assert nc2(torch.eye(3, dtype=torch.float64), torch.arange(3)) == pytest.approx(0.0, abs=1e-12)
    # two balanced classes are always antipodal about the global mean: an ETF
    h = _random(20, 4, 0)
    assert nc2(h, torch.arange(20) % 2) == pytest.approx(0.0, abs=1e-12)
    # class means (0,0), (1,0), (0,1): μ_G = (1/3, 1/3), centred means (-1,-1)/3, (2,-1)/3, (-1,2)/3; their Gram
    # matrix is [[2,-1,-1],[-1,5,-4],[-1,-4,5]] / 9, with Frobenius norm √90 / 9; the ETF target is (I - 11ᵀ/3)/√2
    means = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    gram = np.array([[2, -1, -1], [-1, 5, -4], [-1, -4, 5]]) / math.sqrt(90)
    target = (np.eye(3) - 1 / 3) / math.sqrt(2)
    assert nc2(means, torch.arange(3)) == pytest.approx(np.linalg.norm(gram - target), abs=1e-12)
    assert nc2(means @ _orthogonal(2, 1) * 4.0, torch.arange(3)) == pytest.approx(nc2(means, torch.arange(3)), abs=1e-12)
    assert math.isnan(nc1(h, torch.zeros(20, dtype=torch.long))) and math.isnan(nc2(h, torch.zeros(20, dtype=torch.long)))


# ---- penultimate features of every classifier

def _classifiers():
    x1 = torch.randn(16, 40)
    ones = [mlp((40,), 10), cnn1d((40,), 10), vit1d((40,), 10), AuxiliaryHeads(cnn1d((40,), 10), 10)]
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    cifar = [CIFAR_MODELS[name](10, STATS["cifar10"]) for name in CIFAR_MODELS]
    return [(m, x1) for m in ones] + [(m, images) for m in cifar]


def test_predict_returns_the_heads_input_from_the_same_forward_pass():
    torch.manual_seed(0)
    for model, x in _classifiers():
        logits, h = predict(model, x, features=True)
        head = head_of(model)
        assert h.shape == (len(x), head.in_features), type(model).__name__
        assert torch.equal(logits, predict(model, x)), type(model).__name__  # the hook changes nothing
        assert torch.allclose(head(h), logits, atol=1e-5), type(model).__name__  # the head reads exactly h
    with pytest.raises(ValueError, match="no linear `head`"):
        predict(nn.Sequential(nn.Flatten(1), nn.Linear(40, 3)), torch.randn(2, 40), features=True)
