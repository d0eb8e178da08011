"""Wall time of the C1 sweep on CIFAR-10 at the `fast` recipe: 6 fractions × 2 methods × 3 seeds, the teacher
included, at the recipe's learning rate (no validation grid), in a fresh results folder; and the time of one full-data
`fast` run after a warm-up run. Prints the device.

    python benchmarks/bench_c1_cifar.py [--device auto] [--recipe fast] [--seeds 0 1 2] [--synthetic N] [--workers W]

CIFAR-10 is read from the data folder (kdlib.text.default_data_dir(), or $KDLIB_DATA) and downloaded there by
torchvision if missing. `--synthetic N` uses N training images (and N/5 test images) made here instead: class-coloured
noise with CIFAR's shapes, for machines without the dataset (the worker processes get them through a sitecustomize.py
put on their PYTHONPATH). Their times are real; their accuracies mean nothing.
`--profile smoke` runs the smoke budget (seconds on a CPU, to check the script).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from kdlib import __version__
from kdlib.config import FRACTIONS, grid
from kdlib.executors import resolve_workers
from kdlib.store import Store
from kdlib.run import run_one
from kdlib.sweep import sweep
from kdlib.tasks import dataset_for
from kdlib.teachers import get_teacher
from kdlib.train import device_name, resolve_device


SITECUSTOMIZE = """# written by benchmarks/bench_c1_cifar.py --synthetic: made-up CIFAR-10 in every process started with this
from torchvision import datasets
from kdlib.vision import synthetic


class Synthetic:
    def __init__(self, root, train=True, download=False, **_):
        self.data, self.targets = synthetic({n} if train else max(10, {n} // 5), seed=int(train))


datasets.CIFAR10 = Synthetic
"""


def use_synthetic(n_train: int, folder: Path) -> None:
    """Replace torchvision's CIFAR10 by kdlib.vision.synthetic images (n_train training, n_train // 5 test), here and
    in every Python process started from here (the sweep's workers)."""
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE.format(n=int(n_train)))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    exec(compile(SITECUSTOMIZE.format(n=int(n_train)), "sitecustomize", "exec"), {})


def sync(dev) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--profile", default="gpu", help="gpu (the recipe's budget) or smoke (a few steps per run)")
    p.add_argument("--recipe", default="fast")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--synthetic", type=int, default=None, metavar="N", help="N made-up training images, no CIFAR-10")
    p.add_argument("--workers", type=int, default=None, help="runs at once (default: $KDLIB_WORKERS, else one per "
                                                                "core; on CUDA they share the visible GPUs)")
    a = p.parse_args()
    dev = resolve_device(a.device)
    if a.synthetic:
        use_synthetic(a.synthetic, Path(tempfile.mkdtemp(prefix="kdlib-synthetic-")))
    configs = grid(a.profile, ("labels", "kd"), FRACTIONS, a.seeds, dataset="cifar10", recipe=a.recipe)
    kd = configs[-1]
    workers = resolve_workers(a.workers)
    print(f"device: {dev} ({device_name(dev)}), torch {torch.__version__}, kdlib {__version__}, {workers} worker(s)")
    print(f"C1 sweep on CIFAR-10{' (synthetic images)' if a.synthetic else ''}: recipe {a.recipe}, profile "
          f"{a.profile}, {len(configs)} runs ({len(FRACTIONS)} fractions × 2 methods × {len(a.seeds)} seeds), "
          f"student {kd.student}, teacher {kd.teacher}, {kd.train}")

    start = time.perf_counter()
    data = dataset_for(kd, dev)
    sync(dev)
    t_data = time.perf_counter() - start
    print(f"data to the device: {t_data:.1f} s ({data})")

    with tempfile.TemporaryDirectory() as scratch:  # warm-up: CUDA context, cuDNN's choices, allocator
        warm = grid(a.profile, ("labels",), [1.0], [0], dataset="cifar10", recipe=a.recipe)[0]
        t = time.perf_counter()
        run_one(warm, str(dev), scratch)
        sync(dev)
        print(f"warm-up run (labels, α = 1): {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        record = run_one(warm, str(dev), scratch)
        sync(dev)
        print(f"one full-data {a.recipe} run after warm-up: {time.perf_counter() - t:.1f} s "
              f"({record['steps']} steps, training {record['wall_time_s']:.1f} s, test accuracy "
              f"{record['metrics']['test_acc']:.4f})")

    with tempfile.TemporaryDirectory() as results:
        t = time.perf_counter()
        teacher = get_teacher(kd, data, dev, results)
        sync(dev)
        t_teacher = time.perf_counter() - t
        df = sweep(configs, results, str(dev), progress=False, workers=workers)
        sync(dev)
        t_sweep = time.perf_counter() - t - t_teacher
        assert len(Store(results)) == len(configs)
    print(f"teacher: {t_teacher:.1f} s, test accuracy {teacher.metrics['test_acc']:.4f}")
    table = df.groupby(["fraction", "method"]).agg(runs=("test_acc", "size"), test_acc=("test_acc", "mean"),
                                                   train_s=("wall_time_s", "mean"), steps=("steps", "first"))
    print(table.round(4).to_string())
    total = t_data + t_teacher + t_sweep
    print(f"C1 sweep: students {t_sweep:.1f} s + teacher {t_teacher:.1f} s + data to the device {t_data:.1f} s = "
          f"{total:.1f} s ({total / 60:.2f} min); the warm-up runs are not counted")


if __name__ == "__main__":
    main()
