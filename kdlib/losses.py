"""Losses: pure functions of tensors (logits [B, K], integer targets [B]); every one is a batch mean.

    L_lambda = (1 - lam) * CE(y, softmax(s)) + lam * tau^2 * KL(softmax(t / tau) || softmax(s / tau))

lam = 0 is label training, lam = 1 pure distillation. The tau^2 factor keeps the gradient scale of the
KL term roughly independent of tau (Hinton et al., 2015).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def kl_to_targets(student_logits: torch.Tensor, target_probs: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """KL(p || softmax(s / tau)) averaged over the batch, for target probabilities p [B, K] (rows sum to 1)."""
    log_q = F.log_softmax(student_logits / tau, dim=-1)
    # xlogy gives 0 * log 0 = 0, so one-hot and sparse targets are fine.
    return (torch.xlogy(target_probs, target_probs) - target_probs * log_q).sum(-1).mean()


def kd_loss(student_logits: torch.Tensor, targets: torch.Tensor, teacher_logits: torch.Tensor | None,
            lam: float = 1.0, tau: float = 1.0) -> torch.Tensor:
    """L_lambda above. `teacher_logits` may be None only when lam == 0."""
    loss = 0.0
    if lam < 1:
        loss = (1 - lam) * F.cross_entropy(student_logits, targets)
    if lam > 0:
        # log-probabilities on both sides: exact zero when s == t, no log(0) for confident teachers
        kl = F.kl_div(F.log_softmax(student_logits / tau, dim=-1), F.log_softmax(teacher_logits / tau, dim=-1),
                      reduction="batchmean", log_target=True)
        loss = loss + lam * tau**2 * kl
    return loss


def label_smoothing_ce(student_logits: torch.Tensor, targets: torch.Tensor, eps: float) -> torch.Tensor:
    """Cross-entropy to (1 - eps) * one_hot(y) + eps / K (uniform over all K classes, PyTorch's convention)."""
    return F.cross_entropy(student_logits, targets, label_smoothing=eps)
