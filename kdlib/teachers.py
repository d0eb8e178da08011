"""Teachers: trained once per (data, architecture, training, seed), cached on disk, for both kinds of run.

One file per teacher, `<results_dir>/teachers/<teacher_key>.pt`, holding the weights and what the run's kind
(`kdlib.tasks`) keeps of it: a classifier's logits on the un-augmented train / val / test inputs (reused by every
student that does not augment its inputs; one that does runs the teacher on each augmented batch) and its metrics; a
language model's metrics and a generated sample. It is written atomically and loaded with `weights_only=True`. A file
that cannot be read or whose stored key differs is reported and the teacher is retrained. A teacher named
"<architecture>@sha256:<digest>" (the reader's own, on own data) is not trained: its weights come from that checkpoint
(kdlib.owndata.load_checkpoint), and it is cached like the others.
"""
from __future__ import annotations

import functools
import math
import os
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from . import __version__, same_runs
from .config import member_seed
from .devices import machine
from .losses import labels_loss
from .models import split_checkpoint
from .owndata import load_checkpoint
from .store import claim
from .tasks import Teacher, task_for, teacher_metrics, teacher_subset
from .train import fixed_threads, train

_MEMORY: dict = {}  # (teacher file, device) -> Teacher, so a sweep reads each file once
POLL = 2.0  # seconds between looks for a teacher another worker is training


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


def get_teacher(cfg, data, device, results_dir) -> Teacher:
    """The teacher of `cfg` (a RunConfig or an LMConfig): read from the cache, or trained now on labels and cached.
    An ensemble (teacher_members > 1) is built from its members, each cached as a single teacher of its own seed."""
    with fixed_threads():  # the same threads as a run's, so a teacher trained in a notebook is a worker's
        return _teacher(cfg, data, device, results_dir)


def _teacher(cfg, data, device, results_dir) -> Teacher:
    cfg = cfg.own_teacher()  # teacher_seed None: the run's own seed
    task = task_for(cfg)
    if cfg.teacher_members > 1:
        return _ensemble(cfg, data, device, results_dir)

    def make() -> dict:
        start = time.perf_counter()
        torch.manual_seed(cfg.teacher_seed)
        model = task.model(cfg.teacher, cfg, data).to(device)
        x, y = task.teacher_set(cfg, data)
        info = train(model, x, y, labels_loss, cfg.teacher_train, seed=cfg.teacher_seed, progress=True)
        outputs = task.teacher_outputs(model, cfg, data)
        return {"state_dict": model.state_dict(), **outputs, "train_s": time.perf_counter() - start,
                "precision": info["precision"], "machine": machine(device)}

    def load(blob: dict) -> Teacher:
        torch.manual_seed(cfg.teacher_seed)  # as before the cache: the same global RNG state after loading
        model = task.model(cfg.teacher, cfg, data).to(device)
        model.load_state_dict(blob["state_dict"])
        model.eval()
        logits = {s: v.to(device) for s, v in blob.get("logits", {}).items()}
        return Teacher(model, logits, blob["metrics"], blob.get("sample"), blob.get("precision"),
                       blob.get("machine"))

    if split_checkpoint(cfg.teacher)[1] is not None:  # the reader's own teacher, trained elsewhere: loaded, not trained
        make = functools.partial(_from_checkpoint, task, cfg, data, device, results_dir)
    return cached(results_dir, cfg.teacher_key(), device, make, load)


def _from_checkpoint(task, cfg, data, device, results_dir) -> dict:
    """The cache blob of a teacher "<architecture>@sha256:<digest>": the checkpoint's weights (not trained here), its
    outputs and metrics on the reader's data."""
    start = time.perf_counter()
    torch.manual_seed(cfg.teacher_seed)
    model = task.model(cfg.teacher, cfg, data).to(device)
    model.load_state_dict(load_checkpoint(split_checkpoint(cfg.teacher)[1], results_dir))
    outputs = task.teacher_outputs(model, cfg, data)
    return {"state_dict": model.state_dict(), **outputs, "train_s": time.perf_counter() - start}


def _ensemble(cfg, data, device, results_dir) -> Teacher:
    members = [get_teacher(replace(cfg, teacher_seed=member_seed(cfg.teacher_seed, i), teacher_members=1), data,
                           device, results_dir) for i in range(cfg.teacher_members)]
    logits = {s: _log_mean_softmax([m.logits[s] for m in members]) for s in ("train", "val", "test")}
    own = teacher_subset(cfg, data.y_train.cpu()).to(data.y_train.device)
    return Teacher(Ensemble([m.model for m in members]), logits, teacher_metrics(logits, data, own),
                   precision=members[0].precision, machine=members[0].machine)


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


def _load(path: Path, key: str, report: bool = True) -> dict | None:
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("key") != key:
            raise ValueError(f"stored key {blob.get('key')!r} differs from {key!r}")
        if not same_runs(blob.get("version")):
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
