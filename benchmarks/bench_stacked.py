"""Would training K runs as one stacked model pay on this machine, and would it keep each run's numbers?

K copies of the cpu profile's student (`cnn-base`: three Conv1d blocks and a linear head, batch 128 on MNIST-1D)
are trained (a) one after another, as kdlib does, and (b) as one network whose convolutions are grouped
(groups = K) and whose head is a batched matmul, each model on its own batches. It prints model-steps per second
for both, on one thread (what a kdlib worker uses), and whether model k of the stack computes exactly what model k
alone computes (the condition for a run's numbers not to depend on which runs were grouped).

    python benchmarks/bench_stacked.py [--k 1 4 10 20] [--steps 200] [--threads 1]
"""
from __future__ import annotations

import argparse
import platform
import time

import torch
from torch import nn

from kdlib import data as kdata
from kdlib.models import build_model


class Stacked(nn.Module):
    """K copies of a kdlib cnn1d as one network: input [B, K, L] (model k's batch in channel k) -> logits [K, B, C]."""

    def __init__(self, models):
        super().__init__()
        self.k = len(models)
        self.convs = nn.ModuleList()
        for layers in zip(*[[blk[0] for blk in m.blocks] for m in models]):
            c = layers[0]
            conv = nn.Conv1d(c.in_channels * self.k, c.out_channels * self.k, c.kernel_size, c.stride, c.padding,
                             groups=self.k)
            with torch.no_grad():
                conv.weight.copy_(torch.cat([l.weight for l in layers]))
                conv.bias.copy_(torch.cat([l.bias for l in layers]))
            self.convs.append(conv)
        self.w = nn.Parameter(torch.stack([m.head.weight.detach().t() for m in models]))  # [K, F, C]
        self.b = nn.Parameter(torch.stack([m.head.bias.detach() for m in models])[:, None])  # [K, 1, C]

    def forward(self, x):
        h = x
        for conv in self.convs:
            h = torch.relu(conv(h))
        b = h.shape[0]
        h = h.view(b, self.k, -1, h.shape[-1]).permute(1, 0, 2, 3).reshape(self.k, b, -1)  # [K, B, F]
        return torch.baddbmm(self.b, h, self.w)


def models(k, ds):
    out = []
    for i in range(k):
        torch.manual_seed(i)
        out.append(build_model("cnn-base", ds.input_shape, ds.num_classes))
    return out


def one_by_one(ms, xs, ys, steps):
    start = time.perf_counter()
    for m, x, y in zip(ms, xs, ys):
        opt = torch.optim.AdamW(m.parameters(), lr=3e-3, fused=True)
        for s in range(steps):
            loss = nn.functional.cross_entropy(m(x[s]), y[s])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return len(ms) * steps / (time.perf_counter() - start)


def stacked(ms, xs, ys, steps):
    net = Stacked(ms)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, fused=True)
    xb = [torch.stack([x[s] for x in xs], 1) for s in range(steps)]  # [B, K, L]
    yb = [torch.stack([y[s] for y in ys]) for s in range(steps)]  # [K, B]
    start = time.perf_counter()
    for s in range(steps):
        logits = net(xb[s])
        # the sum of the K runs' mean losses: each model's gradient is its own run's
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), yb[s].flatten(), reduction="sum") / yb[s].shape[1]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return len(ms) * steps / (time.perf_counter() - start)


def same_numbers(ms, x):
    """Max |difference| between model k alone and model k in the stack, on one batch (forward pass)."""
    net = Stacked(ms)
    with torch.no_grad():
        together = net(torch.stack([x] * len(ms), 1))
        alone = torch.stack([m(x) for m in ms])
    return (together - alone).abs().max().item()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--k", type=int, nargs="+", default=[1, 4, 10, 20])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    ds = kdata.mnist1d()
    print(f"machine: {platform.node()} | {platform.platform()} | {platform.processor() or platform.machine()} | "
          f"torch {torch.__version__} | {torch.get_num_threads()} thread(s)")
    print(f"cnn-base, batch 128, {a.steps} steps per model, AdamW (fused)")
    g = torch.Generator().manual_seed(0)
    for k in a.k:
        idx = [[torch.randint(len(ds.y_train), (128,), generator=g) for _ in range(a.steps)] for _ in range(k)]
        xs = [[ds.x_train[i] for i in run] for run in idx]
        ys = [[ds.y_train[i] for i in run] for run in idx]
        stacked(models(k, ds), xs, ys, 20)  # warm-up
        alone = one_by_one(models(k, ds), xs, ys, a.steps)
        together = stacked(models(k, ds), xs, ys, a.steps)
        diff = same_numbers(models(k, ds), ds.x_train[:128])
        print(f"K={k:3d}  one by one {alone:7.1f} model-steps/s   stacked {together:7.1f}   ratio "
              f"{together / alone:5.2f}   max |logit difference| stacked vs alone {diff:.2e}"
              f"{' (bit-identical)' if diff == 0 else ''}")


if __name__ == "__main__":
    main()
