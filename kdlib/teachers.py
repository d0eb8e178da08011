"""Teachers: trained once on the training set (or a nested share of it), cached on disk with their logits.

One file per teacher, `<results_dir>/teachers/<teacher_key>.pt`, holding the weights, the teacher's logits on
the un-augmented train / val / test inputs (reused by every student that does not augment its inputs; a student
that does runs the teacher on each augmented batch instead, see kdlib.sweep) and its metrics. It is written atomically and loaded with `weights_only=True`. A file that cannot be read or
whose stored key differs is reported and the teacher is retrained.
"""
from __future__ import annotations

import copy
import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from . import __version__
from .config import RunConfig
from .data import Dataset, nested_subset
from .losses import kd_loss
from .metrics import classification_metrics
from .convnets import build_for
from .store import claim
from .train import predict, train


@dataclass
class Teacher:
    model: torch.nn.Module
    logits: dict  # split -> logits tensor [N, K] on the model's device
    metrics: dict


_MEMORY: dict = {}  # (teacher file, device) -> Teacher, so a sweep reads each file once
POLL = 2.0  # seconds between looks for a teacher another worker is training


def _labels_only(logits, y, _targets):
    return kd_loss(logits, y, None, lam=0.0)


class Ensemble(torch.nn.Module):
    """Members' probabilities averaged; returns log of the mean probability, [B, K] (a valid logit vector)."""

    def __init__(self, members):
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _log_mean_softmax([m(x) for m in self.members])


def _log_mean_softmax(logits: list) -> torch.Tensor:
    log_p = torch.stack([torch.log_softmax(z, dim=-1) for z in logits])
    return torch.logsumexp(log_p, dim=0) - math.log(len(logits))


def get_teacher(cfg: RunConfig, data: Dataset, device, results_dir) -> Teacher:
    """The teacher of `cfg`: read from the cache, or trained now and cached. An ensemble (teacher_members > 1)
    is built from its members, each cached as a single teacher of its own seed."""
    if cfg.teacher_members > 1:
        members = [get_teacher(replace(cfg, teacher_seed=cfg.teacher_seed + i, teacher_members=1), data, device,
                               results_dir) for i in range(cfg.teacher_members)]
        logits = {s: _log_mean_softmax([m.logits[s] for m in members]) for s in ("train", "val", "test")}
        own = teacher_subset(cfg, data.y_train.cpu()).to(data.y_train.device)
        metrics = {"n_train": len(own)}
        metrics.update(classification_metrics(logits["train"][own], data.y_train[own], prefix="train_"))
        for s in ("val", "test"):
            metrics.update(classification_metrics(logits[s], getattr(data, f"y_{s}"), prefix=f"{s}_"))
        return Teacher(Ensemble([m.model for m in members]), logits, metrics)

    def load(blob: dict) -> Teacher:
        torch.manual_seed(cfg.teacher_seed)  # as before the cache: the same global RNG state after loading
        model = build_for(cfg.teacher, data).to(device)
        model.load_state_dict(blob["state_dict"])
        model.eval()
        return Teacher(model, {s: v.to(device) for s, v in blob["logits"].items()}, blob["metrics"])

    return cached(results_dir, cfg.teacher_key(), device, lambda: _train_teacher(cfg, data, device), load)


def cached(results_dir, key: str, device, make, load):
    """`load(blob)` of the teacher file `<results_dir>/teachers/<key>.pt`, made by `make()` first if missing (see
    `load_or_make`); kept in memory per (file, device), so a sweep reads each file once."""
    path = Path(results_dir).resolve() / "teachers" / f"{key}.pt"
    if (path, str(device)) not in _MEMORY or not path.exists():
        _MEMORY[(path, str(device))] = load(load_or_make(path, key, make))
    return _MEMORY[(path, str(device))]


def load_or_make(path: Path, key: str, make) -> dict:
    """The blob cached at `path` for `key`, or `make()`'s blob, cached there first. Among many workers exactly one
    calls `make` (it holds the file's claim); the others wait for its file. A corrupt, foreign or outdated file is
    reported and made again."""
    blob, held = _load(path, key), None
    while blob is None:
        held = claim(path.with_suffix(".lock"))
        if held is not None:
            blob = _load(path, key, report=False)  # finished by another worker meanwhile?
            break
        time.sleep(POLL)
        blob = _load(path, key, report=False)
    try:
        if blob is None:
            blob = {**make(), "key": key, "version": __version__}
            _save(blob, path)
    finally:
        if held is not None:
            held.release()
    return blob


def _train_teacher(cfg: RunConfig, data: Dataset, device) -> dict:
    torch.manual_seed(cfg.teacher_seed)
    model = build_for(cfg.teacher, data).to(device)
    # its own training set: all of train, or a share of it drawn independently of the students' subsets
    own = teacher_subset(cfg, data.y_train.cpu()).to(data.y_train.device)
    train(model, data.x_train[own], data.y_train[own], _labels_only, cfg.teacher_train, seed=cfg.teacher_seed,
          progress=True)
    # logits on every training input, so a student may use inputs the teacher never saw
    logits = {s: predict(model, getattr(data, f"x_{s}"), precision=cfg.teacher_train.precision)
              for s in ("train", "val", "test")}
    metrics = {"n_train": len(own)}
    metrics.update(classification_metrics(logits["train"][own], data.y_train[own], prefix="train_"))
    for s in ("val", "test"):
        metrics.update(classification_metrics(logits[s], getattr(data, f"y_{s}"), prefix=f"{s}_"))
    return {"state_dict": model.state_dict(), "logits": {s: v.cpu() for s, v in logits.items()}, "metrics": metrics}


def teacher_subset(cfg: RunConfig, y: torch.Tensor) -> torch.Tensor:
    """Indices of the training inputs the teacher of `cfg` learns from (all of them when teacher_fraction = 1)."""
    return nested_subset(y, cfg.teacher_fraction, cfg.teacher_seed, stream=1)


def _load(path: Path, key: str, report: bool = True) -> dict | None:
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("key") != key:
            raise ValueError(f"stored key {blob.get('key')!r} differs from {key!r}")
        if blob.get("version") != __version__:
            raise ValueError(f"made by kdlib {blob.get('version')}, this is {__version__}")
        return blob
    except Exception as e:  # a corrupt, foreign or outdated file is never used
        if report:
            warnings.warn(f"cached teacher {path} is unusable ({e}); retraining it")
        return None


def _save(blob: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")  # never matches *.pt
    os.close(fd)
    try:
        torch.save(blob, tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def random_head_model(teacher: Teacher, seed: int) -> torch.nn.Module:
    """A copy of the teacher with its last layer re-initialised (seeded): features kept, class mapping scrambled."""
    model = copy.deepcopy(teacher.model)
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG stream alone
        torch.manual_seed(seed)
        model.head.reset_parameters()
    return model.eval()


def random_head_logits(teacher: Teacher, x: torch.Tensor, seed: int) -> torch.Tensor:
    """Logits of `random_head_model` on x."""
    return predict(random_head_model(teacher, seed), x)
