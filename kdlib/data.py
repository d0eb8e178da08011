"""Datasets as tensors, and nested class-stratified subsampling.

A `Dataset` holds train / validation / test splits as tensors (x: float32 [N, ...], or uint8 [N, 3, 32, 32] images
for CIFAR; y: int64 [N]).
The teacher trains on all of `train`; a student on a subset of it chosen by `nested_subset`.
"""
from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass

import numpy as np
import torch

from . import vision
from .errors import ConfigError, check_choice
from .text import default_data_dir


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def to(self, device) -> "Dataset":
        """The same dataset with every split moved to `device` (done once; batches are index slices)."""
        moved = {k: getattr(self, k).to(device) for k in
                 ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        return Dataset(self.name, num_classes=self.num_classes, **moved)

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, "
                f"test={len(self.y_test)}, input_shape={self.input_shape}, classes={self.num_classes})")


def from_tensors(x_train, y_train, x_val, y_val, x_test, y_test, num_classes: int | None = None,
                 name: str = "custom") -> Dataset:
    """Bring your own data: arrays or tensors, x of shape [N, ...] and integer labels y of shape [N]."""
    xs = [torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=torch.float32)
          for x in (x_train, x_val, x_test)]
    ys = [torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y).long()
          for y in (y_train, y_val, y_test)]
    for split, x, y in zip(("train", "val", "test"), xs, ys):
        if x.shape[0] != y.shape[0] or y.ndim != 1:
            raise ConfigError(f"{split} split: x has {x.shape[0]} rows but y has shape {tuple(y.shape)}; "
                              "expected y of shape [N] matching x's first dimension")
        if x.shape[1:] != xs[0].shape[1:]:
            raise ConfigError(f"{split} split: input shape {tuple(x.shape[1:])} differs from train's "
                              f"{tuple(xs[0].shape[1:])}")
    k = int(max(int(y.max()) for y in ys if len(y)) + 1) if num_classes is None else int(num_classes)
    if min(int(y.min()) for y in ys if len(y)) < 0 or any(int(y.max()) >= k for y in ys if len(y)):
        raise ConfigError(f"labels must lie in [0, {k - 1}] (num_classes={k})")
    return Dataset(name, xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], k)


@functools.lru_cache(maxsize=8)
def mnist1d(n_train: int = 4000, n_val: int = 1000, n_test: int = 1000, seed: int = 0) -> Dataset:
    """MNIST-1D (Greydanus, 2020) generated offline by the `mnist1d` package: 10 classes, length-40 signals.

    One pool of n_train + n_val + n_test samples is generated from `seed` (balanced classes, rounded up
    to a multiple of 10) and cut into the three splits. Any size works: more samples are simply generated.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    for name, value, low in (("n_train", n_train, 10), ("n_val", n_val, 10), ("n_test", n_test, 10)):
        if int(value) < low:
            raise ConfigError(f"{name}={value} is too small; allowed: an integer >= {low}")
    total = n_train + n_val + n_test
    args = get_dataset_args()
    args.num_samples = int(np.ceil(total / 10) * 10)
    args.train_split = 1.0
    args.seed = seed
    # mnist1d reseeds numpy's and Python's global RNGs; leave the caller's untouched
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        raw = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    x, y = raw["x"].astype(np.float32), raw["y"].astype(np.int64)
    a, b = n_train, n_train + n_val
    return from_tensors(x[:a], y[:a], x[a:b], y[a:b], x[b:total], y[b:total], 10, name="mnist1d")


@functools.lru_cache(maxsize=2)
def digits(n_val: int = 300, n_test: int = 300, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits (1,797 images) as length-64 signals, standardised, split by `seed`."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data.astype(np.float32) - 8.0) / 8.0  # pixel values are 0..16
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    n_train = len(y) - n_val - n_test
    if n_train < 10:
        raise ConfigError(f"n_val + n_test = {n_val + n_test} leaves {n_train} training samples of 1797")
    a, b = n_train, n_train + n_val
    return from_tensors(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], 10, name="digits")


def mixup_inputs(x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n convex combinations w * x_i + (1 - w) * x_j of random rows i, j of x, with w ~ U(0, 1) (mixup with
    Beta(1, 1)); seeded, on x's device. Inputs only: what they are labelled with is the teacher's business."""
    g = torch.Generator().manual_seed(int(seed))
    i, j = torch.randint(len(x), (2, n), generator=g)
    w = torch.rand(n, *[1] * (x.ndim - 1), generator=g)
    return w.to(x.device) * x[i.to(x.device)] + (1 - w.to(x.device)) * x[j.to(x.device)]


def extra_inputs(n: int, seed: int = 0, **_) -> torch.Tensor:
    """n fresh MNIST-1D inputs from the generation seed after the dataset's (`seed` + 1), so none repeats a training,
    validation or test input; their labels are dropped. Takes a config's `data` keywords."""
    return mnist1d(n_train=n, n_val=10, n_test=10, seed=int(seed) + 1).x_train


def cifar(name: str = "cifar10", root="data", n_val: int = 5000, seed: int = 0, download: bool = True) -> Dataset:
    """CIFAR-10 or CIFAR-100 through `torchvision.datasets` (its download and checksum) as a uint8 Dataset; the
    validation split is `n_val` training images chosen by `seed`, the test split is the official one."""
    check_choice("dataset", name, vision.NUM_CLASSES)
    from torchvision import datasets  # imported here: the embedded (MNIST-1D) path never needs it

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    try:
        train_set, test_set = cls(root, train=True, download=download), cls(root, train=False, download=download)
    except RuntimeError as e:  # torchvision: "Dataset not found or corrupted"
        raise ConfigError(f"{name} could not be loaded from {root} ({e}); with no network, put torchvision's "
                          f"archive there by hand") from None
    x, y = vision.to_tensors(train_set)
    x_test, y_test = vision.to_tensors(test_set)
    return Dataset(name, *vision.split_train_val(x, y, n_val, seed), x_test, y_test, vision.NUM_CLASSES[name])


@functools.lru_cache(maxsize=2)
def _cifar(name: str, n_val: int = 5000, seed: int = 0) -> Dataset:
    """`cifar` from the data folder (kdlib.text.default_data_dir: $KDLIB_DATA, else the clone's data/, else
    ~/.cache/kdlib), downloaded there the first time."""
    return cifar(name, root=default_data_dir(), n_val=n_val, seed=seed)


# name -> loader; a config's `data` holds the loader's keyword arguments
DATASETS = {"mnist1d": mnist1d, "digits": digits,
            "cifar10": functools.partial(_cifar, "cifar10"), "cifar100": functools.partial(_cifar, "cifar100")}


def load(name: str, **kwargs) -> Dataset:
    """Load a dataset by name (see `DATASETS`)."""
    check_choice("dataset", name, DATASETS)
    return DATASETS[name](**kwargs)


def nested_subset(y: torch.Tensor, fraction: float, seed: int, stream: int = 0) -> torch.Tensor:
    """Indices of a class-stratified subset holding `fraction` of each class, nested across fractions.

    For each class c with n_c samples, its indices are shuffled once by (stream, seed, c) and the first
    max(1, round(fraction * n_c)) are kept. Because the shuffle does not depend on `fraction`, the subset
    at a smaller fraction is contained in the subset at a larger one (same seed and stream), and every class
    keeps its share. Students use stream 0; a teacher trained on part of the data uses stream 1, so its share
    is independent of every student's subset. Returns sorted int64 indices into y.
    """
    if not (0.0 < float(fraction) <= 1.0):
        raise ConfigError(f"fraction={fraction} is outside the allowed range (0, 1]")
    y = torch.as_tensor(y).cpu()
    chosen = []
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten()
        g = torch.Generator().manual_seed(_subset_seed(int(stream), int(seed), int(c)))
        idx = idx[torch.randperm(len(idx), generator=g)]
        chosen.append(idx[: max(1, int(round(float(fraction) * len(idx))))])
    return torch.sort(torch.cat(chosen)).values


def _subset_seed(stream: int, seed: int, c: int) -> int:
    """The shuffle's seed for one class. Stream 0 keeps the original formula; other streams hash
    (stream, seed, class) to 32 bits, since the CPU generator only uses the low 32 bits of a seed."""
    if stream == 0:
        return seed * 1_000_003 + c
    return int.from_bytes(hashlib.sha256(f"{stream}/{seed}/{c}".encode()).digest()[:4], "little")
