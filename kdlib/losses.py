"""Losses: pure functions of tensors (logits [B, K], integer targets [B]); every one is a batch mean.

    L_lambda = (1 - lam) * CE(y, softmax(s)) + lam * tau^2 * KL(softmax(t / tau) || softmax(s / tau))

lam = 0 is label training, lam = 1 pure distillation. The tau^2 factor keeps the gradient scale of the
KL term roughly independent of tau (Hinton et al., 2015).
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


def kl_to_targets(student_logits: torch.Tensor, target_probs: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """KL(p || softmax(s / tau)) averaged over the batch, for target probabilities p [B, K] (rows sum to 1)."""
    log_q = F.log_softmax(student_logits / tau, dim=-1)
    # xlogy gives 0 * log 0 = 0, so one-hot and sparse targets are fine.
    return (torch.xlogy(target_probs, target_probs) - target_probs * log_q).sum(-1).mean()


OBJECTIVES = ("forward_kl", "reverse_kl", "logit_mse", "teacher_tau", "dkd", "dist")  # DISTILL_TERMS below
DKD_ALPHA, DKD_BETA = 1.0, 8.0    # Zhao et al. (2022), CIFAR-100 values
DIST_BETA, DIST_GAMMA = 1.0, 1.0  # Huang et al. (2022)


def dkd_term(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, tau: float = 1.0,
             alpha: float = DKD_ALPHA, beta: float = DKD_BETA) -> torch.Tensor:
    """Decoupled KD (Zhao et al., 2022) for logits [B, K] and integer labels [B], batch mean:

        tau^2 * (alpha * KL([p_y, 1 - p_y] || [q_y, 1 - q_y]) + beta * KL(p_hat || q_hat))

    p = softmax(t / tau), q = softmax(s / tau); p_hat, q_hat = softmax over the K - 1 non-target classes.
    """
    # gathers, not boolean masks: a mask's result size is known only once the host has read it from the device
    cols = torch.arange(student_logits.shape[-1] - 1, device=labels.device)
    others = cols + (cols >= labels[:, None])  # [B, K - 1]: each row's non-target columns, ascending
    rest = lambda z: z.gather(1, others)
    log_p, log_q = F.log_softmax(teacher_logits / tau, dim=-1), F.log_softmax(student_logits / tau, dim=-1)
    # log(1 - p_y) as a logsumexp of the other classes: finite even when p_y rounds to 1.
    binary = lambda lg: torch.stack([lg.gather(1, labels[:, None])[:, 0], rest(lg).logsumexp(-1)], dim=-1)
    tckd = F.kl_div(binary(log_q), binary(log_p), reduction="batchmean", log_target=True)
    # Dropping the target column instead of masking it to -inf leaves no 0 * log 0 to special-case.
    nckd = F.kl_div(F.log_softmax(rest(log_q), -1), F.log_softmax(rest(log_p), -1), reduction="batchmean",
                    log_target=True)
    return tau**2 * (alpha * tckd + beta * nckd)


def pearson(a: torch.Tensor, b: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """Pearson correlation of a and b along `dim`; a constant slice gives 0, not NaN."""
    a, b = a - a.mean(dim, keepdim=True), b - b.mean(dim, keepdim=True)
    # eps as a floor, not an offset, so that pearson(a, a) is exactly 1 for any non-constant a.
    return (a * b).sum(dim) / (a.norm(dim=dim) * b.norm(dim=dim)).clamp_min(eps)


def dist_term(student_logits: torch.Tensor, teacher_logits: torch.Tensor, tau: float = 1.0,
              beta: float = DIST_BETA, gamma: float = DIST_GAMMA) -> torch.Tensor:
    """DIST (Huang et al., 2022) for logits [B, K]: tau^2 * (beta * inter + gamma * intra), with
    inter = mean over rows of 1 - pearson(q_i, p_i) (across classes) and
    intra = mean over classes of 1 - pearson(q[:, j], p[:, j]) (across the batch; needs B >= 2)."""
    p, q = F.softmax(teacher_logits / tau, dim=-1), F.softmax(student_logits / tau, dim=-1)
    inter = (1 - pearson(q, p, dim=1)).mean()
    intra = (1 - pearson(q, p, dim=0)).mean()
    return tau**2 * (beta * inter + gamma * intra)


def forward_kl(s: torch.Tensor, t: torch.Tensor, tau: float, labels=None) -> torch.Tensor:
    """tau^2 * KL(softmax(t / tau) || softmax(s / tau)) (Hinton et al., 2015; the default)."""
    log_p = F.log_softmax(t / tau, dim=-1)  # log-probabilities on both sides: exact zero when s == t
    log_q = F.log_softmax(s / tau, dim=-1)
    return tau**2 * F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)


def reverse_kl(s: torch.Tensor, t: torch.Tensor, tau: float, labels=None) -> torch.Tensor:
    """tau^2 * KL(softmax(s / tau) || softmax(t / tau))."""
    log_p = F.log_softmax(t / tau, dim=-1)
    log_q = F.log_softmax(s / tau, dim=-1)
    return tau**2 * F.kl_div(log_p, log_q, reduction="batchmean", log_target=True)


def logit_mse(s: torch.Tensor, t: torch.Tensor, tau=None, labels=None) -> torch.Tensor:
    """Mean over batch and classes of (s - t)^2 (logit matching; no temperature)."""
    return F.mse_loss(s, t)


def teacher_tau(s: torch.Tensor, t: torch.Tensor, tau: float, labels=None) -> torch.Tensor:
    """KL(softmax(t / tau) || softmax(s)), no tau^2 (temper only the teacher: the authors' "asymmetric" variant)."""
    log_p = F.log_softmax(t / tau, dim=-1)
    return F.kl_div(F.log_softmax(s, dim=-1), log_p, reduction="batchmean", log_target=True)


def _dkd(s: torch.Tensor, t: torch.Tensor, tau: float, labels: torch.Tensor | None) -> torch.Tensor:
    if labels is None:
        raise ValueError("objective='dkd' needs labels (integer class targets [B])")
    return dkd_term(s, t, labels, tau)


# objective name -> term(student_logits, teacher_logits, tau, labels): the distillation term of L_lambda, batch mean
DISTILL_TERMS = {"forward_kl": forward_kl, "reverse_kl": reverse_kl, "logit_mse": logit_mse,
                 "teacher_tau": teacher_tau, "dkd": _dkd, "dist": lambda s, t, tau, labels=None: dist_term(s, t, tau)}


def distill_term(student_logits: torch.Tensor, teacher_logits: torch.Tensor, tau: float = 1.0,
                 objective: str = "forward_kl", labels: torch.Tensor | None = None) -> torch.Tensor:
    """The distillation term of L_lambda, batch mean, for each objective (DISTILL_TERMS):

    forward_kl:  tau^2 * KL(softmax(t / tau) || softmax(s / tau))   (Hinton et al., 2015; the default)
    reverse_kl:  tau^2 * KL(softmax(s / tau) || softmax(t / tau))
    logit_mse:   mean over batch and classes of (s - t)^2            (logit matching; tau is not used)
    teacher_tau: KL(softmax(t / tau) || softmax(s)), no tau^2        (temper only the teacher: "asymmetric")
    dkd:         dkd_term, target and non-target parts weighted apart (Zhao et al., 2022); needs `labels` [B]
    dist:        dist_term, Pearson correlation within rows and columns (Huang et al., 2022)

    For zero-mean logits, tau^2 * KL tends to sum_k (s_k - t_k)^2 / (2K) as tau grows: logit matching is the
    large-temperature limit of forward KL, up to a factor.
    """
    if objective not in DISTILL_TERMS:
        raise ValueError(f"objective={objective!r} is not known; allowed: {', '.join(OBJECTIVES)}")
    return DISTILL_TERMS[objective](student_logits, teacher_logits, tau, labels)


def kd_loss(student_logits: torch.Tensor, targets: torch.Tensor, teacher_logits: torch.Tensor | None,
            lam: float = 1.0, tau: float = 1.0, objective: str = "forward_kl") -> torch.Tensor:
    """L_lambda above (with `objective` choosing the distillation term). `teacher_logits` may be None only when
    lam == 0."""
    if objective not in DISTILL_TERMS:
        raise ValueError(f"objective={objective!r} is not known; allowed: {', '.join(OBJECTIVES)}")
    return l_lambda(student_logits, targets, teacher_logits, lam, tau, DISTILL_TERMS[objective])


def l_lambda(student_logits, targets, teacher_logits, lam: float, tau: float, term=forward_kl) -> torch.Tensor:
    """kd_loss with its distillation term given as a function (one of DISTILL_TERMS), looked up once per run."""
    loss = 0.0
    if lam < 1:
        loss = (1 - lam) * F.cross_entropy(student_logits, targets)
    if lam > 0:
        loss = loss + lam * term(student_logits, teacher_logits, tau, targets)
    return loss


def deep_supervision_loss(outputs, targets: torch.Tensor, teacher_logits: torch.Tensor | None, lam: float = 1.0,
                          tau: float = 1.0, objective: str = "forward_kl", aux_weight: float = 1.0) -> torch.Tensor:
    """kd_loss on the final logits plus aux_weight * the mean of kd_loss over auxiliary classifiers, each distilled
    from the same teacher. `outputs` is logits [B, K] (then this is kd_loss) or (logits, [aux logits [B, K], ...]),
    as AuxiliaryHeads returns in training mode."""
    return _deep_supervision(outputs, targets, teacher_logits, lam, tau, DISTILL_TERMS[objective], aux_weight)


def _deep_supervision(outputs, targets, teacher_logits, lam, tau, term, aux_weight: float = 1.0):
    logits, aux = (outputs, []) if isinstance(outputs, torch.Tensor) else outputs
    loss = l_lambda(logits, targets, teacher_logits, lam, tau, term)
    if aux:  # a one-block net has no auxiliary heads: then this is kd_loss too
        aux_loss = sum(l_lambda(a, targets, teacher_logits, lam, tau, term) for a in aux) / len(aux)
        loss = loss + aux_weight * aux_loss
    return loss


def sequence_kd_loss(student_logits: torch.Tensor, targets: torch.Tensor, teacher_logits: torch.Tensor | None,
                     lam: float = 1.0, tau: float = 1.0) -> torch.Tensor:
    """L_lambda for next-token prediction: logits [B, T, V], targets [B, T]; the mean over all B * T positions of
    (1 - lam) * CE + lam * tau^2 * KL(softmax(t / tau) || softmax(s / tau)) at each position."""
    v = student_logits.shape[-1]
    flat_t = None if teacher_logits is None else teacher_logits.reshape(-1, v)
    return kd_loss(student_logits.reshape(-1, v), targets.reshape(-1), flat_t, lam=lam, tau=tau)


def label_smoothing_ce(student_logits: torch.Tensor, targets: torch.Tensor, eps: float) -> torch.Tensor:
    """Cross-entropy to (1 - eps) * one_hot(y) + eps / K (uniform over all K classes, PyTorch's convention)."""
    return F.cross_entropy(student_logits, targets, label_smoothing=eps)


def labels_loss(logits: torch.Tensor, y: torch.Tensor, _targets=None) -> torch.Tensor:
    """The one label cross-entropy: logits [B, K] and labels [B], or [B, T, V] and [B, T] (every position)."""
    return F.cross_entropy(logits.flatten(0, -2), y.flatten())


def kd_to_probs(student_logits, y, target_probs, lam: float, tau: float) -> torch.Tensor:
    """L_lambda with the tempered teacher distribution replaced by target probabilities q [B, K] (the controls)."""
    loss = lam * tau**2 * kl_to_targets(student_logits, target_probs, tau)
    return loss + (1 - lam) * F.cross_entropy(student_logits, y) if lam < 1 else loss


def make_loss(cfg):
    """loss_fn(student_logits, y, targets) of a run config (RunConfig or LMConfig), chosen once, outside the loop.

    For KD, `targets` are the teacher's logits (signal "teacher"; for a language model [B, T, V]) or a control's
    target probabilities. With aux_heads the student returns (logits, [aux logits]) in training (deep supervision).
    """
    if cfg.method == "labels":
        return labels_loss
    if cfg.method == "ls":
        return functools.partial(_smoothed, eps=cfg.eps)
    if cfg.signal != "teacher":
        return functools.partial(kd_to_probs, lam=cfg.lam, tau=cfg.tau)
    term = DISTILL_TERMS[cfg.objective]
    if cfg.aux_heads:
        return functools.partial(_deep_supervision, lam=cfg.lam, tau=cfg.tau, term=term)
    if cfg.SEQUENCE:  # a language model: every position of [B, T, V] is a row
        return functools.partial(sequence_kd_loss, lam=cfg.lam, tau=cfg.tau)
    return functools.partial(l_lambda, lam=cfg.lam, tau=cfg.tau, term=term)


def _smoothed(s, y, _targets, eps: float):
    return label_smoothing_ce(s, y, eps)
