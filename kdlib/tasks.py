"""The two kinds of run, side by side: where a classification run (`RunConfig`) and a language-model run (`LMConfig`)
differ. Each kind says how to load its data, build a model, give a teacher its training set and its cached outputs,
give a student what it fits, and measure a trained model. `kdlib.run.run_one` and `kdlib.teachers.get_teacher`
call these in the same order for both kinds.
"""
from __future__ import annotations

import copy
import functools
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from . import signals
from .config import LMConfig, RunConfig
from .data import Dataset, extra_inputs, load, mixup_inputs, nested_subset
from .features import feature_metrics, head_of, linear_cka, nc1
from .lm import evaluate, evaluate_windows, generate, prompt_ids, windows
from .metrics import classification_metrics
from .models import AuxiliaryHeads, build_for, build_gpt
from .owndata import OWN, stored
from .text import TextData, default_data_dir, load_text
from .train import num_steps, predict

SAMPLE_CHARS = 300  # characters a language model generates after the prompt, for its record


@dataclass
class Teacher:
    model: torch.nn.Module
    logits: dict  # classification: split -> logits [N, K] on the model's device (un-augmented inputs); else {}
    metrics: dict
    sample: str | None = None  # a language model's generated text
    precision: str | None = None  # what it was trained in (kdlib.devices.resolve_precision)
    machine: str | None = None  # where it was trained (kdlib.devices.machine)
    _features: dict = field(default_factory=dict, repr=False)  # split -> penultimate features (`features`), NC1

    def random_head(self, seed: int) -> torch.nn.Module:
        """A copy of the teacher with its last layer re-initialised (seeded): features kept, class mapping
        scrambled (C3's random-head control). The new head is drawn on the CPU, so it is the same on every device."""
        model = copy.deepcopy(self.model)
        head = copy.deepcopy(model.head).cpu()
        with torch.random.fork_rng(devices=[]):  # leave the caller's RNG stream alone
            torch.manual_seed(seed)
            head.reset_parameters()
        model.head.load_state_dict(head.state_dict())
        return model.eval()

    def random_head_logits(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """Logits of `random_head(seed)` on x."""
        return predict(self.random_head(seed), x)

    def features(self, split: str, x: torch.Tensor) -> torch.Tensor | None:
        """The teacher's penultimate features [N, D] on the inputs x of `split`, computed once per process (a
        sweep's worker keeps its teachers in memory); None for a teacher without a `head` (an ensemble)."""
        if head_of(self.model) is None:
            return None
        if split not in self._features:
            self._features[split] = predict(self.model, x, precision=self.precision or "fp32", features=True)[1]
        return self._features[split]

    def nc1(self, split: str, x: torch.Tensor, y: torch.Tensor) -> float:
        """NC1 of `features(split, x)` with labels y, computed once per process like them."""
        if (split, "nc1") not in self._features:
            self._features[(split, "nc1")] = nc1(self.features(split, x), y)
        return self._features[(split, "nc1")]


@dataclass
class Fit:
    """What a student is trained on: inputs x and labels y, and what it is distilled towards: `targets` sliced like x
    (teacher logits or a control's probabilities), or `target_fn(xb, yb)` run on each batch. `steps`: a budget other
    than the step rule's; `own`: the student's own labelled subset (x, y, teacher logits or None) for its train
    metrics; `counts`: sample counts for the record."""
    x: torch.Tensor
    y: torch.Tensor
    targets: torch.Tensor | None = None
    target_fn: object = None
    steps: int | None = None
    own: tuple = ()
    counts: dict = None


def teacher_fn(model: torch.nn.Module):
    """target_fn of a student distilled from `model` on each batch: its logits as float32 (`train` runs it without
    gradients, in the run's precision)."""
    model.eval()
    return lambda xb, yb: model(xb).float()


class Classification:
    """C1-C5, fidelity, pitfall: a Dataset, classifiers, accuracy and fidelity metrics."""

    @staticmethod
    def data(cfg: RunConfig, device, results_dir=None) -> Dataset:
        return dataset_for(cfg, device, results_dir)

    @staticmethod
    def model(name: str, cfg: RunConfig, data: Dataset, student: bool = False) -> torch.nn.Module:
        model = build_for(name, data)
        if student and cfg.method == "kd" and cfg.aux_heads:  # deep supervision: an auxiliary classifier per block
            model = AuxiliaryHeads(model, data.num_classes)
        return model

    @staticmethod
    def teacher_set(cfg: RunConfig, data: Dataset):
        """All of train, or a share of it drawn independently of the students' subsets (teacher_fraction)."""
        own = teacher_subset(cfg, data.y_train.cpu()).to(data.y_train.device)
        return data.x_train[own], data.y_train[own]

    @staticmethod
    def teacher_outputs(model, cfg: RunConfig, data: Dataset) -> dict:
        """Logits on every input of every split (so a student may use inputs the teacher never saw), and metrics."""
        logits = {s: predict(model, getattr(data, f"x_{s}"), precision=cfg.teacher_train.precision)
                  for s in ("train", "val", "test")}
        own = teacher_subset(cfg, data.y_train.cpu()).to(data.y_train.device)
        return {"logits": {s: v.cpu() for s, v in logits.items()}, "metrics": teacher_metrics(logits, data, own)}

    @staticmethod
    def fit(cfg: RunConfig, data: Dataset, teacher: Teacher | None) -> Fit:
        idx = nested_subset(data.y_train.cpu(), cfg.fraction, cfg.seed).to(data.y_train.device)
        x, y = data.x_train[idx], data.y_train[idx]
        ref = teacher.logits["train"][idx] if teacher is not None else None
        fit = Fit(x, y, own=(x, y, ref), counts={"n_train": len(idx), "n_distill": len(idx)})
        if cfg.method != "kd":
            return fit
        fit.target_fn = online_targets(cfg, teacher)
        if fit.target_fn is None:
            fit.targets = distill_targets(cfg, teacher, data, idx)
        if cfg.distill_data != "subset":  # more inputs, labelled only by the teacher; the subset's own budget
            added = added_inputs(cfg, data, x)
            fit.x = torch.cat([x, added])
            fit.y = torch.cat([y, torch.full((len(added),), -1, dtype=y.dtype, device=y.device)])  # never read
            fit.targets = torch.cat([fit.targets, predict(teacher.model, added)])
            fit.steps = num_steps(len(idx), cfg.train)
            fit.counts["n_distill"] = len(fit.x)
        return fit

    @staticmethod
    def evaluate(cfg: RunConfig, model, data: Dataset, teacher: Teacher | None, fit: Fit) -> dict:
        ref = teacher.logits if teacher is not None else {}
        splits = {"train": fit.own,  # the student's own subset
                  "val": (data.x_val, data.y_val, ref.get("val")),
                  "test": (data.x_test, data.y_test, ref.get("test"))}
        metrics, seconds, h_test = {}, 0.0, None
        measure = head_of(model) is not None  # a kdlib classifier: its penultimate features are defined (C7)
        for split, (xs, ys, ts) in splits.items():
            if measure and split != "val":  # logits and features from one forward pass
                logits, h = predict(model, xs, precision=cfg.train.precision, features=True)
                h_test = h if split == "test" else h_test
                start = time.perf_counter()
                metrics.update(feature_metrics(h, ys, prefix=f"{split}_"))
                seconds += time.perf_counter() - start
            else:
                logits = predict(model, xs, precision=cfg.train.precision)
            metrics.update(classification_metrics(logits, ys, ts, prefix=f"{split}_"))
        if teacher is not None:
            metrics["teacher_test_acc"] = teacher.metrics["test_acc"]
            metrics["teacher_n_train"] = teacher.metrics["n_train"]
            start = time.perf_counter()
            ht = teacher.features("test", data.x_test) if measure else None
            if ht is not None:  # C7: the student's alignment with its teacher, and the teacher's own collapse
                metrics["test_cka"] = linear_cka(h_test, ht)
                metrics["teacher_test_nc1"] = teacher.nc1("test", data.x_test, data.y_test)
            seconds += time.perf_counter() - start
        return {"metrics": metrics, "features_time_s": seconds}


class Language:
    """C6: character-level GPTs on Shakespeare, next-character metrics (perplexity, bits per character)."""

    @staticmethod
    def data(cfg: LMConfig, device, results_dir=None) -> TextData:
        return text_for(cfg, device)

    @staticmethod
    def model(name: str, cfg: LMConfig, data: TextData, student: bool = False) -> torch.nn.Module:
        return build_gpt(name, len(data.vocab), cfg.block_size)

    @staticmethod
    def teacher_set(cfg: LMConfig, data: TextData):
        return windows(data.train, cfg.block_size)  # every window of the training text

    @staticmethod
    def teacher_outputs(model, cfg: LMConfig, data: TextData) -> dict:
        x, y = windows(data.train, cfg.block_size)
        metrics = {"n_tokens": int(y.numel()), **_lm_metrics(model, data, cfg.block_size)}
        return {"metrics": metrics, "sample": _sample(model, data, cfg.block_size)}

    @staticmethod
    def fit(cfg: LMConfig, data: TextData, teacher: Teacher | None) -> Fit:
        x, y = windows(data.train, cfg.block_size, cfg.fraction, cfg.seed)
        # the teacher's next-character distributions are not cached (block_size x vocabulary floats per window would
        # not fit for the full text): it runs on each batch instead
        target_fn = teacher_fn(teacher.model) if cfg.method == "kd" else None
        return Fit(x, y, target_fn=target_fn, own=(x[:256], y[:256]),  # up to 256 windows: how well it fits them
                   counts={"n_train": len(x), "n_tokens": int(y.numel())})

    @staticmethod
    def evaluate(cfg: LMConfig, model, data: TextData, teacher: Teacher | None, fit: Fit) -> dict:
        metrics = _lm_metrics(model, data, cfg.block_size, teacher.model if teacher else None, fit.own)
        if teacher is not None:
            metrics.update(teacher_test_ppl=teacher.metrics["test_ppl"], teacher_test_bpc=teacher.metrics["test_bpc"])
        return {"metrics": metrics, "sample": _sample(model, data, cfg.block_size)}


def task_for(cfg):
    """The kind of run `cfg` is: Classification or Language."""
    return Language if isinstance(cfg, LMConfig) else Classification


# ---- classification pieces

@functools.lru_cache(maxsize=4)
def _data_on(dataset: str, data_items: tuple, device: str) -> Dataset:
    return load(dataset, **dict(data_items)).to(device)


def dataset_for(cfg: RunConfig, device="cpu", results_dir=None) -> Dataset:
    """The run's Dataset on `device` (loaded once per process). The reader's own data (dataset "own") is found by its
    fingerprint under `results_dir` (kdlib.owndata.stored)."""
    if cfg.dataset == OWN:
        return _own_on(cfg.data["fingerprint"], str(results_dir or "results"), str(device))
    return _data_on(cfg.dataset, tuple(sorted(cfg.data.items())), str(device))


@functools.lru_cache(maxsize=4)
def _own_on(fp: str, results_dir: str, device: str) -> Dataset:
    return stored(fp, results_dir).to(device)


def teacher_subset(cfg: RunConfig, y: torch.Tensor) -> torch.Tensor:
    """Indices of the training inputs the teacher of `cfg` learns from (all of them when teacher_fraction = 1)."""
    return nested_subset(y, cfg.teacher_fraction, cfg.own_teacher().teacher_seed, stream=1)


def teacher_metrics(logits: dict, data: Dataset, own: torch.Tensor) -> dict:
    """A teacher's metrics: n_train, train_ on its own training inputs, val_ and test_."""
    metrics = {"n_train": len(own)}
    metrics.update(classification_metrics(logits["train"][own], data.y_train[own], prefix="train_"))
    for s in ("val", "test"):
        metrics.update(classification_metrics(logits[s], getattr(data, f"y_{s}"), prefix=f"{s}_"))
    return metrics


def distill_targets(cfg: RunConfig, teacher: Teacher, data: Dataset, idx: torch.Tensor) -> torch.Tensor:
    """What a KD student on the subset `idx` is trained towards: the teacher's logits [M, K] for signal
    "teacher", else the control's target probabilities [M, K] (computed once per run, seeded by the run)."""
    if cfg.signal == "teacher":
        return teacher.logits["train"][idx]
    y = data.y_train[idx]
    if cfg.signal == "smoothed_onehot":
        return signals.smoothed_onehot(y, data.num_classes, cfg.eps, cfg.tau)
    if cfg.signal == "random_head":
        return F.softmax(teacher.random_head_logits(data.x_train[idx], cfg.seed) / cfg.tau, dim=1)
    p = F.softmax(teacher.logits["train"][idx] / cfg.tau, dim=1)
    g = torch.Generator().manual_seed(cfg.seed)
    return signals.TRANSFORMS[cfg.signal](p.cpu(), y.cpu(), g).to(p.device)


def online_targets(cfg: RunConfig, teacher: Teacher):
    """For a KD student whose inputs are augmented: target_fn(xb, yb) giving its signal on each augmented batch (the
    teacher's forward pass). None where the targets are fixed per input (no augmentation) or do not depend on the
    input: "smoothed_onehot", and "conditional" (a class average of the teacher's probabilities on the un-augmented
    subset)."""
    if cfg.method != "kd" or not cfg.train.augment or cfg.signal in ("smoothed_onehot", "conditional"):
        return None
    if cfg.signal == "teacher":
        return teacher_fn(teacher.model)
    model = teacher.random_head(cfg.seed) if cfg.signal == "random_head" else teacher.model.eval()
    if cfg.signal == "random_head":
        return lambda xb, yb: F.softmax(model(xb).float() / cfg.tau, dim=1)
    g = torch.Generator().manual_seed(cfg.seed)  # draws on the CPU, so a run is the same on every device
    transform = signals.TRANSFORMS[cfg.signal]  # on the batch's device: no copy back to the host
    return lambda xb, yb: transform(F.softmax(model(xb).float() / cfg.tau, dim=1), yb, g)


def added_inputs(cfg: RunConfig, data: Dataset, x: torch.Tensor) -> torch.Tensor:
    """The inputs `distill_data` adds to a KD student's subset x: as many as the training pool holds."""
    n = len(data.y_train)
    if cfg.distill_data == "mixup":
        return mixup_inputs(x, n, cfg.seed)
    return extra_inputs(n, **cfg.data).to(x.device)


# ---- language-model pieces

@functools.lru_cache(maxsize=2)
def _text_on(data_dir: str, data_items: tuple, device: str) -> TextData:
    t = load_text(data_dir, **dict(data_items))
    return TextData(t.train.to(device), t.val.to(device), t.test.to(device), t.vocab, t.plays)


def text_for(cfg: LMConfig, device="cpu") -> TextData:
    """The run's text on `device`, from the data folder (`kdlib.text.default_data_dir`)."""
    return _text_on(str(default_data_dir().resolve()), tuple(sorted(cfg.data.items())), str(device))


def _lm_metrics(model, data: TextData, block_size: int, teacher=None, fit=None) -> dict:
    """val_ and test_ metrics (with the teacher's agreement and KL if given); train_ on `fit` = (x, y) windows."""
    metrics = {}
    for split, ids in (("val", data.val), ("test", data.test)):
        metrics.update({f"{split}_{k}": v for k, v in evaluate(model, ids, block_size, teacher).items()})
    if fit is not None:
        metrics.update({f"train_{k}": v for k, v in evaluate_windows(model, *fit).items()})
    return metrics


def _sample(model, data: TextData, block_size: int) -> str:
    prompt = prompt_ids(data, block_size)
    return data.vocab.decode(generate(model, prompt, SAMPLE_CHARS, seed=0).tolist())
