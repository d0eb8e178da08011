"""Run configs: everything that decides a run's result, validated before any work, hashed into the run's key.

`RunConfig` is one classification run (C1-C5, fidelity, pitfall), `LMConfig` one character-level language-model run
(C6). Where a run runs (device, results folder) is not part of either. The defaults come from a profile
(`kdlib.profiles`); explicit values override them:

    make_config("cpu", method="kd", fraction=0.05, tau=2)       # a RunConfig
    make_lm_config("cpu", method="kd", fraction=0.1)            # an LMConfig
    grid("cpu", ("labels", "kd"), fractions, seeds, tau=4)      # every (method, fraction, seed)

`profile_defaults(profile, dataset, recipe)` gives the resolved defaults (grid, models, training, learning-rate grid,
scale ladder); on CIFAR-10/100 the recipe's models and training replace the profile's.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace

from .errors import ConfigError, check_choice, check_int, check_nonempty, check_range
from .losses import OBJECTIVES
from .models import CIFAR_MODELS, GPT_SIZES, MODELS, check_name, split_checkpoint
from .owndata import OWN
from .profiles import DEFAULT_RECIPE, FRACTIONS, PROFILES, RECIPES  # noqa: F401 (FRACTIONS, RECIPES: public)
from .store import config_hash
from .train import TrainConfig

# method -> does it need a teacher
METHODS = {"labels": False, "kd": True, "ls": False}
# what a KD student is distilled from: the teacher itself, or one of the controls of C2/C3 (kdlib.signals)
SIGNALS = ("teacher", "matched_smoothing", "permuted_dark", "argmax", "conditional", "random_head",
           "smoothed_onehot")
DATASETS = ("mnist1d", "digits", "cifar10", "cifar100")
IMAGE_DATASETS = ("cifar10", "cifar100")  # trained with a recipe; their models are kdlib.models.CIFAR_MODELS
# what a KD student is distilled on (Stanton et al., 2021): its own subset, or that plus as many inputs again as the
# training pool holds: mixup of the subset's inputs, or extra unlabelled inputs freshly generated (MNIST-1D only)
DISTILL_DATA = ("subset", "mixup", "extra")
LM_MODELS = [f"gpt-{size}" for size in GPT_SIZES]
# Seeds: a run of seed s distils from (and, label-trained, is compared with) the teacher of seed s, so the teacher's
# draw is inside every interval over seeds. Member i >= 1 of an ensemble of teacher seed s is trained with seed
# MEMBER_SEEDS + 20 s + i (member 0 is the single teacher of seed s): members never coincide across seeds, nor with
# any plain seed, which stays below MEMBER_SEEDS.
MAX_SEED = 999_999
MEMBER_SEEDS = MAX_SEED + 1


def member_seed(teacher_seed: int, i: int) -> int:
    """The training seed of member i of an ensemble whose teacher seed is `teacher_seed` (see MEMBER_SEEDS)."""
    return teacher_seed if i == 0 else MEMBER_SEEDS + 20 * teacher_seed + i


class _Keyed:
    """What both config classes share: numbers canonical as floats, the key (hash of the canonical config), and the
    checks of the fields they have in common."""

    FLOATS: tuple = ()  # fields stored as floats, so fraction=1 and fraction=1.0 are one run

    def _as_floats(self):
        return replace(self, **{k: float(getattr(self, k)) for k in self.FLOATS if getattr(self, k) is not None})

    def as_dict(self) -> dict:
        return asdict(self)

    def key(self) -> str:
        return config_hash(self.canonical().as_dict())

    def _check_common(self, methods, models, own: bool = False) -> None:
        check_choice("method", self.method, methods)
        # on the reader's own data a model may also be a factory, and the teacher a checkpoint (kdlib.models)
        check_name("student", self.student, models, custom=own)
        if self.teacher is not None:
            check_name("teacher", self.teacher, models, custom=own, checkpoint=own)
        elif methods[self.method]:
            raise ConfigError(f"method={self.method!r} needs a teacher; allowed teachers: {', '.join(models)}")
        check_range("fraction", self.fraction, low=0, high=1, low_open=True)
        check_int("seed", self.seed, 0, MAX_SEED)
        if self.teacher_seed is not None:  # any seed (an ensemble's members have seeds above MAX_SEED)
            check_int("teacher_seed", self.teacher_seed, 0, allowed="None (the run's seed) or an integer >= 0")

    def own_teacher(self):
        """The config with its teacher seed resolved: None means the run's own seed (a teacher per seed)."""
        return self if self.teacher_seed is not None else replace(self, teacher_seed=self.seed)


@dataclass(frozen=True)
class RunConfig(_Keyed):
    """One classification run: a student on a nested share `fraction` of the training set, trained on labels
    (method "labels"), smoothed labels ("ls", `eps`) or by distillation ("kd": L_lambda with `lam`, `tau`, the
    distillation term `objective`, from the teacher or one of the controls `signal`)."""
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
    teacher_seed: int | None = None  # None: the run's own seed (a teacher per seed); resolved by canonical()
    # the teacher trains on this share of the training pool (a nested subset, seeded by teacher_seed), so that a
    # student's fraction can exceed the teacher's: a student at `fraction` sees fraction / teacher_fraction of
    # the teacher's sample count (C5). Label-trained students are compared with the full-data teacher.
    teacher_fraction: float = 1.0
    # an ensemble teacher: this many members (member_seed(teacher_seed, i)), probabilities averaged
    teacher_members: int = 1
    distill_data: str | None = "subset"  # method "kd": DISTILL_DATA
    aux_heads: bool | None = False  # method "kd": deep supervision, one auxiliary classifier per intermediate block

    FLOATS = ("fraction", "teacher_fraction", "tau", "lam", "eps")
    SEQUENCE = False  # one label per input (a language model's are per position)

    def validate(self) -> "RunConfig":
        if self.dataset == OWN:
            self._check_own()
        else:
            check_choice("dataset", self.dataset, DATASETS)
        self._check_common(METHODS, models_for(self.dataset), own=self.dataset == OWN)
        check_range("teacher_fraction", self.teacher_fraction, low=0, high=1, low_open=True)
        check_int("teacher_members", self.teacher_members, 1, 20)
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

    def _check_own(self) -> None:
        """The reader's own data is named by its fingerprint alone (kdlib.owndata), never by a file name; a teacher
        from a checkpoint is one network trained elsewhere."""
        fp = self.data.get("fingerprint") if isinstance(self.data, dict) else None
        if set(self.data or {}) != {"fingerprint"} or not (isinstance(fp, str) and len(fp) == 64
                                                            and all(ch in "0123456789abcdef" for ch in fp)):
            raise ConfigError(f"data={self.data!r} with dataset={OWN!r} is not allowed; allowed: {{'fingerprint': "
                              "<SHA-256 of the data, 64 hex digits>}, as kdlib.owndata.read gives it")
        if split_checkpoint(self.teacher)[1] is not None and (self.teacher_members != 1 or self.teacher_fraction != 1):
            raise ConfigError(f"teacher={self.teacher!r} comes from a checkpoint, with teacher_members="
                              f"{self.teacher_members!r}, teacher_fraction={self.teacher_fraction!r}; allowed: "
                              "teacher_members=1 and teacher_fraction=1")

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
        """Numbers as floats, and the knobs a method does not use blanked, so e.g. label runs are shared across a
        tau sweep."""
        c = self._as_floats().own_teacher()
        if c.method != "kd":
            # a label-trained student's reference teacher (for agreement) is the single full-data one
            return replace(c, tau=None, lam=None, signal=None, objective=None, teacher_fraction=1.0,
                           teacher_members=1, distill_data=None, aux_heads=None,
                           eps=c.eps if c.method == "ls" else None)
        return replace(c, eps=c.eps if c.signal == "smoothed_onehot" else None,
                       tau=None if c.objective == "logit_mse" else c.tau)

    def teacher_key(self) -> str:
        """Teachers are shared by every run with the same data, architecture, training and seed. A teacher from a
        checkpoint is one network whatever the seed, so every seed shares its cached outputs."""
        seed = 0 if split_checkpoint(self.teacher)[1] is not None else self.own_teacher().teacher_seed
        return config_hash({"dataset": self.dataset, "data": self.data, "teacher": self.teacher,
                            "teacher_train": asdict(self.teacher_train), "teacher_seed": seed,
                            "teacher_fraction": float(self.teacher_fraction),
                            "teacher_members": self.teacher_members, "format": 2})


@dataclass(frozen=True)
class LMConfig(_Keyed):
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
    teacher_seed: int | None = None  # None: the run's own seed (a teacher per seed); resolved by canonical()

    FLOATS = ("fraction", "tau", "lam")
    SEQUENCE = True  # next-character targets at every position: logits [B, T, V], labels [B, T]
    # a language model distils the teacher itself with forward KL, from the whole text (no fields: not in the key)
    signal, objective, aux_heads, teacher_members = "teacher", "forward_kl", False, 1

    def validate(self) -> "LMConfig":
        check_choice("dataset", self.dataset, ("shakespeare",))
        self._check_common({"labels": False, "kd": True}, LM_MODELS)
        check_int("block_size", self.block_size, 1)
        for name in ("train_chars", "eval_chars"):
            value = self.data.get(name)
            if value is not None:
                check_int(name, value, 2 * self.block_size + 2, allowed=f"None (all) or an integer >= "
                                                                        f"2 * block_size + 2 = {2 * self.block_size + 2}")
        if self.method == "kd":
            check_range("tau", self.tau, low=0, low_open=True)
            check_range("lam", self.lam, low=0, high=1)
        self.train.validate()
        self.teacher_train.validate()
        return self

    def canonical(self) -> "LMConfig":
        """Numbers as floats; a label run has no tau or lambda (so it is shared across a KD sweep)."""
        c = self._as_floats().own_teacher()
        return replace(c, tau=None, lam=None) if c.method == "labels" else c

    def teacher_key(self) -> str:
        return config_hash({"kind": "lm-teacher", "dataset": self.dataset, "data": self.data,
                            "block_size": self.block_size, "teacher": self.teacher,
                            "teacher_train": asdict(self.teacher_train),
                            "teacher_seed": self.own_teacher().teacher_seed})


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
        return copy.deepcopy(dict(p, dataset=dataset, recipe=None, data=p["data"][dataset]))
    recipe = DEFAULT_RECIPE if recipe is None else recipe
    check_choice("recipe", recipe, p["recipes"])
    # a copy: the caller may change it, the profile stays as written
    return copy.deepcopy(dict(p, **p["recipes"][recipe], dataset=dataset, recipe=recipe, data=p["data"][dataset]))


def make_config(profile: str = "cpu", dataset: str | None = None, recipe: str | None = None,
                **overrides) -> RunConfig:
    """A validated, canonical RunConfig: the profile's defaults for `dataset` (None: the profile's; an image
    dataset takes `recipe`'s models and training), then `overrides` (None means 'default')."""
    p = profile_defaults(profile, dataset, recipe)
    fields = dict(dataset=p["dataset"], data=dict(p["data"]), student=p["student"], teacher=p["teacher"],
                  tau=p["tau"], train=p["train"], teacher_train=p["teacher_train"])
    return _build(RunConfig, fields, overrides)


def make_lm_config(profile: str = "cpu", **overrides) -> LMConfig:
    """A validated, canonical LMConfig: the profile's "lm" defaults, then `overrides` (None means 'default');
    TrainConfig fields (lr, min_steps, ...) apply to the student's training."""
    p = profile_defaults(profile)["lm"]
    fields = dict(data=dict(p["data"]), block_size=p["block_size"], student=p["student"], teacher=p["teacher"],
                  tau=p["tau"], train=p["train"], teacher_train=p["teacher_train"])
    return _build(LMConfig, fields, overrides)


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
    seeds = p["seeds"][:p["looks"][0]] if seeds is None else seeds  # the first look's (kdlib.claims)
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
    check_nonempty("sample_ratios", sample_ratios)
    for k in sample_ratios:
        check_range("sample_ratios", k, low=0, low_open=True)
        if k * teacher_share > 1 + 1e-9:
            raise ConfigError(f"sample_ratios contains {k!r}: with teacher_share={teacher_share!r} the pool holds "
                              f"1/teacher_share = {1 / teacher_share:g} times the teacher's samples; allowed: "
                              f"(0, {1 / teacher_share:g}]")
    return sorted({round(k * teacher_share, 10) for k in sample_ratios})


def check_selection_seeds(selection_seeds, evaluation_seeds) -> list:
    """The selection seeds as a list of ints: at least two, distinct, none of them among `evaluation_seeds` (a seed
    that chose a hyperparameter would then judge it); otherwise a ConfigError naming the parameter and the value."""
    values = list(selection_seeds) if isinstance(selection_seeds, (list, tuple)) else None
    allowed = (f"a list of at least two distinct integers in [0, {MAX_SEED}], none of them an evaluation seed "
               f"({', '.join(map(str, evaluation_seeds))})")
    ok = (values is not None and len(values) >= 2 and len(set(values)) == len(values)
          and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_SEED for v in values)
          and not set(values) & set(evaluation_seeds))
    if not ok:
        raise ConfigError(f"selection_seeds={selection_seeds!r} is not allowed; allowed: {allowed}")
    return [int(v) for v in values]
