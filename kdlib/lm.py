"""Language-model pieces for C6: training windows nested across fractions, online-teacher KD, perplexity, sampling.

A text of N character ids is cut into non-overlapping windows of block_size + 1 ids (input: the first block_size,
targets: the last block_size). A student at fraction α trains on a nested subset of the windows (α in tokens, as in
C1: the windows at a smaller α are among those at a larger one). The teacher's next-character distributions are not
cached (block_size × vocabulary floats per window would not fit for the full text); the teacher runs on each batch
under `torch.no_grad()` instead.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .data import nested_subset
from .losses import sequence_kd_loss


def windows(ids: torch.Tensor, block_size: int, fraction: float = 1.0, seed: int = 0):
    """(x [M, block_size], y [M, block_size]): the windows of a nested `fraction` of all ⌊(N - 1) / block_size⌋ windows.
    Window i covers ids[i * block_size : (i + 1) * block_size + 1]; y is x shifted by one character."""
    n = (len(ids) - 1) // block_size
    chosen = nested_subset(torch.zeros(n, dtype=torch.long), fraction, seed)  # one "class": a plain nested shuffle
    starts = chosen * block_size
    offsets = torch.arange(block_size + 1)
    chunks = ids[(starts[:, None] + offsets[None, :]).to(ids.device)]
    return chunks[:, :-1], chunks[:, 1:]


def online_kd_loss(teacher: torch.nn.Module, lam: float = 1.0, tau: float = 1.0):
    """loss_fn(student_logits, y, x) for `kdlib.train.train` with targets=x (the input ids): the teacher sees the same
    batch under no_grad, and the loss is `sequence_kd_loss` against its logits."""
    teacher.eval()

    def loss_fn(student_logits, y, x):
        with torch.no_grad():
            t = teacher(x) if lam > 0 else None
        return sequence_kd_loss(student_logits, y, t, lam=lam, tau=tau)

    return loss_fn


@torch.no_grad()
def cross_entropy(model: torch.nn.Module, ids: torch.Tensor, block_size: int, batch_size: int = 64) -> float:
    """Mean next-character cross-entropy (nats) over all windows of `ids` (every character predicted once, with up
    to block_size - 1 characters of context)."""
    model.eval()
    x, y = windows(ids, block_size)
    total, count = 0.0, 0
    for i in range(0, len(x), batch_size):
        logits = model(x[i:i + batch_size])
        total += F.cross_entropy(logits.flatten(0, 1), y[i:i + batch_size].flatten(), reduction="sum").item()
        count += y[i:i + batch_size].numel()
    return total / count


def perplexity(model, ids, block_size: int) -> dict:
    """{'ce': nats per character, 'ppl': exp(ce), 'bpc': bits per character}."""
    ce = cross_entropy(model, ids, block_size)
    return {"ce": ce, "ppl": math.exp(ce), "bpc": ce / math.log(2)}


@torch.no_grad()
def generate(model: torch.nn.Module, prompt: torch.Tensor, n: int, temperature: float = 1.0, seed: int = 0):
    """`prompt` (ids [T]) followed by n sampled ids; the context is the last block_size ids."""
    model.eval()
    g = torch.Generator(device=prompt.device).manual_seed(seed)
    ids = prompt.clone()
    for _ in range(n):
        logits = model(ids[-model.block_size:][None])[0, -1] / temperature
        ids = torch.cat([ids, torch.multinomial(F.softmax(logits, -1), 1, generator=g)])
    return ids
