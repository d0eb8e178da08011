"""One training loop for every teacher and student.

The training set lives on the device as tensors; a batch is an index slice (no DataLoader, no per-sample
Python). Training is counted in optimisation steps with a floor:

    steps = max(min_steps, epochs * floor(M / B)),   B = min(batch_size, M)

so a student on M = 80 samples still gets `min_steps` updates instead of `epochs` of them. The learning
rate warms up linearly for the first `warmup` share of the steps, then follows a cosine to zero. The
reported model is the one at the last step (no early stopping, no best-epoch picking).

The CIFAR recipes (kdlib.profiles.RECIPES) add three knobs: SGD with Nesterov momentum instead of AdamW, a lower
precision for the forward passes ("auto": bf16 autocast where the GPU has it, fp16 with a gradient scaler on older
GPUs, fp32 on the CPU; `kdlib.devices.resolve_precision`), and augmentation of every batch on the device
(`kdlib.vision.augment`: random crop with 4-pixel padding and a flip, drawn per image).

Whatever the precision, the weights, the optimiser state, the models' heads (`kdlib.convnets.Head`) and every loss
are float32: autocast covers the forward pass up to the head, and the loss is computed outside it.

On CUDA a step never makes the host wait for the GPU: the batch order and the augmentation's draws come from a CPU
generator in one non-blocking copy, and the loss is looked at only every `check_every` steps.
"""
from __future__ import annotations

import math
import os
import platform
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Callable

import torch
from tqdm.auto import tqdm

from .devices import PRECISIONS, resolve_precision, to_device
from .errors import ConfigError, check_choice, check_range
from .features import head_of
from .vision import augment as augment_images

OPTIMIZERS = ("adamw", "sgd")
MOMENTUM = 0.9  # SGD: Nesterov momentum, as in the authors' CIFAR setup and in airbench


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 60
    min_steps: int = 1000
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup: float = 0.05
    optimizer: str = "adamw"  # OPTIMIZERS; sgd uses Nesterov momentum MOMENTUM
    precision: str = "fp32"  # kdlib.devices.PRECISIONS; bf16/fp16: autocast around the forward passes; auto: per device
    augment: bool = False  # random crop (pad 4) and horizontal flip of each training image (image datasets only)

    def validate(self) -> "TrainConfig":
        for name in ("epochs", "min_steps", "batch_size"):
            check_range(name, getattr(self, name), low=1)
        check_range("lr", self.lr, low=0, low_open=True)
        check_range("weight_decay", self.weight_decay, low=0)
        check_range("warmup", self.warmup, low=0, high=1, high_open=True)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("precision", self.precision, PRECISIONS)
        if self.augment not in (True, False):
            raise ConfigError(f"augment={self.augment!r} is not allowed; allowed: True, False")
        return self


class Diverged(RuntimeError):
    """The loss became NaN or infinite; `step` is the first step where that was seen."""

    def __init__(self, step: int, loss: float):
        super().__init__(f"loss became {loss} at step {step}")
        self.step, self.loss = step, loss


def num_steps(n_samples: int, cfg: TrainConfig) -> int:
    """The step budget above: epochs over the data, but never fewer than `min_steps`."""
    batch = min(cfg.batch_size, n_samples)
    return max(cfg.min_steps, cfg.epochs * (n_samples // batch))


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA when present, else CPU. An unusable name is a ConfigError."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device={device!r} is not a device name; allowed: auto, cpu, cuda, cuda:N, mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} but CUDA is not available here; allowed: auto, cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device={device!r} but only {torch.cuda.device_count()} CUDA device(s) exist")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device={device!r} but MPS is not available here; allowed: auto, cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device={device!r} is not supported; allowed: auto, cpu, cuda, cuda:N, mps")
    return dev


THREADS_ENV = "KDLIB_THREADS"  # CPU threads per run (default 1); the results depend on it, the worker count does not


def run_threads() -> int:
    """The CPU threads one run uses: $KDLIB_THREADS, else 1. Fixed per run, not shared out among workers, so a run's
    numbers are the same whether it runs alone or beside 15 others (a float sum split over more threads is summed in
    another order)."""
    value = os.environ.get(THREADS_ENV, "1")
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{THREADS_ENV}={value!r} is not allowed; allowed: an integer >= 1")
    return int(value)


@contextmanager
def fixed_threads(n: int | None = None):
    """Run the body on `n` CPU threads (default `run_threads()`), then restore the caller's count."""
    before = torch.get_num_threads()
    torch.set_num_threads(run_threads() if n is None else n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def device_name(dev: torch.device) -> str:
    """The GPU's name, or the CPU's with the thread count (for a run's record)."""
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str):
    """The forward passes' precision on `device` (`precision` resolved there): bf16 or fp16 autocast, or nothing."""
    dtype = AUTOCAST.get(resolve_precision(precision, device))
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


@contextmanager
def cuda_settings(device: torch.device, precision: str):
    """Around a training loop on CUDA: cuDNN picks its fastest kernels for the loop's fixed shapes (every batch has
    the same size), and TensorFloat-32 is used for matmuls and convolutions in "tf32" only (fp32 stays exact).
    The previous settings come back afterwards, so evaluation runs as before. Nothing changes on other devices."""
    if device.type != "cuda":
        yield
        return
    backends = torch.backends
    before = (backends.cudnn.benchmark, backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32)
    backends.cudnn.benchmark = True
    backends.cuda.matmul.allow_tf32 = backends.cudnn.allow_tf32 = resolve_precision(precision, device) == "tf32"
    try:
        yield
    finally:
        backends.cudnn.benchmark, backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32 = before


def make_optimizer(params, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    # the fused kernels are ~12% faster per step on CPU for these small models (benchmarks/bench_train_loop.py)
    fused = {"fused": True} if device.type in ("cpu", "cuda") else {}
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=MOMENTUM, nesterov=True, weight_decay=cfg.weight_decay,
                               **fused)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)


def lr_factor(step: int, total: int, warmup: float) -> float:
    warm = max(1, int(warmup * total))
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def optimise(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler=None) -> None:
    """One optimiser step on `loss`'s gradients; with a gradient scaler (fp16) the loss is scaled, and a step whose
    gradients are not finite is skipped (by the fused optimisers on the device, with no wait)."""
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        opt.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()


LossFn = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]
TargetFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def batches(n: int, batch: int, steps: int, generator: torch.Generator, device):
    """Yield `steps` index tensors of size `batch`: reshuffle every epoch, drop the ragged end."""
    per_epoch = n // batch
    done = 0
    while done < steps:
        order = to_device(torch.randperm(n, generator=generator)[: per_epoch * batch], device)
        for chunk in order.view(per_epoch, batch)[: steps - done]:
            yield chunk
        done += per_epoch


def train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, cfg: TrainConfig,
          seed: int, targets: torch.Tensor | None = None, target_fn: TargetFn | None = None,
          progress: bool = False, check_every: int = 100, steps: int | None = None) -> dict:
    """Train `model` in place on (x, y) and return {'steps', 'final_loss', 'precision'} (the one used here).

    loss_fn(logits [B, K], y [B], targets [B, ...] or None) -> scalar, where `targets` rows are sliced by the
    same index as x (teacher logits, say). x, y and targets must already be on the model's device.
    target_fn(xb, yb) -> targets [B, ...], instead of `targets`: computed on each (augmented) batch, without
    gradients and in the run's precision (a teacher's forward pass when the inputs are augmented).
    `steps` overrides the step rule (used when inputs are added to a subset but its budget is kept).
    Raises `Diverged` with the first step whose loss was not finite (noted on the device every step, looked
    at every `check_every` steps and at the end, so there is no per-step synchronisation).
    The loss gets float32 logits and runs outside autocast; in fp16 a gradient scaler scales it (the fused
    optimisers take the scale and skip a step with an infinite gradient on the device).
    """
    cfg.validate()
    device = x.device
    precision = resolve_precision(cfg.precision, device)
    with cuda_settings(device, precision):
        info = _train(model, x, y, loss_fn, cfg, seed, targets, target_fn, progress, check_every, steps, precision)
    return {**info, "precision": precision}


def _train(model, x, y, loss_fn, cfg, seed, targets, target_fn, progress, check_every, steps, precision) -> dict:
    n = len(y)
    batch = min(cfg.batch_size, n)
    total = num_steps(n, cfg) if steps is None else int(steps)
    device = x.device
    generator = torch.Generator().manual_seed(int(seed))
    opt = make_optimizer(model.parameters(), cfg, device)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, cfg.warmup))
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    model.train()
    loss = torch.zeros(())
    first_bad = torch.full((), -1, dtype=torch.long, device=device)  # first non-finite step, kept on the device
    bar = tqdm(total=total, disable=not progress, leave=False, mininterval=1.0)
    for step, idx in enumerate(batches(n, batch, total, generator, device)):
        xb, yb = x[idx], y[idx]
        if cfg.augment:
            xb = augment_images(xb, generator)
        with autocast(device, precision):
            if target_fn is not None:
                with torch.no_grad():
                    tb = target_fn(xb, yb)
            else:
                tb = None if targets is None else targets[idx]
            outputs = model(xb)
        if torch.is_tensor(outputs):  # kdlib's heads give float32 already; a reader's own model may not
            outputs = outputs.float()
        loss = loss_fn(outputs, yb, tb)  # float32 logits, and autocast ends above
        optimise(loss, opt, scaler)
        sched.step()
        first_bad.masked_fill_(~torch.isfinite(loss.detach()) & (first_bad < 0), step + 1)
        if (step + 1) % check_every == 0 or step + 1 == total:
            bad = int(first_bad)  # one sync every `check_every` steps, not every step
            if bad >= 0:
                raise Diverged(bad, float(loss.detach()))
            bar.update(check_every if (step + 1) % check_every == 0 else total % check_every)
    bar.close()
    return {"steps": total, "final_loss": float(loss.item())}


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 4096, precision: str = "fp32",
            features: bool = False):
    """Float32 logits for every row of x, in eval mode, on x's device (the forward pass in `precision`).

    `features=True` returns (logits [N, K], penultimate features [N, D]) from the same forward pass: the input of the
    model's `head` (kdlib.features.head_of), caught by a hook, so the logits are the same numbers either way. The
    head's input is the penultimate representation of every kdlib classifier: the flattened last block (MLP, 1D CNN),
    the normalised mean over tokens (ViT), the pooled last stage (CIFAR models)."""
    model.eval()
    caught = []
    hook = None
    if features:
        head = head_of(model)
        if head is None:
            raise ValueError(f"{type(model).__name__} has no linear `head`: its penultimate features are not defined")
        hook = head.register_forward_pre_hook(lambda module, args: caught.append(args[0].detach().float()))
    try:
        with autocast(x.device, precision):
            logits = torch.cat([model(x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)])
    finally:
        if hook is not None:
            hook.remove()
    return (logits, torch.cat(caught).flatten(1)) if features else logits
