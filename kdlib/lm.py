"""Language-model pieces for C6: training windows nested across fractions, online-teacher KD, perplexity, sampling.

A text of N character ids is cut into non-overlapping windows of block_size + 1 ids (input: the first block_size,
targets: the last block_size). A student at fraction α trains on a nested subset of the windows (α in tokens, as in
C1: the windows at a smaller α are among those at a larger one). The teacher's next-character distributions are not
cached (block_size × vocabulary floats per window would not fit for the full text); the teacher runs on each batch
under `torch.no_grad()` instead.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import torch
import torch.nn.functional as F

from . import __version__
from .config import LMConfig
from .data import nested_subset
from .losses import sequence_kd_loss
from .models import build_gpt
from .teachers import cached
from .text import TextData, default_data_dir, load_text
from .train import Diverged, device_name, resolve_device, train


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


def cross_entropy(model: torch.nn.Module, ids: torch.Tensor, block_size: int, batch_size: int = 64) -> float:
    """Mean next-character cross-entropy (nats) over all windows of `ids`."""
    return evaluate(model, ids, block_size, batch_size=batch_size)["ce"]


def perplexity(model, ids, block_size: int) -> dict:
    """{'ce': nats per character, 'ppl': exp(ce), 'bpc': bits per character}."""
    return evaluate(model, ids, block_size)


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


# ---- runs: one student per LMConfig, stored like the classification runs (kdlib.sweep dispatches here)

SAMPLE_CHARS = 300  # characters generated after the prompt for a run's record


@dataclass
class LMTeacher:
    model: torch.nn.Module
    metrics: dict
    sample: str


@functools.lru_cache(maxsize=2)
def _text_on(data_dir: str, data_items: tuple, device: str) -> TextData:
    t = load_text(data_dir, **dict(data_items))
    return TextData(t.train.to(device), t.val.to(device), t.test.to(device), t.vocab, t.plays)


def text_for(cfg: LMConfig, device="cpu") -> TextData:
    """The run's text on `device`, from the data folder (`kdlib.text.default_data_dir`)."""
    return _text_on(str(default_data_dir().resolve()), tuple(sorted(cfg.data.items())), str(device))


def prompt_ids(data: TextData, block_size: int) -> torch.Tensor:
    """A fixed prompt from held-out text: the test text from the first blank line after its middle, up to
    block_size // 2 characters (so every model is prompted alike, with text none of them trained on)."""
    newline = int(data.vocab.encode("\n")[0])
    t = data.test
    blank = ((t[:-1] == newline) & (t[1:] == newline)).nonzero().flatten()
    after = blank[blank >= len(t) // 2]
    start = int(after[0]) if len(after) else len(t) // 2
    return t[start:start + block_size // 2]


def _lm_metrics(model, data: TextData, block_size: int, teacher=None, fit=None) -> dict:
    """val_ and test_ metrics (with the teacher's agreement and KL if given); train_ on `fit` = (x, y) windows."""
    metrics = {}
    for split, ids in (("val", data.val), ("test", data.test)):
        metrics.update({f"{split}_{k}": v for k, v in evaluate(model, ids, block_size, teacher).items()})
    if fit is not None:
        metrics.update({f"train_{k}": v for k, v in evaluate_windows(model, *fit).items()})
    return metrics


def _sample(model, data: TextData, block_size: int) -> str:
    prompt = prompt_ids(data, block_size)
    return data.vocab.decode(generate(model, prompt, SAMPLE_CHARS, seed=0).tolist())


def get_lm_teacher(cfg: LMConfig, data: TextData, device, results_dir) -> LMTeacher:
    """The teacher GPT of `cfg`, trained on all of the training text once and cached in
    `<results_dir>/teachers/<teacher_key>.pt` (weights, metrics and a text sample)."""
    def make() -> dict:
        torch.manual_seed(cfg.teacher_seed)
        model = build_gpt(cfg.teacher, len(data.vocab), cfg.block_size).to(device)
        x, y = windows(data.train, cfg.block_size)
        train(model, x, y, labels_loss, cfg.teacher_train, seed=cfg.teacher_seed, progress=True)
        metrics = {"n_tokens": int(y.numel()), **_lm_metrics(model, data, cfg.block_size)}
        return {"state_dict": model.state_dict(), "metrics": metrics,
                "sample": _sample(model, data, cfg.block_size)}

    def load(blob: dict) -> LMTeacher:
        model = build_gpt(cfg.teacher, len(data.vocab), cfg.block_size).to(device)
        model.load_state_dict(blob["state_dict"])
        model.eval()
        return LMTeacher(model, blob["metrics"], blob["sample"])

    return cached(results_dir, cfg.teacher_key(), device, make, load)


def labels_loss(logits, y, _targets):
    return F.cross_entropy(logits.flatten(0, 1), y.flatten())


def run_lm(cfg: LMConfig, device="auto", results_dir="results") -> dict:
    """Train one GPT student as `cfg` says; return its record (config, metrics, a generated sample, wall time,
    device, version). Metrics: val_/test_ ce, ppl, bpc, agreement and kl with the teacher; train_ on the
    student's own windows (its fit); teacher_test_ppl and teacher_test_bpc."""
    cfg = cfg.validate().canonical()
    dev = resolve_device(device)
    data = text_for(cfg, dev)
    teacher = get_lm_teacher(cfg, data, dev, results_dir) if cfg.teacher is not None else None
    x, y = windows(data.train, cfg.block_size, cfg.fraction, cfg.seed)
    torch.manual_seed(cfg.seed)
    model = build_gpt(cfg.student, len(data.vocab), cfg.block_size).to(dev)
    loss = online_kd_loss(teacher.model, cfg.lam, cfg.tau) if cfg.method == "kd" else labels_loss
    record = {"key": cfg.key(), "config": cfg.as_dict(), "status": "ok", "n_train": len(x),
              "n_tokens": int(y.numel()), "device": str(dev), "device_name": device_name(dev),
              "kdlib_version": __version__, "torch_version": torch.__version__}
    start = time.perf_counter()
    try:
        info = train(model, x, y, loss, cfg.train, seed=cfg.seed, targets=x)  # targets: the inputs, for the teacher
    except Diverged as e:
        record.update(status="diverged", diverged_step=e.step, metrics={}, steps=None)
    else:
        record["steps"] = info["steps"]
        fit = (x[:256], y[:256])  # up to 256 of its own training windows: how well it fits what it saw
        metrics = _lm_metrics(model, data, cfg.block_size, teacher.model if teacher else None, fit)
        if teacher is not None:
            metrics.update(teacher_test_ppl=teacher.metrics["test_ppl"], teacher_test_bpc=teacher.metrics["test_bpc"])
        record["metrics"] = metrics
        record["sample"] = _sample(model, data, cfg.block_size)
    record["wall_time_s"] = time.perf_counter() - start
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record
