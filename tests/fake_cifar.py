"""Small learnable stand-ins for CIFAR-10/100 (no download): images whose class sets their mean colour, plus noise.

`install(monkeypatch)` replaces torchvision's classes in this process; `kernel_hook(folder)` writes a sitecustomize.py
that does the same in every Python process started with `folder` on PYTHONPATH (a papermill kernel, say)."""
from __future__ import annotations

import numpy as np

N_TRAIN, N_TEST = 300, 100


def learnable_cifar(n: int, seed: int, classes: int = 10):
    """(uint8 [n, 32, 32, 3] images, list of n labels): the class sets the mean colour; noise of std 25."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    colours = np.random.default_rng(123).integers(40, 216, (classes, 3))
    x = colours[y][:, None, None, :] + rng.normal(0, 25, (n, 32, 32, 3))
    return np.clip(x, 0, 255).astype(np.uint8), [int(v) for v in y]


def fake_class(classes: int):
    class Fake:
        """torchvision.datasets.CIFAR10/100's interface: .data (uint8 HWC array) and .targets (a list)."""

        def __init__(self, root, train=True, download=False, **_):
            self.data, self.targets = learnable_cifar(N_TRAIN if train else N_TEST, seed=int(train), classes=classes)

    return Fake


def install(monkeypatch) -> None:
    from torchvision import datasets

    monkeypatch.setattr(datasets, "CIFAR10", fake_class(10))
    monkeypatch.setattr(datasets, "CIFAR100", fake_class(100))


HOOK = '''"""Written by tests/fake_cifar.py: torchvision's CIFAR classes replaced by small fake ones in this process."""
import sys

sys.path.insert(0, {tests!r})
import fake_cifar  # noqa: E402
from torchvision import datasets  # noqa: E402

datasets.CIFAR10, datasets.CIFAR100 = fake_cifar.fake_class(10), fake_cifar.fake_class(100)
sys.path.remove({tests!r})
'''


def kernel_hook(folder) -> str:
    """Write <folder>/sitecustomize.py (see the module's docstring); returns the folder for PYTHONPATH."""
    from pathlib import Path

    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / "sitecustomize.py").write_text(HOOK.format(tests=str(Path(__file__).resolve().parent)))
    return str(folder)
