"""Throughput of kdlib's training loop against its floor, on the machine it runs on.

The floor is a bare forward/backward/optimizer step over batches sliced *before* timing (no indexing, no
schedule, no loss dispatch, no divergence checks). The loop is `kdlib.train.train` on the same model, data
and batch size. Target: the loop within 10% of the floor.

    python benchmarks/bench_train_loop.py [--model cnn-base] [--steps 600] [--device auto] [--repeats 3]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from kdlib import data as kdata
from kdlib.losses import kd_loss
from kdlib.models import build_model
from kdlib.train import TrainConfig, resolve_device, train


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def floor_steps_per_s(model_name, ds, dev, steps, batch, kd: bool) -> float:
    torch.manual_seed(0)
    model = build_model(model_name, ds.input_shape, ds.num_classes).to(dev)
    fused = {"fused": True} if dev.type in ("cpu", "cuda") else {}  # the same optimizer as kdlib.train
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0, **fused)
    g = torch.Generator().manual_seed(0)
    idx = [torch.randint(len(ds.y_train), (batch,), generator=g).to(dev) for _ in range(steps)]
    xs = [ds.x_train[i] for i in idx]
    ys = [ds.y_train[i] for i in idx]
    ts = [torch.randn(batch, ds.num_classes, device=dev) for _ in idx] if kd else [None] * steps
    model.train()
    sync(dev)
    start = time.perf_counter()
    for xb, yb, tb in zip(xs, ys, ts):
        logits = model(xb)
        loss = kd_loss(logits, yb, tb, lam=1.0, tau=4.0) if kd else F.cross_entropy(logits, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(dev)
    return steps / (time.perf_counter() - start)


def loop_steps_per_s(model_name, ds, dev, steps, batch, kd: bool) -> float:
    torch.manual_seed(0)
    model = build_model(model_name, ds.input_shape, ds.num_classes).to(dev)
    targets = torch.randn(len(ds.y_train), ds.num_classes, device=dev) if kd else None
    cfg = TrainConfig(epochs=1, min_steps=steps, batch_size=batch, lr=3e-3)
    loss_fn = (lambda s, y, t: kd_loss(s, y, t, lam=1.0, tau=4.0)) if kd else (lambda s, y, t: F.cross_entropy(s, y))
    sync(dev)
    start = time.perf_counter()
    train(model, ds.x_train, ds.y_train, loss_fn, cfg, seed=0, targets=targets)
    sync(dev)
    return steps / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="cnn-base")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    dev = resolve_device(a.device)
    ds = kdata.mnist1d().to(dev)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or platform.machine())
    print(f"machine: {platform.node()} | {platform.platform()} | {name} | torch {torch.__version__} | "
          f"{torch.get_num_threads()} threads | device {dev}")
    print(f"model {a.model}, batch {a.batch}, {a.steps} steps per measurement, median of {a.repeats} (after a warm-up)")
    for kd in (False, True):
        floor_steps_per_s(a.model, ds, dev, 50, a.batch, kd)  # warm-up
        loop_steps_per_s(a.model, ds, dev, 50, a.batch, kd)
        fl, lp = [], []
        for _ in range(a.repeats):  # interleave so drifts in machine load hit both alike
            fl.append(floor_steps_per_s(a.model, ds, dev, a.steps, a.batch, kd))
            lp.append(loop_steps_per_s(a.model, ds, dev, a.steps, a.batch, kd))
        f, l = statistics.median(fl), statistics.median(lp)
        print(f"{'kd' if kd else 'labels':6s}  floor {f:8.1f} steps/s   loop {l:8.1f} steps/s   "
              f"loop/floor {l / f:6.3f}   ({'within' if l >= 0.9 * f else 'OUTSIDE'} the 10% target)")


if __name__ == "__main__":
    main()
