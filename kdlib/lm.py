"""Language-model pieces for C6: training windows nested across fractions, perplexity, sampling.

A text of N character ids is cut into non-overlapping windows of block_size + 1 ids (input: the first block_size,
targets: the last block_size). A student at fraction α trains on a nested subset of the windows (α in tokens, as in
C1: the windows at a smaller α are among those at a larger one).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .data import nested_subset
from .text import TextData


def windows(ids: torch.Tensor, block_size: int, fraction: float = 1.0, seed: int = 0):
    """(x [M, block_size], y [M, block_size]): the windows of a nested `fraction` of all ⌊(N - 1) / block_size⌋ windows.
    Window i covers ids[i * block_size : (i + 1) * block_size + 1]; y is x shifted by one character."""
    n = (len(ids) - 1) // block_size
    chosen = nested_subset(torch.zeros(n, dtype=torch.long), fraction, seed)  # one "class": a plain nested shuffle
    starts = chosen * block_size
    offsets = torch.arange(block_size + 1)
    chunks = ids[(starts[:, None] + offsets[None, :]).to(ids.device)]
    return chunks[:, :-1], chunks[:, 1:]


@torch.no_grad()
def evaluate(model: torch.nn.Module, ids: torch.Tensor, block_size: int, teacher: torch.nn.Module | None = None,
             batch_size: int = 64) -> dict:
    """Next-character metrics over all windows of `ids` (every character predicted once, with up to block_size - 1
    characters of context): 'ce' (nats per character), 'ppl' = exp(ce), 'bpc' = ce / ln 2; with a teacher also
    'agreement' (share of positions where the two argmax agree) and 'kl' = KL(teacher || model) per character."""
    return evaluate_windows(model, *windows(ids, block_size), teacher, batch_size)


@torch.no_grad()
def evaluate_windows(model, x: torch.Tensor, y: torch.Tensor, teacher=None, batch_size: int = 64) -> dict:
    """`evaluate` on given windows: inputs x [M, T], next characters y [M, T]."""
    model.eval()
    sums = {"ce": 0.0, "agreement": 0.0, "kl": 0.0}
    for i in range(0, len(x), batch_size):
        logits = model(x[i:i + batch_size]).flatten(0, 1)
        sums["ce"] += F.cross_entropy(logits, y[i:i + batch_size].flatten(), reduction="sum").item()
        if teacher is not None:
            t = teacher(x[i:i + batch_size]).flatten(0, 1)
            sums["agreement"] += (logits.argmax(-1) == t.argmax(-1)).sum().item()
            sums["kl"] += F.kl_div(F.log_softmax(logits, -1), F.log_softmax(t, -1), log_target=True,
                                   reduction="sum").item()
    count = y.numel()
    out = {"ce": sums["ce"] / count}
    out.update(ppl=math.exp(out["ce"]), bpc=out["ce"] / math.log(2))
    if teacher is not None:
        out.update(agreement=sums["agreement"] / count, kl=sums["kl"] / count)
    return out


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


def prompt_ids(data: TextData, block_size: int) -> torch.Tensor:
    """A fixed prompt from held-out text: the test text from the first blank line after its middle, up to
    block_size // 2 characters (so every model is prompted alike, with text none of them trained on)."""
    newline = int(data.vocab.encode("\n")[0])
    t = data.test
    blank = ((t[:-1] == newline) & (t[1:] == newline)).nonzero().flatten()
    after = blank[blank >= len(t) // 2]
    start = int(after[0]) if len(after) else len(t) // 2
    return t[start:start + block_size // 2]
