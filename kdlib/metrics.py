"""Metrics on logits [N, K] and labels [N]. Each returns a Python float."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(-1) == y).float().mean().item()


def nll(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Mean negative log-likelihood in nats."""
    return F.cross_entropy(logits.float(), y).item()


def ece(logits: torch.Tensor, y: torch.Tensor, n_bins: int = 15) -> float:
    """Expected calibration error: sum over equal-width confidence bins of |bin| / N * |accuracy - confidence|.

    Bins are (0, 1/n], (1/n, 2/n], ..., ((n-1)/n, 1].
    """
    probs = F.softmax(logits.float(), -1)
    conf, pred = probs.max(-1)
    correct = (pred == y).float()
    bins = torch.clamp(torch.ceil(conf * n_bins).long() - 1, 0, n_bins - 1)
    gap = torch.zeros(n_bins).index_add_(0, bins.cpu(), (correct - conf).cpu())
    return (gap.abs().sum() / len(y)).item()


def agreement(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> float:
    """Top-1 agreement: share of inputs where student and teacher predict the same class."""
    return (student_logits.argmax(-1) == teacher_logits.argmax(-1)).float().mean().item()


def predictive_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> float:
    """KL(teacher || student) of the predictive distributions (tau = 1), mean over inputs, in nats."""
    log_p = F.log_softmax(teacher_logits.float(), -1)
    log_q = F.log_softmax(student_logits.float(), -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean().item()


def classification_metrics(logits, y, teacher_logits=None, prefix: str = "") -> dict:
    out = {"acc": accuracy(logits, y), "nll": nll(logits, y), "ece": ece(logits, y)}
    if teacher_logits is not None:
        out["agreement"] = agreement(logits, teacher_logits)
        out["kl_teacher"] = predictive_kl(teacher_logits, logits)
    return {prefix + k: v for k, v in out.items()}
