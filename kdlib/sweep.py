"""Runs and sweeps: each run keyed by the hash of its config; rerunning computes only what is missing.

`run_one(cfg)` trains one student and returns its record; `sweep(configs)` runs the missing ones, stores each
as soon as it finishes (a killed sweep resumes where it stopped) and returns the tidy table of all of them.
"""
from __future__ import annotations

import functools
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import __version__, signals
from .config import METHODS, LMConfig, RunConfig
from .data import extra_inputs, load, mixup_inputs, nested_subset
from .losses import deep_supervision_loss, kd_loss, kl_to_targets, label_smoothing_ce
from .lm import run_lm
from .metrics import classification_metrics
from .convnets import build_for
from .models import with_aux_heads
from .store import Store
from .teachers import get_teacher, random_head_logits, random_head_model
from .train import Diverged, device_name, num_steps, predict, resolve_device, train


def make_loss(cfg: RunConfig):
    """loss_fn(student_logits, y, targets) for the run's method, chosen once, outside the loop.

    For KD, `targets` are the teacher's logits (signal "teacher") or a control's target probabilities.
    """
    if cfg.method == "labels":
        return lambda s, y, t: F.cross_entropy(s, y)
    if cfg.method == "kd" and cfg.aux_heads:  # deep supervision: the model returns (logits, [aux logits])
        return functools.partial(deep_supervision_loss, lam=cfg.lam, tau=cfg.tau, objective=cfg.objective)
    if cfg.method == "kd" and cfg.signal == "teacher":
        return functools.partial(_kd, lam=cfg.lam, tau=cfg.tau, objective=cfg.objective)
    if cfg.method == "kd":
        return functools.partial(_kd_to_probs, lam=cfg.lam, tau=cfg.tau)
    if cfg.method == "ls":
        return lambda s, y, t: label_smoothing_ce(s, y, cfg.eps)
    raise AssertionError(cfg.method)  # validate() has already rejected unknown methods


def _kd(s, y, t, lam, tau, objective):
    return kd_loss(s, y, t, lam=lam, tau=tau, objective=objective)


def _kd_to_probs(s, y, q, lam, tau):
    """L_lambda with the tempered teacher distribution replaced by target probabilities q."""
    loss = lam * tau**2 * kl_to_targets(s, q, tau)
    return loss + (1 - lam) * F.cross_entropy(s, y) if lam < 1 else loss


def distill_targets(cfg: RunConfig, teacher, data, idx: torch.Tensor) -> torch.Tensor:
    """What a KD student on the subset `idx` is trained towards: the teacher's logits [M, K] for signal
    "teacher", else the control's target probabilities [M, K] (computed once per run, seeded by the run)."""
    if cfg.signal == "teacher":
        return teacher.logits["train"][idx]
    y = data.y_train[idx]
    if cfg.signal == "smoothed_onehot":
        return signals.smoothed_onehot(y, data.num_classes, cfg.eps, cfg.tau)
    if cfg.signal == "random_head":
        return F.softmax(random_head_logits(teacher, data.x_train[idx], cfg.seed) / cfg.tau, dim=1)
    p = F.softmax(teacher.logits["train"][idx] / cfg.tau, dim=1)
    g = torch.Generator().manual_seed(cfg.seed)
    return signals.TRANSFORMS[cfg.signal](p.cpu(), y.cpu(), g).to(p.device)


def online_targets(cfg: RunConfig, teacher):
    """For a KD student whose inputs are augmented: target_fn(xb, yb) giving its signal on each augmented batch (the
    teacher's forward pass; `train` runs it without gradients, in the run's precision). None where the targets are
    fixed per input (no augmentation) or do not depend on the input: "smoothed_onehot", and "conditional" (a class
    average of the teacher's probabilities on the un-augmented subset)."""
    if cfg.method != "kd" or not cfg.train.augment or cfg.signal in ("smoothed_onehot", "conditional"):
        return None
    model = random_head_model(teacher, cfg.seed) if cfg.signal == "random_head" else teacher.model.eval()
    if cfg.signal == "teacher":
        return lambda xb, yb: model(xb).float()
    if cfg.signal == "random_head":
        return lambda xb, yb: F.softmax(model(xb).float() / cfg.tau, dim=1)
    g = torch.Generator().manual_seed(cfg.seed)
    transform = signals.TRANSFORMS[cfg.signal]  # drawn on the CPU, so a run is the same on every device
    return lambda xb, yb: transform(F.softmax(model(xb).float() / cfg.tau, dim=1).cpu(), yb.cpu(), g).to(xb.device)


@functools.lru_cache(maxsize=4)
def _data_on(dataset: str, data_items: tuple, device: str):
    return load(dataset, **dict(data_items)).to(device)


def dataset_for(cfg: RunConfig, device="cpu"):
    return _data_on(cfg.dataset, tuple(sorted(cfg.data.items())), str(device))


def run_one(cfg: RunConfig, device="auto", results_dir="results") -> dict:
    """Train one student as `cfg` says and return its record (config, metrics, wall time, device, version)."""
    cfg = cfg.validate().canonical()
    dev = resolve_device(device)
    data = dataset_for(cfg, dev)
    teacher = get_teacher(cfg, data, dev, results_dir) if cfg.teacher is not None else None
    idx = nested_subset(data.y_train.cpu(), cfg.fraction, cfg.seed).to(dev)
    x, y = data.x_train[idx], data.y_train[idx]
    target_fn = online_targets(cfg, teacher) if METHODS[cfg.method] else None
    targets = distill_targets(cfg, teacher, data, idx) if METHODS[cfg.method] and target_fn is None else None

    fit_x, fit_y, fit_targets, steps = x, y, targets, None
    if cfg.method == "kd" and cfg.distill_data != "subset":
        added = added_inputs(cfg, data, x)
        fit_x = torch.cat([x, added])
        fit_y = torch.cat([y, torch.full((len(added),), -1, dtype=y.dtype, device=dev)])  # unlabelled: never read
        fit_targets = torch.cat([targets, predict(teacher.model, added)])
        steps = num_steps(len(idx), cfg.train)  # the subset's own budget: only the inputs change

    torch.manual_seed(cfg.seed)
    model = build_for(cfg.student, data)
    if cfg.method == "kd" and cfg.aux_heads:
        model = with_aux_heads(model, data.num_classes)
    model = model.to(dev)
    record = {"key": cfg.key(), "config": cfg.as_dict(), "status": "ok", "n_train": len(idx), "n_distill": len(fit_x),
              "device": str(dev), "device_name": device_name(dev), "kdlib_version": __version__,
              "torch_version": torch.__version__}
    start = time.perf_counter()
    try:
        info = train(model, fit_x, fit_y, make_loss(cfg), cfg.train, seed=cfg.seed, targets=fit_targets,
                     target_fn=target_fn, steps=steps)
    except Diverged as e:
        record.update(status="diverged", diverged_step=e.step, metrics={}, steps=None)
    else:
        record["steps"] = info["steps"]
        ref = teacher.logits if teacher is not None else {}
        splits = {"train": (x, y, ref["train"][idx] if ref else None),  # the student's own subset
                  "val": (data.x_val, data.y_val, ref.get("val")),
                  "test": (data.x_test, data.y_test, ref.get("test"))}
        metrics = {}
        for split, (xs, ys, ts) in splits.items():
            logits = predict(model, xs, precision=cfg.train.precision)
            metrics.update(classification_metrics(logits, ys, ts, prefix=f"{split}_"))
        if teacher is not None:
            metrics["teacher_test_acc"] = teacher.metrics["test_acc"]
            metrics["teacher_n_train"] = teacher.metrics["n_train"]
        record["metrics"] = metrics
    record["wall_time_s"] = time.perf_counter() - start
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


def added_inputs(cfg: RunConfig, data, x: torch.Tensor) -> torch.Tensor:
    """The inputs `distill_data` adds to a KD student's subset x: as many as the training pool holds."""
    n = len(data.y_train)
    if cfg.distill_data == "mixup":
        return mixup_inputs(x, n, cfg.seed)
    return extra_inputs(n, **cfg.data).to(x.device)


def compute(cfg: RunConfig | LMConfig, results_dir="results", device="auto") -> str:
    """Run `cfg` and store it, unless it is stored already ('cached') or another live worker has claimed it
    ('busy'); 'done' once this call stored it. Safe to call from many processes and hosts on one store; this is
    the function an executor runs."""
    store = Store(results_dir)
    key = cfg.key()
    if store.get(key) is not None:
        return "cached"
    held = store.claim(key)
    if held is None:
        return "busy"
    with held:
        if store.get(key) is None:  # it may have been finished between the check above and the claim
            run = run_lm if isinstance(cfg, LMConfig) else run_one
            store.put(run(cfg, device, results_dir))
    return "done"


def sweep(configs, results_dir="results", device="auto", progress: bool = True, desc: str = "runs",
          executor=None, poll: float = 2.0) -> pd.DataFrame:
    """Run every config not yet in the store, storing each as it finishes; return the table of all of them.

    `executor`: None runs here, one run after another. Anything with `submit(fn, *args)` returning a future with
    `.result()` spreads the runs: a `concurrent.futures` pool (`kdlib.executors.process_pool`, one worker per
    GPU), or a submitit executor for SLURM (`kdlib.executors.slurm`; submitted as one array job). Workers
    coordinate through the store's claims, so overlapping sweeps from several machines compute each run once;
    a run another worker holds is waited for (checked every `poll` seconds).
    """
    configs = [c.validate().canonical() for c in configs]
    resolve_device(device)  # a bad device fails here, before any training
    store = Store(results_dir)
    unique = list({c.key(): c for c in configs}.values())
    todo = [c for c in unique if store.get(c.key()) is None]
    bar = tqdm(total=len(todo), desc=f"{desc} ({len(unique) - len(todo)} cached)", disable=not progress)
    while todo:
        if executor is None:
            outcomes = []
            for cfg in todo:
                outcomes.append(compute(cfg, results_dir, device))
                bar.update(outcomes[-1] != "busy")
        else:
            futures = _submit_all(executor, [(cfg, str(Path(results_dir).resolve()), device) for cfg in todo])
            outcomes = [f.result() for f in futures]
            bar.update(sum(o != "busy" for o in outcomes))
        todo = [cfg for cfg, outcome in zip(todo, outcomes) if outcome == "busy"]
        if todo:  # held by other workers: wait for them (or for their claims to go stale)
            time.sleep(poll)
    bar.close()
    store.clear_stale_claims(c.key() for c in unique)  # a worker killed between storing and releasing
    records = [store.get(c.key()) for c in unique]
    if store.rejected:
        warnings.warn(f"{len(store.rejected)} stored record(s) in {store.root} were not used and were recomputed "
                      f"(first: {store.rejected[0][0]}: {store.rejected[0][1]})")
    return table(records)


def _submit_all(executor, arguments):
    if hasattr(executor, "batch"):  # submitit: one array job rather than one job per run
        with executor.batch():
            jobs = [executor.submit(compute, *args) for args in arguments]
        return jobs
    return [executor.submit(compute, *args) for args in arguments]


def table(records) -> pd.DataFrame:
    """Records -> one row per run: the config's scalar fields, the student's lr, metrics and bookkeeping."""
    rows = []
    for r in records:
        c = r["config"]
        row = {k: v for k, v in c.items() if not isinstance(v, dict)}
        row["lr"] = c["train"]["lr"]
        # one name per kind of student: labels, ls, kd, or the KD control's signal
        row["variant"] = c["signal"] if c["method"] == "kd" and c.get("signal", "teacher") != "teacher" else c["method"]
        row.update(r.get("metrics", {}))
        row.update({k: r.get(k) for k in ("key", "status", "diverged_step", "n_train", "steps", "wall_time_s",
                                          "device", "kdlib_version")})
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_rows(spec, results_dir="results", device="auto", progress: bool = True, desc: str = "runs") -> pd.DataFrame:
    """`sweep` for a list of (row name, config) pairs: the table gets a `row` column naming each run's setting.
    A run under two names (say the labels run that is also lambda = 0) appears once under each; each run is
    computed once."""
    spec = [(name, cfg.validate().canonical()) for name, cfg in spec]
    df = sweep([cfg for _, cfg in spec], results_dir, device, progress, desc)
    rows = pd.DataFrame([(name, cfg.key()) for name, cfg in spec], columns=["row", "key"]).drop_duplicates()
    return rows.merge(df, on="key", how="left")
