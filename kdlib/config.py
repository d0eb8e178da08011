"""Run configs and profiles.

A `RunConfig` is everything that decides a run's result; its hash is the run's key in the store. Where it
runs (device, results folder) is not part of it. A profile gives the defaults:

- smoke: seconds, for the tests (tiny data, tiny models, a few dozen steps);
- cpu:   the embedded default, MNIST-1D 4,000 / 1,000 / 1,000, minutes on two cores;
- gpu:   CIFAR-10 by default (`dataset="cifar10"`), with a training recipe: `fast` (the default; airbench-style
         ConvNet, bf16, batch 512, 10 epochs) or `paper` (the authors' ResNet-18, SGD 0.1, 200 epochs); MNIST-1D
         and digits there get the cpu setting with 5 seeds and a larger step budget.

A recipe (RECIPES) fixes the models and training of the image datasets (CIFAR-10/100); it is chosen with
`recipe=` and applies to them only. Each profile also has an "lm" entry: the defaults of the language-model runs
of C6 (`LMConfig`).

Explicit values override the profile: `make_config("cpu", method="kd", fraction=0.05, tau=2)`;
`profile_defaults(profile, dataset, recipe)` gives the resolved defaults (grid, models, training, learning-rate
grid, scale ladder).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from .errors import ConfigError, check_choice, check_range
from .losses import OBJECTIVES
from .convnets import CIFAR_MODELS
from .models import GPT_SIZES, MODELS
from .store import config_hash
from .train import TrainConfig

# method -> does it need a teacher
METHODS = {"labels": False, "kd": True, "ls": False}
# what a KD student is distilled from: the teacher itself, or one of the controls of C2/C3 (kdlib.signals)
SIGNALS = ("teacher", "matched_smoothing", "permuted_dark", "argmax", "conditional", "random_head",
           "smoothed_onehot")
DATASETS = ("mnist1d", "digits", "cifar10", "cifar100")
IMAGE_DATASETS = ("cifar10", "cifar100")  # trained with a recipe; their models are kdlib.convnets.CIFAR_MODELS
# what a KD student is distilled on (Stanton et al., 2021): its own subset, or that plus as many inputs again as the
# training pool holds: mixup of the subset's inputs, or extra unlabelled inputs freshly generated (MNIST-1D only)
DISTILL_DATA = ("subset", "mixup", "extra")
FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)

PROFILES = {
    "smoke": dict(
        data={"mnist1d": dict(n_train=400, n_val=200, n_test=200), "digits": dict(n_val=300, n_test=300)},
        student="cnn-tiny", teacher="cnn-tiny",
        train=TrainConfig(epochs=2, min_steps=100, batch_size=64, lr=1e-2),
        teacher_train=TrainConfig(epochs=10, min_steps=300, batch_size=64, lr=1e-2),
        fractions=(0.1, 0.3, 1.0), seeds=(0, 1), tau=4.0,
        dataset="mnist1d", lr_grid=(3e-3, 1e-2), sizes=("cnn-tiny", "cnn-small", "cnn-base"), vit="vit-small",
    ),
    "cpu": dict(
        data={"mnist1d": dict(n_train=4000, n_val=1000, n_test=1000), "digits": dict(n_val=300, n_test=300)},
        student="cnn-base", teacher="cnn-base",
        train=TrainConfig(epochs=60, min_steps=1000, batch_size=128, lr=3e-3),
        # teacher lr: 1e-2 over 3e-3 on validation accuracy (0.925 vs 0.876, cnn-base, seed 0)
        teacher_train=TrainConfig(epochs=100, min_steps=1500, batch_size=128, lr=1e-2),
        fractions=FRACTIONS, seeds=(0, 1, 2, 3, 4), tau=4.0,
        dataset="mnist1d", lr_grid=(3e-3, 1e-2), sizes=("cnn-tiny", "cnn-small", "cnn-base"), vit="vit-small",
    ),
}
# language models (C6): character GPTs on Shakespeare. Every α gets at least min_steps updates; the teacher, on all
# of the training text, trains longer than any student. train_chars / eval_chars cut the text for the CPU budget.
LM_MODELS = [f"gpt-{size}" for size in GPT_SIZES]
PROFILES["smoke"]["lm"] = dict(
    data=dict(train_chars=60_000, eval_chars=6_000), block_size=32, student="gpt-tiny", teacher="gpt-tiny",
    train=TrainConfig(epochs=1, min_steps=40, batch_size=32, lr=3e-3),
    teacher_train=TrainConfig(epochs=1, min_steps=80, batch_size=32, lr=3e-3),
    fractions=(0.1, 1.0), seeds=(0,), tau=1.0,
)
PROFILES["cpu"]["lm"] = dict(
    data=dict(train_chars=1_000_000, eval_chars=100_000), block_size=64, student="gpt-tiny", teacher="gpt-tiny",
    train=TrainConfig(epochs=1, min_steps=600, batch_size=32, lr=3e-3),
    teacher_train=TrainConfig(epochs=4, min_steps=3000, batch_size=32, lr=3e-3),
    fractions=(0.02, 0.1, 1.0), seeds=(0, 1, 2), tau=1.0,
)
# gpu: CIFAR-10 with a recipe by default; on the embedded datasets, the cpu setting trained longer
PROFILES["gpu"] = dict(PROFILES["cpu"], dataset="cifar10",
                       train=TrainConfig(epochs=200, min_steps=5000, batch_size=128, lr=3e-3),
                       teacher_train=TrainConfig(epochs=300, min_steps=5000, batch_size=128, lr=1e-2),
                       lm=dict(data=dict(train_chars=None, eval_chars=None), block_size=128, student="gpt-small",
                               teacher="gpt-base", train=TrainConfig(epochs=2, min_steps=3000, batch_size=64, lr=1e-3),
                               teacher_train=TrainConfig(epochs=10, min_steps=5000, batch_size=64, lr=1e-3),
                               fractions=(0.02, 0.05, 0.1, 0.2, 0.5, 1.0), seeds=(0, 1, 2, 3, 4), tau=1.0))


# CIFAR-10/100 (every profile): training recipes. Each gives the models, the training of students and teacher, the
# learning rates tried on validation data (`lr_grid`), the model ladder of the scale sweep (`sizes`) and the ViT
# student of C6 (`vit`; the reproduce variant of notebook 01).
_PAPER_TRAIN = TrainConfig(epochs=200, min_steps=2000, batch_size=128, lr=0.1, weight_decay=1e-4, warmup=0.025,
                           optimizer="sgd", precision="bf16", augment=True)
_FAST_TRAIN = TrainConfig(epochs=10, min_steps=300, batch_size=512, lr=0.4, weight_decay=5e-4, warmup=0.15,
                          optimizer="sgd", precision="bf16", augment=True)
RECIPES = {
    # the authors' CIFAR-100 setup (CLAIMS.md): ResNet-18 -> ResNet-18, 200 epochs, SGD 0.1, wd 1e-4, 5 warm-up
    # epochs then cosine, batch 128, crop and flip (not their 15° rotation); bf16 autocast is ours, for speed. The
    # 2,000-step floor only matters below ~1.3k images (fewer than 10 steps per epoch).
    "paper": dict(student="resnet18", teacher="resnet18", train=_PAPER_TRAIN, teacher_train=_PAPER_TRAIN, tau=4.0,
                  lr_grid=(0.1,), sizes=("resnet20", "resnet56", "resnet18"), vit="vit-cifar"),
    # in the spirit of airbench: a small ConvNet, batch 512, 10 epochs (teacher 20), bf16, no label smoothing;
    # the learning rate is chosen on validation data from two values (not tuned beyond that)
    "fast": dict(student="convnet-s", teacher="convnet-s", train=_FAST_TRAIN,
                 teacher_train=replace(_FAST_TRAIN, epochs=20), tau=4.0, lr_grid=(0.2, 0.4),
                 sizes=("convnet-s", "convnet-l"), vit="vit-cifar"),
}
DEFAULT_RECIPE = "fast"
IMAGE_DATA = {name: dict(n_val=5000) for name in IMAGE_DATASETS}  # validation images taken from the training set
# smoke: the same recipes on a budget of a few steps (for the tests, which make their own small images)
_SMOKE_TRAIN = TrainConfig(epochs=1, min_steps=12, batch_size=32, lr=0.05, weight_decay=5e-4, warmup=0.1,
                           optimizer="sgd", precision="fp32", augment=True)
SMOKE_RECIPES = {
    "paper": dict(RECIPES["paper"], student="resnet20", teacher="resnet20", train=_SMOKE_TRAIN,
                  teacher_train=replace(_SMOKE_TRAIN, min_steps=24), sizes=("resnet20", "resnet56")),
    "fast": dict(RECIPES["fast"], train=_SMOKE_TRAIN, teacher_train=replace(_SMOKE_TRAIN, min_steps=24),
                 lr_grid=(0.05, 0.1)),
}
for _name, _p in PROFILES.items():
    _p["recipes"] = SMOKE_RECIPES if _name == "smoke" else RECIPES
    _p["data"] = {**_p["data"], **(IMAGE_DATA if _name != "smoke" else {k: dict(n_val=50) for k in IMAGE_DATA})}


@dataclass(frozen=True)
class RunConfig:
    dataset: str = "mnist1d"
    data: dict = field(default_factory=dict)  # keyword arguments of the dataset loader (sizes, seed)
    method: str = "kd"
    fraction: float = 1.0
    seed: int = 0
    student: str = "cnn-base"
    teacher: str | None = "cnn-base"  # also the reference for agreement metrics of label-trained students
    tau: float | None = 4.0
    lam: float | None = 1.0
    eps: float | None = None  # label smoothing: method "ls", and signal "smoothed_onehot"
    signal: str | None = "teacher"  # method "kd" only: the teacher's distribution or a control (SIGNALS)
    objective: str | None = "forward_kl"  # method "kd" with signal "teacher": the distillation term (OBJECTIVES)
    train: TrainConfig = TrainConfig()
    teacher_train: TrainConfig = TrainConfig()
    teacher_seed: int = 0
    # the teacher trains on this share of the training pool (a nested subset, seeded by teacher_seed), so that a
    # student's fraction can exceed the teacher's: a student at `fraction` sees fraction / teacher_fraction of
    # the teacher's sample count (C5). Label-trained students are compared with the full-data teacher.
    teacher_fraction: float = 1.0
    # an ensemble teacher: this many members (teacher seeds teacher_seed, teacher_seed + 1, ...), probabilities averaged
    teacher_members: int = 1
    distill_data: str | None = "subset"  # method "kd": DISTILL_DATA
    aux_heads: bool | None = False  # method "kd": deep supervision, one auxiliary classifier per intermediate block

    def validate(self) -> "RunConfig":
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("method", self.method, METHODS)
        models = models_for(self.dataset)
        check_choice("student", self.student, models)
        if self.teacher is not None:
            check_choice("teacher", self.teacher, models)
        elif METHODS[self.method]:
            raise ConfigError(f"method={self.method!r} needs a teacher; allowed teachers: {', '.join(models)}")
        check_range("fraction", self.fraction, low=0, high=1, low_open=True)
        check_range("teacher_fraction", self.teacher_fraction, low=0, high=1, low_open=True)
        if not isinstance(self.teacher_members, int) or isinstance(self.teacher_members, bool) \
                or not 1 <= self.teacher_members <= 20:
            raise ConfigError(f"teacher_members={self.teacher_members!r} is not allowed; allowed: an integer in [1, 20]")
        for name in ("seed", "teacher_seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name}={value!r} is not allowed; allowed: an integer >= 0")
        if self.method == "kd":
            if self.objective != "logit_mse":  # the only objective without a temperature
                check_range("tau", self.tau, low=0, low_open=True)
            check_range("lam", self.lam, low=0, high=1)
            check_choice("signal", self.signal, SIGNALS)
            check_choice("objective", self.objective, OBJECTIVES)
            if self.signal != "teacher" and self.objective != "forward_kl":
                raise ConfigError(f"objective={self.objective!r} with signal={self.signal!r}: the controls are "
                                  "distilled with forward_kl only; allowed: objective='forward_kl'")
            check_choice("distill_data", self.distill_data, DISTILL_DATA)
            if self.aux_heads not in (True, False):
                raise ConfigError(f"aux_heads={self.aux_heads!r} is not allowed; allowed: True, False")
            self._check_distill_extras()
        if self.method == "ls" or (self.method == "kd" and self.signal == "smoothed_onehot"):
            check_range("eps", self.eps, low=0, high=1, high_open=True)
        self.train.validate()
        self.teacher_train.validate()
        self._check_images()
        return self

    def _check_images(self) -> None:
        """Augmentation needs images; the image datasets support the KD extras that need no 1D features."""
        image = self.dataset in IMAGE_DATASETS
        for name, tc in (("train", self.train), ("teacher_train", self.teacher_train)):
            if tc.augment and not image:
                raise ConfigError(f"{name}.augment=True with dataset={self.dataset!r}: crops and flips are for "
                                  f"images; allowed datasets: {', '.join(IMAGE_DATASETS)}")
        if image and self.method == "kd" and (self.distill_data != "subset" or self.aux_heads):
            raise ConfigError(f"dataset={self.dataset!r} with distill_data={self.distill_data!r}, aux_heads="
                              f"{self.aux_heads!r}: on images only distill_data='subset' and aux_heads=False are "
                              "supported")

    def _check_distill_extras(self) -> None:
        """Combinations the extras of C5/fidelity/pitfall support, each refused with the reason."""
        extras = {"distill_data": self.distill_data != "subset", "aux_heads": bool(self.aux_heads),
                  "teacher_members": self.teacher_members > 1}
        for name, used in extras.items():
            if used and self.signal != "teacher":
                raise ConfigError(f"{name}={getattr(self, name)!r} with signal={self.signal!r}: allowed only with "
                                  "signal='teacher'")
        if self.distill_data != "subset":
            # the added inputs have no labels: only a label-free objective can use them
            if self.lam != 1 or self.objective == "dkd":
                raise ConfigError(f"distill_data={self.distill_data!r} adds unlabelled inputs; allowed only with "
                                  f"lam=1 and an objective that needs no labels (got lam={self.lam!r}, "
                                  f"objective={self.objective!r})")
            if self.distill_data == "extra" and self.dataset != "mnist1d":
                raise ConfigError(f"distill_data='extra' with dataset={self.dataset!r}: extra inputs are generated, "
                                  "allowed datasets: mnist1d")

    def canonical(self) -> "RunConfig":
        """Blank the knobs a method does not use, so e.g. label runs are shared across a tau sweep.

        Numbers are made floats first, so fraction=1 and fraction=1.0 are one run."""
        numbers = ("fraction", "teacher_fraction", "tau", "lam", "eps")
        c = replace(self, **{k: float(getattr(self, k)) for k in numbers if getattr(self, k) is not None})
        if c.method != "kd":
            # a label-trained student's reference teacher (for agreement) is the single full-data one
            return replace(c, tau=None, lam=None, signal=None, objective=None, teacher_fraction=1.0,
                           teacher_members=1, distill_data=None, aux_heads=None,
                           eps=c.eps if c.method == "ls" else None)
        return replace(c, eps=c.eps if c.signal == "smoothed_onehot" else None,
                       tau=None if c.objective == "logit_mse" else c.tau)

    def as_dict(self) -> dict:
        return asdict(self)

    def key(self) -> str:
        return config_hash(self.canonical().as_dict())

    def teacher_key(self) -> str:
        """Teachers are shared by every run with the same data, architecture, training and seed."""
        return config_hash({"dataset": self.dataset, "data": self.data, "teacher": self.teacher,
                            "teacher_train": asdict(self.teacher_train), "teacher_seed": self.teacher_seed,
                            "teacher_fraction": float(self.teacher_fraction),
                            "teacher_members": self.teacher_members, "format": 2})


def models_for(dataset: str) -> list[str]:
    """The model names a dataset takes: the CIFAR models for images, the 1D families for signals."""
    return list(CIFAR_MODELS) if dataset in IMAGE_DATASETS else MODELS


def profile_defaults(profile: str, dataset: str | None = None, recipe: str | None = None) -> dict:
    """The defaults of `profile` for `dataset` (None: the profile's): on an image dataset the recipe's models and
    training (recipe None: DEFAULT_RECIPE) replace the profile's; "dataset", "recipe" and "data" (the loader's
    keywords) say what was chosen."""
    check_choice("profile", profile, PROFILES)
    p = PROFILES[profile]
    dataset = p["dataset"] if dataset is None else dataset
    check_choice("dataset", dataset, DATASETS)
    if dataset not in IMAGE_DATASETS:
        if recipe is not None:
            raise ConfigError(f"recipe={recipe!r} with dataset={dataset!r}: recipes are for the image datasets; "
                              f"allowed: recipe=None, or dataset one of {', '.join(IMAGE_DATASETS)}")
        return dict(p, dataset=dataset, recipe=None, data=p["data"][dataset])
    recipe = DEFAULT_RECIPE if recipe is None else recipe
    check_choice("recipe", recipe, p["recipes"])
    return dict(p, **p["recipes"][recipe], dataset=dataset, recipe=recipe, data=p["data"][dataset])


def make_config(profile: str = "cpu", dataset: str | None = None, recipe: str | None = None,
                **overrides) -> RunConfig:
    """A validated, canonical RunConfig: the profile's defaults for `dataset` (None: the profile's; an image
    dataset takes `recipe`'s models and training), then `overrides` (None means 'default')."""
    p = profile_defaults(profile, dataset, recipe)
    fields = dict(dataset=p["dataset"], data=dict(p["data"]), student=p["student"], teacher=p["teacher"],
                  tau=p["tau"], train=p["train"], teacher_train=p["teacher_train"])
    return _build(RunConfig, fields, overrides)


def _build(cls, fields: dict, overrides: dict):
    """cls(**fields) with `overrides` applied (None means 'default'; TrainConfig fields such as lr go to the
    student's `train`), validated and canonical. An unknown name is refused with the allowed ones."""
    train_overrides = {k: v for k in list(overrides) if k in TrainConfig.__dataclass_fields__
                       if (v := overrides.pop(k)) is not None}
    unknown = set(overrides) - set(cls.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown config field(s) {sorted(unknown)}; allowed: "
                          f"{', '.join(sorted(cls.__dataclass_fields__) + sorted(TrainConfig.__dataclass_fields__))}")
    fields.update({k: v for k, v in overrides.items() if v is not None})
    if fields["teacher"] in ("none", "None"):  # explicit 'no teacher' (None already means 'default')
        fields["teacher"] = None
    if train_overrides:
        fields["train"] = replace(fields["train"], **train_overrides)
    return cls(**fields).validate().canonical()


def grid(profile: str = "cpu", methods=("labels", "kd"), fractions=None, seeds=None, dataset=None, recipe=None,
         **overrides) -> list[RunConfig]:
    """Every (method, fraction, seed) combination, validated before anything runs."""
    p = profile_defaults(profile, dataset, recipe)
    fractions = p["fractions"] if fractions is None else fractions
    seeds = p["seeds"] if seeds is None else seeds
    if len(list(seeds)) == 0:
        raise ConfigError("seeds=[] is empty; allowed: a non-empty list of integers >= 0")
    if len(list(fractions)) == 0:
        raise ConfigError("fractions=[] is empty; allowed: a non-empty list of numbers in (0, 1]")
    for m in methods:
        check_choice("method", m, METHODS)
    return [make_config(profile, dataset, recipe, method=m, fraction=float(f), seed=int(s), **overrides)
            for m in methods for f in fractions for s in seeds]



def pool_fractions(sample_ratios, teacher_share: float) -> list[float]:
    """The students' shares of the pool for sample counts κ = M / N_teacher, with a teacher on `teacher_share` of
    the pool: f = κ · teacher_share, sorted. A κ the pool cannot hold (above 1 / teacher_share) is refused."""
    check_range("teacher_share", teacher_share, low=0, high=1, low_open=True)
    if sample_ratios is None or len(list(sample_ratios)) == 0:
        raise ConfigError(f"sample_ratios={sample_ratios!r} is empty; allowed: a non-empty list")
    for k in sample_ratios:
        check_range("sample_ratios", k, low=0, low_open=True)
        if k * teacher_share > 1 + 1e-9:
            raise ConfigError(f"sample_ratios contains {k!r}: with teacher_share={teacher_share!r} the pool holds "
                              f"1/teacher_share = {1 / teacher_share:g} times the teacher's samples; allowed: "
                              f"(0, {1 / teacher_share:g}]")
    return sorted({round(k * teacher_share, 10) for k in sample_ratios})


@dataclass(frozen=True)
class LMConfig:
    """One character-level language-model run of C6: a GPT student on a nested `fraction` of the training text's
    windows (α in tokens), trained on the next characters (method "labels") or on a teacher GPT's next-character
    distributions, run on each batch (method "kd", with `lam` and `tau` as in L_lambda). The teacher trains on all
    of the training text. `data`: keywords of `kdlib.text.load_text` (split seed, train_chars, eval_chars)."""
    dataset: str = "shakespeare"
    data: dict = field(default_factory=dict)
    block_size: int = 64
    method: str = "kd"
    fraction: float = 1.0
    seed: int = 0
    student: str = "gpt-tiny"
    teacher: str | None = "gpt-tiny"
    tau: float | None = 1.0
    lam: float | None = 1.0
    train: TrainConfig = TrainConfig()
    teacher_train: TrainConfig = TrainConfig()
    teacher_seed: int = 0

    def validate(self) -> "LMConfig":
        check_choice("dataset", self.dataset, ("shakespeare",))
        check_choice("method", self.method, ("labels", "kd"))
        check_choice("student", self.student, LM_MODELS)
        if self.teacher is not None:
            check_choice("teacher", self.teacher, LM_MODELS)
        elif self.method == "kd":
            raise ConfigError(f"method='kd' needs a teacher; allowed teachers: {', '.join(LM_MODELS)}")
        check_range("fraction", self.fraction, low=0, high=1, low_open=True)
        for name in ("block_size", "seed", "teacher_seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (1 if name == "block_size" else 0):
                raise ConfigError(f"{name}={value!r} is not allowed; allowed: an integer >= "
                                  f"{1 if name == 'block_size' else 0}")
        for name in ("train_chars", "eval_chars"):
            value = self.data.get(name)
            if value is not None and (not isinstance(value, int) or value < 2 * self.block_size + 2):
                raise ConfigError(f"{name}={value!r} is not allowed; allowed: None (all) or an integer >= "
                                  f"2 * block_size + 2 = {2 * self.block_size + 2}")
        if self.method == "kd":
            check_range("tau", self.tau, low=0, low_open=True)
            check_range("lam", self.lam, low=0, high=1)
        self.train.validate()
        self.teacher_train.validate()
        return self

    def canonical(self) -> "LMConfig":
        """Numbers as floats; a label run has no tau or lambda (so it is shared across a KD sweep)."""
        c = replace(self, **{k: float(getattr(self, k)) for k in ("fraction", "tau", "lam")
                             if getattr(self, k) is not None})
        return replace(c, tau=None, lam=None) if c.method == "labels" else c

    def as_dict(self) -> dict:
        return asdict(self)

    def key(self) -> str:
        return config_hash(self.canonical().as_dict())  # its fields differ from RunConfig's: no collisions

    def teacher_key(self) -> str:
        return config_hash({"kind": "lm-teacher", "dataset": self.dataset, "data": self.data,
                            "block_size": self.block_size, "teacher": self.teacher,
                            "teacher_train": asdict(self.teacher_train), "teacher_seed": self.teacher_seed})


def make_lm_config(profile: str = "cpu", **overrides) -> LMConfig:
    """A validated, canonical LMConfig: the profile's "lm" defaults, then `overrides` (None means 'default');
    TrainConfig fields (lr, min_steps, ...) apply to the student's training."""
    p = profile_defaults(profile)["lm"]
    fields = dict(data=dict(p["data"]), block_size=p["block_size"], student=p["student"], teacher=p["teacher"],
                  tau=p["tau"], train=p["train"], teacher_train=p["teacher_train"])
    return _build(LMConfig, fields, overrides)
