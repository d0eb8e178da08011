"""kdlib.train: the step rule, the batch sampler, divergence, devices, and CPU determinism of whole runs."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from kdlib import sweep, tasks
from kdlib.config import make_config
from kdlib.errors import ConfigError
from kdlib.models import build_model
from kdlib.train import Diverged, TrainConfig, batches, lr_factor, num_steps, resolve_device, train


@pytest.mark.parametrize("n, cfg, expected", [
    (4000, TrainConfig(epochs=60, min_steps=1000, batch_size=128), 60 * 31),   # 4000 // 128 = 31 -> 1860
    (4000, TrainConfig(epochs=10, min_steps=1000, batch_size=128), 1000),      # 310 < floor
    (80, TrainConfig(epochs=60, min_steps=1000, batch_size=128), 1000),        # B = 80, 60 steps < floor
    (80, TrainConfig(epochs=60, min_steps=10, batch_size=128), 60),            # B = min(128, 80) = 80: 1 per epoch
    (200, TrainConfig(epochs=3, min_steps=1, batch_size=64), 9),               # 200 // 64 = 3
    (64, TrainConfig(epochs=3, min_steps=1, batch_size=64), 3),
    (63, TrainConfig(epochs=3, min_steps=1, batch_size=64), 3),                # B = 63
    (129, TrainConfig(epochs=7, min_steps=5, batch_size=64), 14),              # 129 // 64 = 2
    (40, TrainConfig(epochs=2, min_steps=40, batch_size=64), 40),              # smoke student at 10% of 400
])
def test_num_steps(n, cfg, expected):
    assert num_steps(n, cfg) == expected


def test_batches_sizes_and_epochs_without_repeats():
    n, batch, steps = 12, 3, 10  # 4 batches per epoch: epochs of 4, 4 and 2 batches
    chunks = list(batches(n, batch, steps, torch.Generator().manual_seed(0), "cpu"))
    assert len(chunks) == steps
    assert all(c.shape == (batch,) and c.dtype == torch.int64 for c in chunks)
    for start in (0, 4):
        epoch = torch.cat(chunks[start:start + 4])
        assert sorted(epoch.tolist()) == list(range(n))  # a full permutation
    last = torch.cat(chunks[8:]).tolist()
    assert len(set(last)) == len(last) == 6
    # reshuffled every epoch
    assert torch.cat(chunks[0:4]).tolist() != torch.cat(chunks[4:8]).tolist()


def test_batches_drop_ragged_end():
    n, batch, steps = 10, 3, 7  # 3 batches per epoch, one sample left out each epoch
    chunks = list(batches(n, batch, steps, torch.Generator().manual_seed(1), "cpu"))
    assert len(chunks) == 7 and all(len(c) == 3 for c in chunks)
    for start in (0, 3):
        epoch = torch.cat(chunks[start:start + 3]).tolist()
        assert len(set(epoch)) == 9 and set(epoch) <= set(range(n))


def test_batches_deterministic_by_generator_seed():
    a = torch.cat(list(batches(50, 8, 20, torch.Generator().manual_seed(3), "cpu")))
    b = torch.cat(list(batches(50, 8, 20, torch.Generator().manual_seed(3), "cpu")))
    c = torch.cat(list(batches(50, 8, 20, torch.Generator().manual_seed(4), "cpu")))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_lr_factor_warmup_then_cosine():
    total, warmup = 100, 0.05  # 5 warm-up steps
    assert [lr_factor(s, total, warmup) for s in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert lr_factor(5, total, warmup) == pytest.approx(1.0)
    assert lr_factor(5 + 95 // 2, total, warmup) == pytest.approx(0.5 * (1 + math.cos(math.pi * 47 / 95)))
    assert lr_factor(99, total, warmup) == pytest.approx(0.5 * (1 + math.cos(math.pi * 94 / 95)))
    assert lr_factor(99, total, warmup) < 0.01


def test_train_reports_steps_and_learns():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 40, generator=g)
    y = (x[:, 0] > 0).long()
    torch.manual_seed(0)
    model = build_model("mlp-tiny", (40,), 2)
    before = F.cross_entropy(model(x), y).item()
    info = train(model, x, y, lambda s, yy, t: F.cross_entropy(s, yy),
                 TrainConfig(epochs=20, min_steps=50, batch_size=32, lr=1e-2), seed=0)
    assert info["steps"] == max(50, 20 * 4) == 80
    assert math.isfinite(info["final_loss"])
    assert F.cross_entropy(model(x), y).item() < 0.5 * before


def _diverging_run(min_steps: int, **train_kwargs):
    """Train a tiny MLP with lr=1e20 (NaN within a few steps); return the Diverged error and every loss seen."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(120, 40, generator=g), torch.randint(0, 10, (120,), generator=g)
    seen = []

    def loss_fn(s, yy, _t):
        loss = F.cross_entropy(s, yy)
        seen.append(loss.item())
        return loss

    torch.manual_seed(0)
    with pytest.raises(Diverged) as e:
        train(build_model("mlp-tiny", (40,), 10), x, y, loss_fn,
              TrainConfig(epochs=2, min_steps=min_steps, batch_size=64, lr=1e20), seed=0, **train_kwargs)
    first_bad = next(i for i, v in enumerate(seen) if not math.isfinite(v)) + 1
    return e.value, seen, first_bad


def test_train_raises_diverged_at_first_nonfinite_check():
    err, seen, first_bad = _diverging_run(40, check_every=1)
    assert isinstance(err.step, int) and err.step == first_bad == len(seen)
    assert not math.isfinite(err.loss)


def test_diverged_step_is_exact_without_per_step_sync():
    """With the default check interval the loop still reports the first non-finite step, not the check step."""
    err, seen, first_bad = _diverging_run(150)
    assert first_bad < 100 and len(seen) == 100  # noticed at the first check, after 100 steps
    assert err.step == first_bad


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    return tmp_path_factory.mktemp("train_runs")


def test_run_one_is_deterministic_on_cpu(run_dirs):
    import kdlib.teachers

    cfg = make_config("smoke", method="kd", fraction=0.3, seed=0)
    a = sweep.run_one(cfg, "cpu", run_dirs / "a")
    kdlib.teachers._MEMORY.clear()  # the second run trains its own teacher in its own folder
    b = sweep.run_one(cfg, "cpu", run_dirs / "b")
    assert (run_dirs / "b" / "teachers" / f"{cfg.teacher_key()}.pt").exists()
    assert a["status"] == b["status"] == "ok"
    assert a["key"] == b["key"] == cfg.key()
    counts = torch.bincount(tasks.dataset_for(cfg).y_train).tolist()
    n_sub = sum(max(1, round(0.3 * n_c)) for n_c in counts)
    assert sum(counts) == 400 and abs(n_sub - 120) <= 5
    assert a["n_train"] == b["n_train"] == n_sub
    assert a["steps"] == b["steps"] == num_steps(n_sub, cfg.train) == max(cfg.train.min_steps, 2 * (n_sub // 64))
    assert a["metrics"] == b["metrics"]  # exact equality, every metric
    assert 0.0 <= a["metrics"]["test_acc"] <= 1.0
    assert {"test_acc", "test_nll", "test_ece", "test_agreement", "test_kl_teacher", "val_acc", "train_acc",
            "teacher_test_acc"} <= set(a["metrics"])
    # another student seed with the same teacher (seed 0's, asked for explicitly): only the student's metrics move
    c = sweep.run_one(make_config("smoke", method="kd", fraction=0.3, seed=1, teacher_seed=0), "cpu", run_dirs / "a")
    assert c["key"] != a["key"]
    assert c["metrics"]["teacher_test_acc"] == a["metrics"]["teacher_test_acc"]  # same teacher
    student_metrics = [k for k in a["metrics"] if k != "teacher_test_acc"]
    assert [c["metrics"][k] for k in student_metrics] != [a["metrics"][k] for k in student_metrics]
    assert c["metrics"]["test_nll"] != a["metrics"]["test_nll"]


def test_run_one_diverged_record(tmp_path):
    cfg = make_config("smoke", method="labels", teacher="none", student="mlp-tiny", fraction=0.3, lr=1e20)
    rec = sweep.run_one(cfg, "cpu", tmp_path)
    assert rec["status"] == "diverged"
    assert isinstance(rec["diverged_step"], int) and 1 <= rec["diverged_step"] <= num_steps(rec["n_train"], cfg.train)
    assert rec["metrics"] == {} and rec["steps"] is None
    assert rec["key"] == cfg.key()
    # a sweep stores the diverged record (it is a result, not a crash) and tabulates it
    df = sweep.sweep([cfg], results_dir=tmp_path, device="cpu", progress=False)
    assert list(df["status"]) == ["diverged"]
    assert len(list((tmp_path / "runs").glob("*.json"))) == 1


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_resolve_device_cuda_unavailable(name):
    with pytest.raises(ConfigError, match="device") as e:
        resolve_device(name)
    assert name in str(e.value)


@pytest.mark.parametrize("name", ["banana", "gpu", ""])
def test_resolve_device_bad_name(name):
    with pytest.raises(ConfigError, match="device"):
        resolve_device(name)


def test_train_config_validation():
    for field, bad in (("epochs", 0), ("min_steps", 0), ("batch_size", 0), ("lr", 0.0), ("lr", -1.0),
                       ("weight_decay", -0.1), ("warmup", 1.0)):
        with pytest.raises(ConfigError, match=field):
            TrainConfig(**{field: bad}).validate()
    TrainConfig().validate()
