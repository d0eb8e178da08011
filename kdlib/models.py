"""Model families with a width/depth knob: an MLP and a 1D CNN.

Every model is a stack of `blocks` followed by a linear `head`; `forward(x, return_features=True)`
also returns each block's output, so losses that supervise intermediate layers need no second class.
Named sizes ("cnn-small", "mlp-large", ...) fix (width, depth); `build_model` also takes them explicitly.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .errors import ConfigError, check_choice


class Net(nn.Module):
    """blocks -> flatten -> head. Input [B, *input_shape], output logits [B, num_classes]."""

    def __init__(self, blocks: list[nn.Module], head_in: int, num_classes: int, prepare=None):
        super().__init__()
        self.prepare = prepare or nn.Identity()
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(head_in, num_classes)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        h = self.prepare(x)
        features = []
        for block in self.blocks:
            h = block(h)
            features.append(h)
        logits = self.head(h.flatten(1))
        return (logits, features) if return_features else logits


def mlp(input_shape, num_classes: int, width: int = 128, depth: int = 2) -> Net:
    """`depth` hidden layers of `width` units with ReLU."""
    d_in = math.prod(input_shape)
    blocks, prev = [], d_in
    for _ in range(depth):
        blocks.append(nn.Sequential(nn.Linear(prev, width), nn.ReLU()))
        prev = width
    return Net(blocks, prev, num_classes, prepare=nn.Flatten(1))


def cnn1d(input_shape, num_classes: int, width: int = 32, depth: int = 3) -> Net:
    """`depth` conv blocks (kernel 5, `width` channels, ReLU); the first two halve the length.

    Inputs [B, L] are treated as one channel; [B, C, L] are used as they are.
    """
    channels, length = (1, input_shape[0]) if len(input_shape) == 1 else input_shape[:2]
    blocks, prev = [], channels
    for i in range(depth):
        stride = 2 if i < 2 else 1
        blocks.append(nn.Sequential(nn.Conv1d(prev, width, 5, stride=stride, padding=2), nn.ReLU()))
        prev = width
        length = (length + 2 * 2 - 5) // stride + 1
    prepare = nn.Unflatten(1, (1, input_shape[0])) if len(input_shape) == 1 else None
    return Net(blocks, width * length, num_classes, prepare=prepare)


class AuxiliaryHeads(nn.Module):
    """A Net plus one linear classifier per intermediate block (every block but the last), for deep supervision.

    Each aux head reads its block's output averaged over length ([B, C, L] -> [B, C]; MLP features [B, D] as they
    are). Training mode returns (logits, [aux logits [B, K], ...]); eval mode only the logits, so `predict` works
    unchanged. A one-block net gets no aux heads and returns (logits, []) in training mode.
    The base net is kept as is (same parameter objects; its state_dict keys appear under "net.").
    """

    def __init__(self, net: Net, num_classes: int):
        super().__init__()
        if num_classes != net.head.out_features:
            raise ConfigError(f"num_classes={num_classes} but the net has {net.head.out_features} outputs")
        self.net = net
        self.aux_heads = nn.ModuleList(nn.Linear(_out_dim(block), num_classes) for block in net.blocks[:-1])

    def forward(self, x: torch.Tensor):
        if not self.training:
            return self.net(x)
        logits, features = self.net(x, return_features=True)
        # average conv maps over length, so a head's size depends on the width only, not the input length
        pooled = [f.mean(-1) if f.ndim == 3 else f for f in features[:-1]]
        return logits, [head(f) for head, f in zip(self.aux_heads, pooled)]


def _out_dim(block: nn.Module) -> int:
    """Channels (conv) or units (linear) of a block's output: those of its last Conv1d or Linear layer."""
    last = [m for m in block.modules() if isinstance(m, (nn.Conv1d, nn.Linear))][-1]
    return last.out_channels if isinstance(last, nn.Conv1d) else last.out_features


def with_aux_heads(net: Net, num_classes: int) -> AuxiliaryHeads:
    """`net` wrapped with an auxiliary classifier per intermediate block (see AuxiliaryHeads)."""
    return AuxiliaryHeads(net, num_classes)


FAMILIES = {"mlp": mlp, "cnn": cnn1d}
SIZES = {  # (width, depth)
    "mlp": {"tiny": (32, 1), "small": (64, 2), "base": (128, 2), "large": (256, 3)},
    "cnn": {"tiny": (8, 2), "small": (16, 3), "base": (32, 3), "large": (64, 4)},
}
MODELS = [f"{family}-{size}" for family, sizes in SIZES.items() for size in sizes]


def parse_model(name: str) -> tuple[str, int, int]:
    """'cnn-small' -> ('cnn', 16, 3)."""
    check_choice("model", name, MODELS)
    family, size = name.split("-", 1)
    return (family, *SIZES[family][size])


def build_model(name: str, input_shape, num_classes: int) -> Net:
    family, width, depth = parse_model(name)
    if len(input_shape) not in (1, 2):
        raise ConfigError(f"input_shape={tuple(input_shape)}: the {family} family takes [L] or [C, L] inputs")
    return FAMILIES[family](tuple(input_shape), num_classes, width=width, depth=depth)


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
