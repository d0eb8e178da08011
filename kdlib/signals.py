"""Teacher-signal transforms: the controls of C2 (label smoothing) and C3 (dark knowledge).

Each is a pure function from teacher probabilities p [N, K] (rows sum to one) and labels y [N] to target
probabilities [N, K] (rows sum to one). Each changes one thing about the teacher's signal:

- `matched_smoothing`: keeps the teacher's mass on the true class, spreads the rest uniformly over the other
  classes (same confidence, no class-similarity structure);
- `permuted_dark`: shuffles the non-target probabilities of each sample (keeps the true-class mass, the entropy
  and the multiset of wrong-class probabilities; destroys *which* wrong class is likely);
- `argmax_teacher`: the teacher's hard prediction only;
- `conditional_teacher`: the teacher's distribution where its prediction is right, the one-hot label elsewhere;
- `smoothed_onehot`: the class-agnostic "teacher" of the authors' code, a smoothed one-hot passed through the
  same temperature as the real teacher (depends on the labels only).

The random-head teacher (last layer re-initialised) needs the model: `kdlib.tasks.Teacher.random_head`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .devices import to_device


def _true_mass(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return p.gather(1, y[:, None])  # [N, 1]


def matched_smoothing(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    k = p.shape[1]
    py = _true_mass(p, y)
    q = ((1 - py) / (k - 1)).expand_as(p).clone()
    return q.scatter_(1, y[:, None], py)


def permuted_dark(p: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One random permutation of the K-1 non-target entries per sample, drawn from `generator` (a CPU generator;
    the permutations are drawn on the CPU, so they are the same on every device, and copied to p's device without
    the host waiting)."""
    n, k = p.shape
    is_target = F.one_hot(y, k).to(torch.float32)
    # non-target class indices of each row in ascending order: a stable sort puts the target column last
    others = torch.sort(is_target, dim=1, stable=True).indices[:, : k - 1]
    shuffle = torch.argsort(torch.rand(n, k - 1, generator=generator), dim=1)
    source = others.gather(1, to_device(shuffle, p.device))
    return p.clone().scatter_(1, others, p.gather(1, source))


def argmax_teacher(p: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    return F.one_hot(p.argmax(1), p.shape[1]).to(p.dtype)


def conditional_teacher(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    right = (p.argmax(1) == y)[:, None]
    return torch.where(right, p, F.one_hot(y, p.shape[1]).to(p.dtype))


def smoothed_onehot(y: torch.Tensor, num_classes: int, eps: float, tau: float) -> torch.Tensor:
    """softmax(log((1 - eps) * one_hot(y) + eps / K) / tau): label smoothing seen through temperature tau."""
    q = (1 - eps) * F.one_hot(y, num_classes).to(torch.float32) + eps / num_classes
    return F.softmax(torch.log(q) / tau, dim=1)


# name -> transform(p, y, generator) for the ones computed from the teacher's probabilities
TRANSFORMS = {
    "matched_smoothing": lambda p, y, g: matched_smoothing(p, y),
    "permuted_dark": lambda p, y, g: permuted_dark(p, y, g),
    "argmax": lambda p, y, g: argmax_teacher(p, y),
    "conditional": lambda p, y, g: conditional_teacher(p, y),
}
