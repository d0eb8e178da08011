"""Image tensors for CIFAR-10/100: torchvision's arrays as uint8 tensors, a validation split, batched augmentation on
the device, and normalisation per batch inside the model (`kdlib.data.cifar` loads the datasets with these).

The data path follows airbench (Keller Jordan): the whole dataset sits on the device as uint8 [N, 3, 32, 32]; a batch
is an index slice; random crops (4-pixel padding) and flips are a few tensor ops on the whole batch, a different crop
and flip per image; images become float only inside the model (`Normalize`), in whatever precision autocast gives.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .devices import to_device
from .errors import ConfigError

# per-channel mean and std of the training images, in [0, 1] units
STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}


def to_tensors(ds) -> tuple[torch.Tensor, torch.Tensor]:
    """A torchvision-style CIFAR object (`.data`: uint8 [N, H, W, C] array, `.targets`: N integer labels) ->
    (x uint8 [N, C, H, W], y int64 [N]) on the CPU; no float copy is made."""
    data = np.asarray(ds.data)
    if data.dtype != np.uint8 or data.ndim != 4:
        raise ConfigError(f"expected .data as uint8 [N, H, W, C], got {data.dtype} of shape {data.shape}")
    y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)
    if y.shape != (len(data),):
        raise ConfigError(f".targets has shape {tuple(y.shape)}; expected ({len(data)},)")
    return torch.from_numpy(data).permute(0, 3, 1, 2).contiguous(), y


def synthetic(n: int, seed: int = 0, classes: int = 10) -> tuple[np.ndarray, list[int]]:
    """Made-up stand-ins for CIFAR images, for machines without the dataset (tests, benchmarks): uint8 [n, 32, 32, 3]
    whose class sets the mean colour, plus uniform noise of 40 levels, and the n labels. Learnable in a few steps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    colours = np.random.default_rng(123).integers(40, 216, (classes, 3), dtype=np.uint8)
    x = colours[y][:, None, None, :] + rng.integers(0, 40, (n, 32, 32, 3), dtype=np.uint8)  # at most 254: no overflow
    return x, y.tolist()


def split_train_val(x: torch.Tensor, y: torch.Tensor, n_val: int, seed: int = 0):
    """A seeded validation split taken from the training set: (x_train, y_train, x_val, y_val)."""
    if not 0 < n_val < len(y):
        raise ConfigError(f"n_val={n_val} is not allowed; allowed: an integer in [1, {len(y) - 1}]")
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(int(seed)))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def augment(x: torch.Tensor, generator: torch.Generator, pad: int = 4, flip: bool = True) -> torch.Tensor:
    """Random crop with `pad` pixels of zero padding and a random horizontal flip, each drawn per image, for a batch
    x [B, C, H, W] (any dtype, on any device). The draws come from `generator` (a CPU generator, so runs are
    reproducible on every device) and reach the device in one copy the host does not wait for; the work is a single
    gather on x's device."""
    b, _, h, w = x.shape
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    mirror = torch.rand(b, generator=generator) < 0.5 if flip else torch.zeros(b, dtype=torch.bool)
    dy, dx, mirror = to_device(torch.stack([dy, dx, mirror.long()]), x.device)  # [3, B]: one copy, not three
    mirror = mirror.bool()
    padded = nn.functional.pad(x, (pad, pad, pad, pad))
    rows = dy[:, None] + torch.arange(h, device=x.device)  # [B, H]
    cols = torch.arange(w, device=x.device).expand(b, w)
    cols = torch.where(mirror[:, None], cols.flip(1), cols) + dx[:, None]  # a mirror reads columns right to left
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # [B, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


class Normalize(nn.Module):
    """Images [B, C, H, W] with pixel values 0..255 (uint8, or float) -> float (x / 255 - mean) / std per channel,
    in channels_last memory format."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1) * 255)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() if x.dtype == torch.uint8 else x
        return ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
