"""One run, top to bottom: data → teacher → targets → model → train → metrics → record.

The same steps for both kinds of run, a classifier (`RunConfig`) and a character-level language model (`LMConfig`);
`kdlib.tasks` says how each kind does a step. A run that diverges (a non-finite loss) is recorded as diverged, with
the step, and no metrics.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

import torch

from . import __version__
from .devices import machine, resolve_precision
from .losses import make_loss
from .tasks import task_for
from .teachers import get_teacher
from .train import Diverged, device_name, fixed_threads, resolve_device, train


def run_one(cfg, device="auto", results_dir="results") -> dict:
    """Train one student as `cfg` says and return its record: config, metrics (and a language model's generated
    sample), steps, wall time, device and versions. Its teacher comes from the cache under `results_dir`. The run uses
    `kdlib.train.run_threads()` CPU threads, whoever calls it."""
    with fixed_threads():
        return _run(cfg.validate().canonical(), resolve_device(device), results_dir)


def _run(cfg, dev, results_dir) -> dict:
    task = task_for(cfg)
    clock = Clock()
    data = clock("data", task.data, cfg, dev, results_dir)
    teacher = clock("teacher", get_teacher, cfg, data, dev, results_dir) if cfg.teacher is not None else None
    fit = clock("data", task.fit, cfg, data, teacher)  # the student's inputs and labels, and the teacher's targets
    torch.manual_seed(cfg.seed)
    model = task.model(cfg.student, cfg, data, student=True).to(dev)
    record = {"key": cfg.key(), "config": cfg.as_dict(), "status": "ok", **fit.counts, "device": str(dev),
              "device_name": device_name(dev), "threads": torch.get_num_threads(), "machine": machine(dev),
              "precision": resolve_precision(cfg.train.precision, dev), "kdlib_version": __version__,
              "torch_version": torch.__version__}
    if teacher is not None:
        record["teacher_precision"] = teacher.precision  # where it was trained (a cached teacher: by whom)
        record["teacher_machine"] = teacher.machine
    try:
        info = clock("train", train, model, fit.x, fit.y, make_loss(cfg), cfg.train, seed=cfg.seed,
                     targets=fit.targets, target_fn=fit.target_fn, steps=fit.steps)
    except Diverged as e:
        record.update(status="diverged", diverged_step=e.step, metrics={}, steps=None)
    else:
        record["steps"] = info["steps"]
        record.update(clock("eval", task.evaluate, cfg, model, data, teacher, fit))
    record["wall_time_s"] = clock.seconds["train"] + clock.seconds["eval"]  # the student's own training and metrics
    record["time_s"] = clock.seconds  # where this call's time went (teacher: loaded, waited for or trained)
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


class Clock:
    """Seconds per named part of a run: `clock(part, fn, *args)` calls fn and adds its wall time to `part`."""

    def __init__(self):
        self.seconds = {"data": 0.0, "teacher": 0.0, "train": 0.0, "eval": 0.0}

    def __call__(self, part: str, fn, *args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds[part] += time.perf_counter() - start
