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


OBJECTIVES = ("forward_kl", "reverse_kl", "logit_mse", "teacher_tau")


def distill_term(student_logits: torch.Tensor, teacher_logits: torch.Tensor, tau: float = 1.0,
                 objective: str = "forward_kl") -> torch.Tensor:
    """The distillation term of L_lambda, batch mean, for each objective:

    forward_kl:  tau^2 * KL(softmax(t / tau) || softmax(s / tau))   (Hinton et al., 2015; the default)
    reverse_kl:  tau^2 * KL(softmax(s / tau) || softmax(t / tau))
    logit_mse:   mean over batch and classes of (s - t)^2            (logit matching; tau is not used)
    teacher_tau: KL(softmax(t / tau) || softmax(s)), no tau^2        (temper only the teacher: "asymmetric")

    For zero-mean logits, tau^2 * KL tends to sum_k (s_k - t_k)^2 / (2K) as tau grows: logit matching is the
    large-temperature limit of forward KL, up to a factor.
    """
    if objective == "logit_mse":
        return F.mse_loss(student_logits, teacher_logits)
    log_p = F.log_softmax(teacher_logits / tau, dim=-1)  # log-probabilities on both sides: exact zero when s == t
    if objective == "teacher_tau":
        return F.kl_div(F.log_softmax(student_logits, dim=-1), log_p, reduction="batchmean", log_target=True)
    log_q = F.log_softmax(student_logits / tau, dim=-1)
    if objective == "forward_kl":
        return tau**2 * F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)
    if objective == "reverse_kl":
        return tau**2 * F.kl_div(log_p, log_q, reduction="batchmean", log_target=True)
    raise ValueError(f"objective={objective!r} is not known; allowed: {', '.join(OBJECTIVES)}")


def kd_loss(student_logits: torch.Tensor, targets: torch.Tensor, teacher_logits: torch.Tensor | None,
            lam: float = 1.0, tau: float = 1.0, objective: str = "forward_kl") -> torch.Tensor:
    """L_lambda above (with `objective` choosing the distillation term). `teacher_logits` may be None only when
    lam == 0."""
    loss = 0.0
    if lam < 1:
        loss = (1 - lam) * F.cross_entropy(student_logits, targets)
    if lam > 0:
        loss = loss + lam * distill_term(student_logits, teacher_logits, tau, objective)
    return loss


def label_smoothing_ce(student_logits: torch.Tensor, targets: torch.Tensor, eps: float) -> torch.Tensor:
    """Cross-entropy to (1 - eps) * one_hot(y) + eps / K (uniform over all K classes, PyTorch's convention)."""
    return F.cross_entropy(student_logits, targets, label_smoothing=eps)
