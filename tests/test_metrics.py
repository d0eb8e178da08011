"""kdlib.metrics on small cases worked by hand."""
from __future__ import annotations

import math

import pytest
import torch

from kdlib.metrics import accuracy, agreement, classification_metrics, ece, nll, predictive_kl


def two_class_logits(p1):
    """Logits [0, log(p1 / (1 - p1))] have softmax [1 - p1, p1]."""
    return [0.0, math.log(p1 / (1 - p1))]


# 4 samples, 2 classes. Probabilities of class 1: 0.25, 0.25, 0.85, 0.45
# predictions: 0, 0, 1, 0 ; confidences 0.75, 0.75, 0.85, 0.55
LOGITS = torch.tensor([two_class_logits(0.25), two_class_logits(0.25), two_class_logits(0.85),
                       two_class_logits(0.45)], dtype=torch.float64)
Y = torch.tensor([0, 1, 1, 1])
#            correct: 1, 0, 1, 0


def test_accuracy_by_hand():
    assert accuracy(LOGITS, Y) == pytest.approx(0.5)
    assert accuracy(LOGITS, torch.tensor([0, 0, 1, 0])) == pytest.approx(1.0)
    assert accuracy(LOGITS, torch.tensor([1, 1, 0, 1])) == pytest.approx(0.0)
    assert isinstance(accuracy(LOGITS, Y), float)


def test_nll_by_hand():
    p_true = [0.75, 0.25, 0.85, 0.45]
    expected = -sum(math.log(p) for p in p_true) / 4
    assert nll(LOGITS, Y) == pytest.approx(expected, rel=1e-6)


def test_ece_by_hand_15_bins():
    # bins ((b-1)/15, b/15]: 0.75 -> bin 12 of 15 (0.7333, 0.8]; 0.85 -> (0.8, 0.8667]; 0.55 -> (0.5333, 0.6]
    # bin with 0.75, 0.75: accuracy 1/2, confidence 0.75 -> 2/4 * 0.25
    # bin with 0.85:       accuracy 1,   confidence 0.85 -> 1/4 * 0.15
    # bin with 0.55:       accuracy 0,   confidence 0.55 -> 1/4 * 0.55
    expected = 0.5 * 0.25 + 0.25 * 0.15 + 0.25 * 0.55
    assert ece(LOGITS, Y) == pytest.approx(expected, abs=1e-6)


def test_ece_one_bin_is_gap_of_means():
    conf = [0.75, 0.75, 0.85, 0.55]
    expected = abs(0.5 - sum(conf) / 4)
    assert ece(LOGITS, Y, n_bins=1) == pytest.approx(expected, abs=1e-6)


def test_ece_two_bins():
    # bins (0, 0.5], (0.5, 1]: every confidence is above 0.5, so the same as one bin
    assert ece(LOGITS, Y, n_bins=2) == pytest.approx(ece(LOGITS, Y, n_bins=1), abs=1e-7)
    # 3 bins (0, 1/3], (1/3, 2/3], (2/3, 1]: 0.55 alone in the middle one (wrong), 0.75, 0.75, 0.85 in the last
    # (2 of 3 right): 1/4 * |0 - 0.55| + 3/4 * |2/3 - (0.75 + 0.75 + 0.85) / 3|
    expected = 0.25 * 0.55 + 0.75 * abs(2 / 3 - (0.75 + 0.75 + 0.85) / 3)
    assert expected == pytest.approx(0.225)
    assert ece(LOGITS, Y, n_bins=3) == pytest.approx(expected, abs=1e-6)


def reference_ece(logits, y, n_bins):
    p = torch.softmax(logits.double(), -1).numpy()
    conf, pred = p.max(1), p.argmax(1)
    correct = (pred == y.numpy()).astype(float)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.sum() / len(y) * abs(correct[m].mean() - conf[m].mean())
    return total


@pytest.mark.parametrize("n_bins", [5, 10, 15])
def test_ece_matches_reference_on_random_data(n_bins):
    g = torch.Generator().manual_seed(n_bins)
    logits = torch.randn(500, 10, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, 10, (500,), generator=g)
    assert ece(logits, y, n_bins) == pytest.approx(reference_ece(logits, y, n_bins), abs=1e-5)


def test_ece_perfectly_calibrated_is_zero():
    # confidence 0.75 on 4 samples of which 3 are right
    logits = torch.tensor([two_class_logits(0.75)] * 4, dtype=torch.float64)
    assert ece(logits, torch.tensor([1, 1, 1, 0])) == pytest.approx(0.0, abs=1e-7)
    assert ece(logits, torch.tensor([1, 1, 0, 0])) == pytest.approx(0.25, abs=1e-7)


def test_agreement_by_hand():
    teacher = torch.tensor([[0.0, 1.0], [2.0, 0.0], [0.0, 5.0], [0.0, 3.0]])
    # student predictions 0, 0, 1, 0 ; teacher 1, 0, 1, 1 -> agree on 2 of 4
    assert agreement(LOGITS, teacher) == pytest.approx(0.5)
    assert agreement(LOGITS, LOGITS * 3) == pytest.approx(1.0)


def test_predictive_kl_by_hand():
    teacher = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])  # p = [0.25, 0.75], [0.5, 0.5]
    student = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]])  # q = [0.5, 0.5], [0.25, 0.75]
    kl1 = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    kl2 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert predictive_kl(teacher, student) == pytest.approx((kl1 + kl2) / 2, rel=1e-5)
    assert kl1 != pytest.approx(kl2)  # asymmetric, so the argument order is checked
    assert predictive_kl(student, teacher) == pytest.approx((kl2 + kl1) / 2, rel=1e-5)
    one = predictive_kl(teacher[:1], student[:1])
    assert one == pytest.approx(kl1, rel=1e-5)
    assert predictive_kl(student[:1], teacher[:1]) == pytest.approx(
        0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75), rel=1e-5)


def test_predictive_kl_of_identical_logits_is_zero():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(32, 10, generator=g) * 4
    assert predictive_kl(z, z.clone()) == pytest.approx(0.0, abs=1e-6)
    assert predictive_kl(z, z + 7.0) == pytest.approx(0.0, abs=1e-5)
    assert predictive_kl(z, torch.zeros_like(z)) > 0.1


def test_classification_metrics_keys_and_values():
    teacher = LOGITS.flip(-1)
    out = classification_metrics(LOGITS, Y, teacher, prefix="test_")
    assert set(out) == {"test_acc", "test_nll", "test_ece", "test_agreement", "test_kl_teacher"}
    assert out["test_acc"] == accuracy(LOGITS, Y)
    assert out["test_agreement"] == pytest.approx(0.0)
    assert all(isinstance(v, float) for v in out.values())
    assert set(classification_metrics(LOGITS, Y)) == {"acc", "nll", "ece"}
