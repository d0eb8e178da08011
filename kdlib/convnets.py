"""Image models for CIFAR: the CIFAR ResNet-18 of the paper's setup, the ResNet-20/56 family of He et al. (2016), and a
fast ConvNet in the style of airbench (`kdlib.models.CIFAR_MODELS` names them, with C6's ViT on 4×4-pixel patches).

Every model starts with `Normalize` (uint8 images in, so the data can stay uint8 on the device) and, like the 1D
models, has `blocks` and a linear `head` (a `Head`: float32 under autocast); `forward(x, return_features=True)` also
returns each block's output.
"""
from __future__ import annotations

import torch
from torch import nn

from .vision import Normalize


class Head(nn.Linear):
    """A model's last linear layer, always in float32: under bf16/fp16 autocast its input is cast up and its matmul
    runs in float32, so logits leave the model in float32, not rounded to bf16's 8 bits (2^-9 relative), which is what
    logit matching, high temperatures and the KL metrics read. Without autocast it is nn.Linear (same init and
    parameter names)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_autocast_enabled(x.device.type):
            return super().forward(x)
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float())


class BasicBlock(nn.Module):
    """3×3 conv-BN-ReLU, 3×3 conv-BN, plus the input (projected by a 1×1 conv when the shape changes), ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ImageClassifier(nn.Module):
    """Normalize -> stem -> stages (the `blocks`) -> global average pool -> linear head."""

    def __init__(self, stem: nn.Module, stages: list[nn.Module], width: int, num_classes: int, stats):
        super().__init__()
        self.prepare = Normalize(*stats)
        self.stem = stem
        self.blocks = nn.ModuleList(stages)
        self.head = Head(width, num_classes)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        h = self.stem(self.prepare(x))
        features = []
        for stage in self.blocks:
            h = stage(h)
            features.append(h)
        logits = self.head(h.mean((2, 3)))
        return (logits, features) if return_features else logits


def _stage(c_in: int, c_out: int, n: int, stride: int) -> nn.Sequential:
    return nn.Sequential(*[BasicBlock(c_in if i == 0 else c_out, c_out, stride if i == 0 else 1) for i in range(n)])


def resnet18(num_classes: int, stats) -> ImageClassifier:
    """The CIFAR ResNet-18: a 3×3 stem without max-pool, four stages of two blocks (64, 128, 256, 512 channels)."""
    stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
    widths, stages, prev = (64, 128, 256, 512), [], 64
    for i, w in enumerate(widths):
        stages.append(_stage(prev, w, 2, 1 if i == 0 else 2))
        prev = w
    return ImageClassifier(stem, stages, 512, num_classes, stats)


def resnet_cifar(depth: int, num_classes: int, stats) -> ImageClassifier:
    """ResNet-`depth` for CIFAR (depth = 6n + 2: 20, 32, 44, 56, ...): three stages of n blocks, 16/32/64 channels."""
    n = (depth - 2) // 6
    stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
    stages = [_stage(16, 16, n, 1), _stage(16, 32, n, 2), _stage(32, 64, n, 2)]
    return ImageClassifier(stem, stages, 64, num_classes, stats)


def fast_convnet(num_classes: int, stats, width: int = 64) -> ImageClassifier:
    """An airbench-style ConvNet: a 2×2 stem, then three groups of (conv, max-pool 2, BN, GELU, conv, BN, GELU) at
    widths (w, 4w, 4w); for the `fast` recipe."""
    def group(c_in, c_out):
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2),
                             nn.BatchNorm2d(c_out), nn.GELU(),
                             nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU())
    stem = nn.Sequential(nn.Conv2d(3, 24, 2, padding=0, bias=False), nn.BatchNorm2d(24), nn.GELU())
    widths = (width, 4 * width, 4 * width)
    return ImageClassifier(stem, [group(24, widths[0]), group(widths[0], widths[1]), group(widths[1], widths[2])],
                    widths[2], num_classes, stats)
