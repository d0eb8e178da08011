"""Images per second of a CIFAR training step: kdlib's on-device data path against the usual torchvision DataLoader
pipeline, on the same model, batch size, optimizer and precision.

- kdlib: `kdlib.train.train` itself, the loop every run uses: the images sit on the device as uint8; a batch is an
  index slice; `kdlib.vision.augment` crops (4-pixel padding) and flips every image in one gather; the model
  normalises (`kdlib.vision.Normalize`).
- DataLoader: PIL images through torchvision's RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor and
  Normalize in `--workers` worker processes, pinned memory, copied to the device each step.

Both train the same model with the same optimiser, learning-rate schedule, precision and divergence checks (every 100
steps): the `fast` recipe's training (SGD with Nesterov momentum, precision "auto": bf16 on an A100/H100, fp16 with a
gradient scaler on older GPUs, fp32 on a CPU), channels_last, `--steps` timed steps after `--warmup`.
Images are CIFAR-10 from `--data-dir` when it holds torchvision's copy, else random uint8 images of the same shape
(the input pipeline's cost does not depend on the pixels).

    python benchmarks/bench_cifar_input.py [--model convnet-s] [--batch 512] [--steps 50] [--images 50000] [--device auto]
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from kdlib import vision
from kdlib.config import RECIPES
from kdlib.models import CIFAR_MODELS, build_cifar_model
from kdlib.devices import resolve_precision
from kdlib.train import (TrainConfig, autocast, device_name, lr_factor, make_optimizer, optimise, resolve_device,
                         train)


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def images(data_dir, n: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [n, 32, 32, 3] and labels: CIFAR-10's training images if torchvision finds them, else random ones."""
    try:
        from torchvision import datasets

        ds = datasets.CIFAR10(data_dir, train=True, download=False)
        print(f"images: CIFAR-10 from {data_dir}")
        return ds.data[:n], np.asarray(ds.targets[:n])
    except (RuntimeError, OSError):
        print(f"images: random uint8 (no CIFAR-10 in {data_dir})")
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


def step_fn(model, cfg: TrainConfig, dev, total: int, check_every: int = 100):
    """One optimisation step as kdlib.train.train takes it, for the DataLoader path: its optimiser, learning-rate
    schedule over `total` steps, precision (loss outside autocast, a gradient scaler in fp16) and divergence check
    (noted on the device each step, read every `check_every` steps)."""
    opt = make_optimizer(model.parameters(), cfg, dev)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, cfg.warmup))
    precision = resolve_precision(cfg.precision, dev)
    scaler = torch.amp.GradScaler(dev.type) if precision == "fp16" else None
    first_bad = torch.full((), -1, dtype=torch.long, device=dev)
    done = [0]

    def step(x, y):
        with autocast(dev, precision):
            logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimise(loss, opt, scaler)
        sched.step()
        done[0] += 1
        first_bad.masked_fill_(~torch.isfinite(loss.detach()) & (first_bad < 0), done[0])
        if done[0] % check_every == 0 and int(first_bad) >= 0:
            raise RuntimeError(f"the DataLoader path diverged at step {int(first_bad)}")

    return step


def cross_entropy(logits, y, _targets):
    return F.cross_entropy(logits, y)


def kdlib_path(model, data, labels, dev, cfg: TrainConfig, warmup, steps) -> float:
    x = vision.to_tensors(SimpleNamespace(data=data, targets=labels))[0].to(dev)
    y = torch.as_tensor(labels, device=dev)
    train(model, x, y, cross_entropy, cfg, seed=0, steps=warmup)
    sync(dev)
    start = time.perf_counter()
    train(model, x, y, cross_entropy, cfg, seed=1, steps=steps)  # ends with a sync (the last loss is read)
    sync(dev)
    return steps * cfg.batch_size / (time.perf_counter() - start)


def dataloader_path(model, data, labels, dev, cfg: TrainConfig, warmup, steps, workers: int, mean, std) -> float:
    from PIL import Image
    from torchvision import transforms

    tf = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                             transforms.ToTensor(), transforms.Normalize(mean, std)])

    class Images(torch.utils.data.Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return tf(Image.fromarray(data[i])), int(labels[i])

    loader = torch.utils.data.DataLoader(Images(), batch_size=cfg.batch_size, shuffle=True, drop_last=True, num_workers=workers,
                                         pin_memory=dev.type == "cuda", persistent_workers=workers > 0)
    model.prepare = torch.nn.Identity()  # the loader normalises already
    step = step_fn(model, cfg, dev, total=warmup + steps)
    model.train()
    done = 0
    while done < warmup + steps:
        for xb, yb in loader:
            if done == warmup:
                sync(dev)
                start = time.perf_counter()
            xb = xb.to(dev, non_blocking=True).contiguous(memory_format=torch.channels_last)
            step(xb, yb.to(dev, non_blocking=True))
            done += 1
            if done == warmup + steps:
                break
    sync(dev)
    return steps * cfg.batch_size / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="convnet-s", choices=sorted(CIFAR_MODELS),
                   help="default convnet-s, the fast recipe's: a large model hides the input pipeline")
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count(), help="DataLoader worker processes (default: this host's cores)")
    p.add_argument("--images", type=int, default=50_000, help="images per pass (default 50,000: the loader does "
                                                                 "not restart within the timed steps)")
    p.add_argument("--precision", default=None, help="fp32, tf32, bf16, fp16 or auto (default: the fast recipe's, auto)")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-dir", default="data")
    a = p.parse_args()
    dev = resolve_device(a.device)
    cfg = replace(RECIPES["fast"]["train"], batch_size=a.batch, **({"precision": a.precision} if a.precision else {}))
    cfg.validate()
    print(f"device: {dev} ({device_name(dev)}), torch {torch.__version__}, model {a.model}, batch {a.batch}, "
          f"{cfg.optimizer}, {resolve_precision(cfg.precision, dev)}, {a.steps} timed steps after {a.warmup}, DataLoader workers {a.workers}")
    data, labels = images(a.data_dir, max(a.images, a.batch))
    results = {}
    for label in ("kdlib", "DataLoader"):
        torch.manual_seed(0)
        model = build_cifar_model(a.model, "cifar10").to(dev)  # channels_last weights
        if label == "kdlib":
            results[label] = kdlib_path(model, data, labels, dev, cfg, a.warmup, a.steps)
        else:
            mean, std = vision.STATS["cifar10"]
            results[label] = dataloader_path(model, data, labels, dev, cfg, a.warmup, a.steps, a.workers, mean, std)
        print(f"{label:>10}: {results[label]:10.0f} images/s")
    print(f"kdlib / DataLoader: {results['kdlib'] / results['DataLoader']:.2f}x")


if __name__ == "__main__":
    main()
