"""Small learnable stand-ins for CIFAR-10/100 (no download): `kdlib.vision.synthetic` images behind torchvision's
CIFAR classes.

`install(monkeypatch)` replaces torchvision's classes in this process; `kernel_hook(folder)` writes a sitecustomize.py
that does the same in every Python process started with `folder` on PYTHONPATH (a papermill kernel, say)."""
from __future__ import annotations

from kdlib import vision

N_TRAIN, N_TEST = 300, 100


def fake_class(classes: int):
    class Fake:
        """torchvision.datasets.CIFAR10/100's interface: .data (uint8 HWC array) and .targets (a list)."""

        def __init__(self, root, train=True, download=False, **_):
            self.data, self.targets = vision.synthetic(N_TRAIN if train else N_TEST, seed=int(train), classes=classes)

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
