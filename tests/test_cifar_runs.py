"""CIFAR runs on the CPU without a download: the profile and recipe parameters resolve as documented, the training
knobs of the recipes (SGD, bf16, augmentation) work, a KD student on augmented batches gets its teacher's output on
exactly the batch it sees, and a whole sweep runs on small images the test makes (torchvision's class faked)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fake_cifar
import kdlib.tasks
from kdlib import signals
from kdlib.config import RECIPES, make_config, profile_defaults
from kdlib.models import CIFAR_MODELS
from kdlib.errors import ConfigError
from kdlib.store import Store
from kdlib.sweep import sweep
from kdlib.tasks import online_targets
from kdlib.teachers import get_teacher
from kdlib.train import MOMENTUM, TrainConfig, make_optimizer, predict, train


# --- the parameters resolve as documented -------------------------------------------------------------------------

def test_gpu_profile_is_cifar10_with_the_fast_recipe_by_default():
    p = profile_defaults("gpu")
    assert (p["dataset"], p["recipe"], p["student"], p["teacher"]) == ("cifar10", "fast", "convnet-s", "convnet-s")
    t = p["train"]
    assert (t.optimizer, t.precision, t.augment, t.batch_size, t.epochs, t.lr) == ("sgd", "auto", True, 512, 10, 0.4)
    assert p["teacher_train"].epochs == 20 and p["lr_grid"] == (0.2, 0.4) and p["data"] == {"n_val": 5000}
    cfg = make_config("gpu", method="kd", fraction=0.1)
    assert (cfg.dataset, cfg.student, cfg.train, cfg.tau) == ("cifar10", "convnet-s", t, 4.0)


def test_the_paper_recipe_is_the_authors_setup():
    p = profile_defaults("gpu", "cifar100", "paper")
    t = p["train"]
    assert (p["dataset"], p["student"], p["teacher"]) == ("cifar100", "resnet18", "resnet18")
    assert (t.epochs, t.batch_size, t.lr, t.weight_decay, t.optimizer, t.augment) == (200, 128, 0.1, 1e-4, "sgd", True)
    assert t.warmup * t.epochs == pytest.approx(5)  # 5 warm-up epochs, then cosine
    assert p["teacher_train"] == t and p["lr_grid"] == (0.1,)
    cfg = make_config("gpu", "cifar100", "paper", method="labels", fraction=0.5, seed=2)
    assert (cfg.dataset, cfg.student, cfg.train.lr, cfg.data) == ("cifar100", "resnet18", 0.1, {"n_val": 5000})


def test_embedded_datasets_keep_their_settings_on_every_profile():
    for profile in ("smoke", "cpu", "gpu"):
        p = profile_defaults(profile, "mnist1d")
        assert p["recipe"] is None and p["student"].startswith("cnn-") and p["train"].optimizer == "adamw"
        assert not p["train"].augment and p["train"].precision == "fp32"
    assert profile_defaults("cpu")["dataset"] == "mnist1d"
    assert make_config("cpu").train == TrainConfig(epochs=60, min_steps=400, batch_size=128, lr=3e-3)


@pytest.mark.parametrize("call, message", [
    (lambda: make_config("gpu", recipe="fastest"), r"recipe='fastest' is not known.*fast"),
    (lambda: make_config("cpu", "mnist1d", "paper"), r"recipe='paper' with dataset='mnist1d': recipes are for"),
    (lambda: make_config("gpu", student="cnn-base"), r"student='cnn-base' is not known.*convnet-s"),
    (lambda: make_config("gpu", "mnist1d", student="resnet18"), r"student='resnet18' is not known.*cnn-base"),
    (lambda: make_config("cpu", augment=True), r"train.augment=True with dataset='mnist1d'"),
    (lambda: make_config("gpu", method="kd", aux_heads=True), r"aux_heads=True: on images only"),
    (lambda: make_config("gpu", method="kd", distill_data="mixup"), r"distill_data='mixup'"),
    (lambda: make_config("gpu", precision="fp8"), r"precision='fp8' is not known.*bf16"),
    (lambda: make_config("gpu", optimizer="lion"), r"optimizer='lion' is not known.*sgd"),
])
def test_mistakes_are_named(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


# --- the training knobs --------------------------------------------------------------------------------------------

def test_sgd_is_nesterov_with_the_recipes_settings():
    opt = make_optimizer([torch.nn.Parameter(torch.zeros(3))], RECIPES["paper"]["train"], torch.device("cpu"))
    group = opt.param_groups[0]
    assert isinstance(opt, torch.optim.SGD) and group["nesterov"] and group["momentum"] == MOMENTUM == 0.9
    assert (group["lr"], group["weight_decay"]) == (0.1, 1e-4)


class Recorder(torch.nn.Module):
    """A linear model on flattened images that keeps the last batch it was given."""

    def __init__(self, k=3):
        super().__init__()
        self.head = torch.nn.Linear(3 * 8 * 8, k)

    def forward(self, x):
        self.seen = x
        return self.head(x.float().flatten(1) / 255)


def test_online_targets_are_computed_on_the_augmented_batch_the_student_sees():
    x = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8)
    y = torch.randint(0, 3, (40,))
    model, checked = Recorder(), []

    def target_fn(xb, yb):  # stands in for the teacher: a number per image
        return xb.float().sum((1, 2, 3))

    def loss_fn(logits, yb, tb):
        assert not tb.requires_grad  # the teacher's pass has no graph
        assert torch.equal(tb, model.seen.float().sum((1, 2, 3)))  # the same (augmented) images as the student
        checked.append(not torch.equal(model.seen, x[:0]))
        return F.cross_entropy(logits, yb)

    cfg = TrainConfig(epochs=1, min_steps=6, batch_size=8, lr=0.1, optimizer="sgd", augment=True)
    train(model, x, y, loss_fn, cfg, seed=0, target_fn=target_fn)
    assert len(checked) == 6
    # and the batches were augmented: some image of the last batch is not any training image as it is
    assert any(not (model.seen[i] == x).flatten(1).all(1).any() for i in range(8))


def test_bf16_autocast_trains_and_predicts_float32_logits():
    torch.manual_seed(0)
    x = torch.randn(64, 10)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    cfg = TrainConfig(epochs=1, min_steps=60, batch_size=16, lr=1e-2, precision="bf16")
    info = train(model, x, y, lambda s, yb, t: F.cross_entropy(s, yb), cfg, seed=0)
    logits = predict(model, x, precision="bf16")
    assert np.isfinite(info["final_loss"]) and logits.dtype == torch.float32
    assert (logits.argmax(1) == y).float().mean() > 0.9
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast leaves the weights alone


# --- a sweep on small fake CIFAR images -----------------------------------------------------------------------------

def test_a_cifar_sweep_runs_on_the_cpu_and_reruns_nothing(fake_cifar10):
    configs = [make_config("smoke", "cifar10", method=m, fraction=f, seed=0) for m in ("labels", "kd")
               for f in (0.3, 1.0)]
    df = sweep(configs, fake_cifar10, device="cpu", progress=False)
    assert (df["status"] == "ok").all() and len(df) == 4
    y = kdlib.tasks.dataset_for(configs[0]).y_train
    assert len(y) == 250  # 300 images less the 50 of validation
    per_class = torch.bincount(y).tolist()  # a class-stratified share of each class (kdlib.data.nested_subset)
    assert sorted(df["n_train"]) == [sum(max(1, round(0.3 * n)) for n in per_class)] * 2 + [250, 250]
    assert (df["steps"] == 12).all()  # the smoke recipe's floor
    teacher = get_teacher(configs[-1], kdlib.tasks.dataset_for(configs[-1]), torch.device("cpu"), fake_cifar10)
    assert teacher.metrics["test_acc"] > 0.5  # ten colours: far above chance (0.1) after 24 steps
    assert len(list((fake_cifar10 / "teachers").glob("*.pt"))) == 1  # trained once, shared
    again = sweep(configs, fake_cifar10, device="cpu", progress=False)
    assert again["test_acc"].tolist() == df["test_acc"].tolist()
    assert len(Store(fake_cifar10).keys()) == 4


def test_online_teacher_and_controls_on_augmented_cifar_batches(fake_cifar10):
    cfg = make_config("smoke", "cifar10", method="kd", fraction=1.0)
    data = kdlib.tasks.dataset_for(cfg)
    teacher = get_teacher(cfg, data, torch.device("cpu"), fake_cifar10)
    xb, yb = data.x_train[:16], data.y_train[:16]
    with torch.no_grad():
        assert torch.equal(online_targets(cfg, teacher)(xb, yb), teacher.model(xb).float())
        p = F.softmax(teacher.model(xb).float() / cfg.tau, dim=1)
        q = online_targets(make_config("smoke", "cifar10", method="kd", signal="permuted_dark"), teacher)(xb, yb)
        assert torch.allclose(q.sum(1), torch.ones(16)) and torch.allclose(q.gather(1, yb[:, None]),
                                                                          p.gather(1, yb[:, None]))
        m = online_targets(make_config("smoke", "cifar10", method="kd", signal="matched_smoothing"), teacher)(xb, yb)
        assert torch.allclose(m, signals.matched_smoothing(p, yb))
    # targets that do not depend on the image stay fixed per input
    for signal, eps in (("conditional", None), ("smoothed_onehot", 0.1)):
        assert online_targets(make_config("smoke", "cifar10", method="kd", signal=signal, eps=eps), teacher) is None
    assert online_targets(make_config("smoke", "cifar10", method="kd", augment=False), teacher) is None
    rows = sweep([make_config("smoke", "cifar10", method="kd", signal=s, fraction=0.3)
                  for s in ("permuted_dark", "random_head", "conditional")], fake_cifar10, "cpu", progress=False)
    assert (rows["status"] == "ok").all()


def test_every_cifar_model_is_a_choice_of_the_image_datasets():
    for name in CIFAR_MODELS:
        assert make_config("smoke", "cifar100", student=name, teacher=name).student == name
