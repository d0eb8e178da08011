"""Hand computations shared by the loss tests: plain numpy / math in float64, independent of kdlib."""
from __future__ import annotations

import math

import numpy as np
import torch


def t64(x):
    return torch.tensor(x, dtype=torch.float64)


def np_softmax(z):
    z = np.asarray(z, float)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def hand_ce(s, y):
    p = np_softmax(s)
    return float(np.mean([-math.log(p[i, y[i]]) for i in range(len(y))]))
