"""GPU-ready without a GPU: what a CUDA run needs, checked on the CPU.

- No host-device wait inside a training step: a step runs with the tensor methods that make the host wait for the
  device counted (`.item()`, `.cpu()`, `.tolist()`, `.numpy()`, `bool()`/`int()`/`float()` of a tensor, boolean-mask
  indexing), and the only ones are the divergence checks every `check_every` steps and the final loss.
- The new device-friendly code gives bit for bit what the code before it gave (references below are that code).
- Float32 heads and losses under autocast; the precision follows the device; cuDNN/TF32 settings around the loop.
"""
from __future__ import annotations

import collections
import math
from contextlib import contextmanager

import pytest
import torch
import torch.nn.functional as F

import fake_cifar
from kdlib import devices, losses, tasks, vision
from kdlib.config import make_config
from kdlib.convnets import Head
from kdlib.models import build_model
from kdlib.run import run_one
from kdlib.teachers import get_teacher
from kdlib.train import TrainConfig, cuda_settings, predict, train

SYNCS = ("item", "cpu", "tolist", "numpy", "__bool__", "__int__", "__float__")


@contextmanager
def counted_syncs():
    """Counts, by name, the calls of tensor methods that make the host wait for the device (see the module)."""
    calls = collections.Counter()
    saved = {name: getattr(torch.Tensor, name) for name in SYNCS + ("__getitem__",)}

    def counting(name):
        def method(self, *args, **kwargs):
            calls[name] += 1
            return saved[name](self, *args, **kwargs)
        return method

    def getitem(self, index):
        parts = index if isinstance(index, tuple) else (index,)
        if any(torch.is_tensor(p) and p.dtype == torch.bool for p in parts):
            calls["boolean mask"] += 1
        return saved["__getitem__"](self, index)

    try:
        for name in SYNCS:
            setattr(torch.Tensor, name, counting(name))
        torch.Tensor.__getitem__ = getitem
        yield calls
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)


def test_the_counter_sees_each_kind_of_wait():
    t = torch.arange(6.0)
    with counted_syncs() as calls:
        t[0].item()
        t.cpu(), t.tolist(), t.numpy(), bool(t[1]), int(t[2]), float(t[3])
        t[t > 2], t[:, None][t > 2, 0]
        t[1:3], t[torch.tensor([0, 2])]  # slices and integer indices are no wait
    assert calls == {"item": 1, "cpu": 1, "tolist": 1, "numpy": 1, "__bool__": 1, "__int__": 1, "__float__": 1,
                     "boolean mask": 2}


# ---- a training step waits for nothing -----------------------------------------------------------------------------

STEPS, CHECK_EVERY = 12, 5  # checks at steps 5, 10 and 12: each kind of step between checks, and the last
ALLOWED = {"__int__": math.ceil(STEPS / CHECK_EVERY), "item": 1}  # the divergence checks, and the last loss once


@pytest.fixture(scope="module")
def fake_images(tmp_path_factory):
    """A teacher on small fake CIFAR-10 images (trained once for the module), and its results folder."""
    mp = pytest.MonkeyPatch()
    fake_cifar.install(mp)
    folder = tmp_path_factory.mktemp("res")
    cfg = make_config("smoke", dataset="cifar10", method="kd", fraction=0.5)
    data = tasks.dataset_for(cfg)
    teacher = get_teacher(cfg, data, torch.device("cpu"), folder)
    yield data, teacher
    mp.undo()


def _steps(cfg, data, teacher):
    """STEPS training steps of cfg's student, the syncs counted; the pieces are made before counting starts."""
    fit = tasks.Classification.fit(cfg, data, teacher)
    torch.manual_seed(0)
    model = tasks.Classification.model(cfg.student, cfg, data, student=True)
    loss_fn = losses.make_loss(cfg)
    with counted_syncs() as calls:
        train(model, fit.x, fit.y, loss_fn, cfg.train, seed=cfg.seed, targets=fit.targets, target_fn=fit.target_fn,
              steps=STEPS, check_every=CHECK_EVERY)
    return calls


@pytest.mark.parametrize("signal", ["teacher", "permuted_dark", "matched_smoothing", "argmax", "random_head"])
def test_an_augmented_step_with_the_teacher_or_a_control_on_each_batch_waits_for_nothing(fake_images, signal):
    data, teacher = fake_images
    cfg = make_config("smoke", dataset="cifar10", method="kd", fraction=0.5, signal=signal)
    assert cfg.train.augment and tasks.online_targets(cfg, teacher) is not None  # targets made on every batch
    assert _steps(cfg, data, teacher) == ALLOWED


@pytest.mark.parametrize("objective", ["forward_kl", "dkd", "dist", "logit_mse", "reverse_kl"])
def test_a_step_of_every_objective_waits_for_nothing(fake_images, objective):
    data, teacher = fake_images
    cfg = make_config("smoke", dataset="cifar10", method="kd", fraction=0.5, objective=objective, lam=0.5)
    assert _steps(cfg, data, teacher) == ALLOWED


def test_label_training_and_deep_supervision_steps_wait_for_nothing(tmp_path):
    for cfg in (make_config("smoke", method="labels", fraction=0.3),
                make_config("smoke", method="kd", fraction=0.3, aux_heads=True, objective="dkd", lam=0.5)):
        data = tasks.dataset_for(cfg)
        teacher = get_teacher(cfg, data, torch.device("cpu"), tmp_path)
        assert _steps(cfg, data, teacher) == ALLOWED


# ---- the same numbers as the code before (references: that code, as it was) ---------------------------------------

def augment_before(x, generator, pad=4):
    b, _, h, w = x.shape
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    mirror = torch.rand(b, generator=generator) < 0.5
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = dy[:, None] + torch.arange(h)
    cols = torch.arange(w).expand(b, w)
    cols = torch.where(mirror[:, None], cols.flip(1), cols) + dx[:, None]
    out = padded.permute(0, 2, 3, 1)[torch.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)


def dkd_before(s, t, labels, tau=1.0, alpha=losses.DKD_ALPHA, beta=losses.DKD_BETA):
    target = F.one_hot(labels, s.shape[-1]).bool()
    rest = lambda z: z[~target].view(len(z), -1)
    log_p, log_q = F.log_softmax(t / tau, dim=-1), F.log_softmax(s / tau, dim=-1)
    binary = lambda lg: torch.stack([lg[target], rest(lg).logsumexp(-1)], dim=-1)
    tckd = F.kl_div(binary(log_q), binary(log_p), reduction="batchmean", log_target=True)
    nckd = F.kl_div(F.log_softmax(rest(log_q), -1), F.log_softmax(rest(log_p), -1), reduction="batchmean",
                    log_target=True)
    return tau**2 * (alpha * tckd + beta * nckd)


def test_augment_draws_the_same_crops_and_flips_as_before():
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for _ in range(3):  # and leaves the generator where the code before left it
        assert torch.equal(vision.augment(x, g1), augment_before(x, g2))


@pytest.mark.parametrize("tau", [1.0, 4.0, 100.0])
def test_dkd_with_gathers_is_bit_for_bit_dkd_with_boolean_masks(tau):
    torch.manual_seed(0)
    s, t, y = torch.randn(32, 10, requires_grad=True), torch.randn(32, 10) * 5, torch.randint(0, 10, (32,))
    new, old = losses.dkd_term(s, t, y, tau), dkd_before(s, t, y, tau)
    assert new.item() == old.item()
    assert torch.equal(torch.autograd.grad(new, s)[0], torch.autograd.grad(old, s)[0])


def test_a_random_head_is_drawn_on_the_cpu_generator_and_leaves_the_callers_stream_alone():
    torch.manual_seed(0)
    model = build_model("cnn-tiny", (40,), 10)
    teacher = tasks.Teacher(model, {}, {})
    state = torch.random.get_rng_state()
    head = teacher.random_head(seed=7).head
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.manual_seed(7)
    fresh = torch.nn.Linear(model.head.in_features, 10)  # the same draws: kaiming-uniform weight, then the bias
    assert torch.equal(head.weight, fresh.weight) and torch.equal(head.bias, fresh.bias)
    assert not torch.equal(head.weight, model.head.weight)  # the teacher's own head is untouched
    assert all(torch.equal(a, b) for (n, a), (_, b) in zip(teacher.random_head(7).named_parameters(),
                                                            model.named_parameters()) if not n.startswith("head"))


# ---- float32 where precision matters ------------------------------------------------------------------------------

def test_a_head_under_bf16_autocast_computes_in_float32():
    torch.manual_seed(0)
    head, h = Head(16, 10), torch.randn(8, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = head(h.bfloat16())
        plain_linear = torch.nn.functional.linear(h.bfloat16(), head.weight, head.bias)
    assert inside.dtype == torch.float32 and plain_linear.dtype == torch.bfloat16
    assert torch.equal(inside, F.linear(h.bfloat16().float(), head.weight, head.bias))
    assert torch.equal(head(h), F.linear(h, head.weight, head.bias))  # without autocast: nn.Linear


@pytest.mark.parametrize("student", ["kdlib", "aux_heads", "plain"])
def test_the_loss_of_a_bf16_run_gets_float32_logits_outside_autocast(student):
    torch.manual_seed(0)
    x, y = torch.randn(64, 40), torch.randint(0, 10, (64,))
    teacher = build_model("cnn-tiny", (40,), 10).eval()
    model = build_model("cnn-tiny", (40,), 10)
    aux_heads = student == "aux_heads"
    if aux_heads:
        from kdlib.models import AuxiliaryHeads
        model = AuxiliaryHeads(build_model("cnn-small", (40,), 10), 10)
    if student == "plain":  # a reader's own model, whose last layer is an nn.Linear: bf16 logits, cast up by train
        model = torch.nn.Sequential(torch.nn.Linear(40, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    seen = []

    def loss_fn(outputs, yb, tb):
        logits, aux = (outputs, []) if torch.is_tensor(outputs) else outputs
        seen.append((logits.dtype, frozenset(a.dtype for a in aux), tb.dtype, torch.is_autocast_enabled("cpu")))
        return losses.l_lambda(logits, yb, tb, 0.5, 100.0, losses.forward_kl) + sum(a.sum() * 0 for a in aux)

    cfg = TrainConfig(epochs=1, min_steps=5, batch_size=16, lr=1e-3, precision="bf16")
    info = train(model, x, y, loss_fn, cfg, seed=0, target_fn=tasks.teacher_fn(teacher))
    assert info["precision"] == "bf16" and len(seen) == 5
    assert set(seen) == {(torch.float32, frozenset({torch.float32} if aux_heads else ()), torch.float32, False)}
    assert predict(model, x, precision="bf16").dtype == torch.float32


def test_the_precision_follows_the_device(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert devices.resolve_precision("auto", cpu) == "fp32"
    assert devices.resolve_precision("tf32", cpu) == "fp32" and devices.resolve_precision("tf32", cuda) == "tf32"
    assert devices.resolve_precision("bf16", cpu) == "bf16"  # asked for by name: kept
    for capability, chosen in (((9, 0), "bf16"), ((8, 0), "bf16"), ((7, 5), "fp16"), ((6, 0), "fp16")):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None, c=capability: c)
        assert devices.resolve_precision("auto", cuda) == chosen  # H100, A100, a Colab T4, a P100
    for recipe in ("paper", "fast"):
        cfg = make_config("gpu", recipe=recipe)
        assert cfg.train.precision == cfg.teacher_train.precision == "auto"
    assert make_config("gpu").train.precision == "auto"


def test_a_record_states_the_precision_its_run_used(tmp_path):
    rec = run_one(make_config("smoke", method="kd", fraction=0.3), device="cpu", results_dir=tmp_path)
    assert rec["precision"] == "fp32" and rec["teacher_precision"] == "fp32"


def test_fp16_trains_with_a_gradient_scaler():
    torch.manual_seed(0)
    x = torch.randn(64, 10)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), Head(16, 2))
    cfg = TrainConfig(epochs=1, min_steps=60, batch_size=16, lr=1e-2, precision="fp16")
    info = train(model, x, y, lambda s, yb, t: F.cross_entropy(s, yb), cfg, seed=0)
    assert info["precision"] == "fp16" and math.isfinite(info["final_loss"])
    assert (predict(model, x, precision="fp16").argmax(1) == y).float().mean() > 0.9


def test_cuda_settings_turn_on_cudnn_benchmark_and_tf32_for_tf32_only_and_restore_them():
    b = torch.backends
    before = (b.cudnn.benchmark, b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32)
    for precision, tf32 in (("tf32", True), ("fp32", False), ("bf16", False)):
        with cuda_settings(torch.device("cuda"), precision):  # only flags: no GPU is touched
            assert b.cudnn.benchmark and b.cuda.matmul.allow_tf32 is tf32 and b.cudnn.allow_tf32 is tf32
        assert (b.cudnn.benchmark, b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32) == before
    with cuda_settings(torch.device("cpu"), "tf32"):
        assert (b.cudnn.benchmark, b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32) == before


def test_to_device_is_the_tensor_itself_on_the_cpu():
    t = torch.arange(5)
    assert devices.to_device(t, "cpu") is t
