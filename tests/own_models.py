"""Factories a reader might write, "own_models:<function>", called as function(input_shape, num_classes); the tests
import them by name (tests/ is on sys.path under pytest, and spawned workers inherit it). The last three are wrong on
purpose."""
from __future__ import annotations

import math

from torch import nn


def small_net(input_shape, num_classes):
    """A one-hidden-layer MLP: [B, *input_shape] -> logits [B, num_classes]."""
    return nn.Sequential(nn.Flatten(1), nn.Linear(math.prod(input_shape), 16), nn.ReLU(), nn.Linear(16, num_classes))


def not_a_module(input_shape, num_classes):
    return {"layers": 2}


def wrong_shape(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(1), nn.Linear(math.prod(input_shape), num_classes + 4))


def fails(input_shape, num_classes):
    raise ValueError("this factory only takes images")
