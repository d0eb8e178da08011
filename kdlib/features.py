"""What a network's penultimate features say (C7): their alignment with another network's, and their neural collapse.

Pure functions of feature matrices h [N, D] (float; computed in float64) and labels y [N]; each returns a Python float.

- `linear_cka(x, y)`: linear centred kernel alignment (Kornblith et al., 2019) between two feature matrices of the
  same N inputs, [N, D1] and [N, D2]: with both centred over the inputs,
  CKA = ||yᵀx||²_F / (||xᵀx||_F · ||yᵀy||_F), in [0, 1]; 1 for identical features, and unchanged by an orthogonal
  transform or an isotropic scaling of either side (the widths may differ).
- `nc1(h, y)`: within-class variability against between-class (Papyan, Han and Donoho, 2020):
  tr(Σ_W Σ_B⁺) / K, with μ_c the class means, μ_G the global mean, Σ_W = (1/N) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ,
  Σ_B = (1/K) Σ_c (μ_c − μ_G)(μ_c − μ_G)ᵀ and ⁺ the pseudo-inverse. 0 when every input sits on its class mean
  (collapse); it falls by orders of magnitude as a network collapses.
- `nc2(h, y)`: how far the centred class means M = [μ_c − μ_G] are from a simplex equiangular tight frame (equal
  norms, every pair at cosine −1/(K−1)): ||MMᵀ/||MMᵀ||_F − (I − 11ᵀ/K)/√(K−1)||_F. 0 for a simplex ETF.

K counts the classes present in y. `head_of(model)` is the linear layer whose input a kdlib classifier's
penultimate features are (`kdlib.train.predict(..., features=True)` returns them).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _centre(h: torch.Tensor) -> torch.Tensor:
    h = h.detach().double().flatten(1)
    return h - h.mean(0, keepdim=True)


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA between features x [N, D1] and y [N, D2] of the same N inputs (see the module docstring)."""
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows and y {len(y)}: CKA compares features of the same inputs")
    x, y = _centre(x), _centre(y)
    # the feature-space form (D × D products) costs N·D², not N², so the whole test set fits
    cross = (y.T @ x).square().sum()
    norm = torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)
    return float(cross / norm) if norm > 0 else float("nan")


def class_means(h: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(classes present [K], their means [K, D], the global mean [D]) of features h [N, D] (float64)."""
    h = h.detach().double().flatten(1)
    classes, inverse = torch.unique(y.cpu(), return_inverse=True)
    inverse = inverse.to(h.device)
    sums = torch.zeros(len(classes), h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, inverse, h)
    counts = torch.bincount(inverse, minlength=len(classes)).to(h.dtype)
    return classes, sums / counts[:, None], h.mean(0)


def nc1(h: torch.Tensor, y: torch.Tensor) -> float:
    """tr(Σ_W Σ_B⁺) / K of features h [N, D] with labels y [N] (module docstring); nan with fewer than 2 classes.

    Computed without a D × D matrix: with W [N, D] the inputs minus their class means and M [K, D] the centred class
    means, Σ_W = WᵀW / N and Σ_B⁺ = K · M⁺(M⁺)ᵀ, so tr(Σ_W Σ_B⁺) / K = ||W M⁺||²_F / N (M⁺ [D, K], the pseudo-inverse
    of a K-row matrix: N·D·K operations instead of N·D²). M has rank at most K − 1 (its rows, weighted by the class
    counts, sum to 0): singular values below 1e-8 of the largest count as 0."""
    h = h.detach().double().flatten(1)
    classes, means, mu = class_means(h, y)
    if len(classes) < 2:
        return float("nan")
    within = h - means[torch.searchsorted(classes, y.cpu()).to(h.device)]
    return float((within @ torch.linalg.pinv(means - mu, rtol=1e-8)).square().sum() / len(h))


def nc2(h: torch.Tensor, y: torch.Tensor) -> float:
    """Distance of the centred class means' Gram matrix from a simplex ETF's (module docstring); nan below 2
    classes."""
    classes, means, mu = class_means(h, y)
    k = len(classes)
    if k < 2:
        return float("nan")
    m = means - mu
    gram = m @ m.T
    etf = (torch.eye(k, dtype=gram.dtype, device=gram.device) - 1.0 / k) / math.sqrt(k - 1)
    return float(torch.linalg.matrix_norm(gram / torch.linalg.matrix_norm(gram) - etf))


def head_of(model: nn.Module) -> nn.Linear | None:
    """The last linear layer of a kdlib classifier (its `head`; a deep-supervision wrapper's net's head), or None for
    a model without one (a reader's own nn.Sequential, an ensemble teacher)."""
    for m in (model, getattr(model, "net", None)):
        head = getattr(m, "head", None)
        if isinstance(head, nn.Linear):
            return head
    return None


def feature_metrics(h: torch.Tensor, y: torch.Tensor, prefix: str = "") -> dict:
    """NC1 and NC2 of features h with labels y, as `<prefix>nc1`, `<prefix>nc2`."""
    return {f"{prefix}nc1": nc1(h, y), f"{prefix}nc2": nc2(h, y)}
