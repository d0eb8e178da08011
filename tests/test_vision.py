"""CIFAR groundwork (no download, no GPU): conversion from torchvision-style objects, the split, batched augmentation,
normalisation, and one training step of every CIFAR model on the CPU."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from kdlib import data, vision
from kdlib.models import CIFAR_MODELS, build_cifar_model
from kdlib.errors import ConfigError


def fake_cifar(n: int, seed: int = 0, size: int = 32, classes: int = 10) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    return SimpleNamespace(data=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
                           targets=list(rng.integers(0, classes, n)))


def test_to_tensors_is_chw_uint8_and_keeps_every_pixel():
    ds = fake_cifar(5)
    x, y = vision.to_tensors(ds)
    assert x.dtype == torch.uint8 and x.shape == (5, 3, 32, 32) and y.dtype == torch.long
    assert torch.equal(x.permute(0, 2, 3, 1), torch.from_numpy(ds.data)) and y.tolist() == ds.targets
    with pytest.raises(ConfigError, match="expected .data as uint8"):
        vision.to_tensors(SimpleNamespace(data=ds.data.astype(np.float32), targets=ds.targets))
    with pytest.raises(ConfigError, match=r".targets has shape \(4,\); expected \(5,\)"):
        vision.to_tensors(SimpleNamespace(data=ds.data, targets=ds.targets[:4]))


def test_cifar_uses_torchvision_datasets_and_splits_validation(monkeypatch):
    from torchvision import datasets

    calls = []

    class Fake:
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            ds = fake_cifar(50 if train else 20, seed=int(train), classes=100)
            self.data, self.targets = ds.data, ds.targets

    monkeypatch.setattr(datasets, "CIFAR100", Fake)
    d = data.cifar("cifar100", root="somewhere", n_val=10, seed=3)
    assert calls == [("somewhere", True, True), ("somewhere", False, True)]
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (40, 10, 20) and d.num_classes == 100
    assert d.x_train.dtype == torch.uint8 and d.input_shape == (3, 32, 32)
    every = torch.cat([d.x_train, d.x_val]).flatten(1)  # train and val partition the official training images
    assert len({tuple(r.tolist()) for r in every}) == 50
    with pytest.raises(ConfigError, match="dataset='cifar5' is not known"):
        data.cifar("cifar5")


def test_augment_crops_within_the_padding_and_flips_as_a_mirror():
    x = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    out = vision.augment(x, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    seen = set()
    for i in range(len(x)):  # every output is some window of the padded image, mirrored or not
        found = [(dy, dx, m) for dy in range(5) for dx in range(5) for m in (False, True)
                 if torch.equal(out[i], (lambda w: w.flip(-1) if m else w)(padded[i, :, dy:dy + 8, dx:dx + 8]))]
        assert found, i
        seen.add(found[0])
    assert len(seen) > 10  # drawn per image, not one crop for the batch
    same = vision.augment(x, torch.Generator().manual_seed(0), pad=2)
    assert torch.equal(out, same)  # reproducible from the generator


def test_augment_without_padding_is_identity_or_mirror():
    x = torch.randint(0, 256, (200, 3, 4, 4), dtype=torch.uint8)
    out = vision.augment(x, torch.Generator().manual_seed(1), pad=0)
    mirrored = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert (mirrored | kept).all() and 60 < int(mirrored.sum()) < 140  # about half mirrored
    assert torch.equal(vision.augment(x, torch.Generator().manual_seed(1), pad=0, flip=False), x)


def test_normalize_by_hand():
    norm = vision.Normalize((0.5, 0.25, 0.0), (0.5, 0.25, 1.0))
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    out = norm(x)
    assert out.dtype == torch.float32 and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([1.0, 3.0, 1.0]))
    assert torch.allclose(norm(x.float()), out)


@pytest.mark.parametrize("name", sorted(CIFAR_MODELS))
def test_one_training_step_of_every_cifar_model(name):
    torch.manual_seed(0)
    model = build_cifar_model(name, "cifar100")
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 100, (4,))
    logits, feats = model(x, return_features=True)
    assert logits.shape == (4, 100) and len(feats) == len(model.blocks)
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss = torch.nn.functional.cross_entropy(model(vision.augment(x, torch.Generator().manual_seed(0))), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_model_sizes():
    count = lambda name: sum(p.numel() for p in build_cifar_model(name).parameters())
    assert 11.0e6 < count("resnet18") < 11.3e6  # the CIFAR ResNet-18: about 11.2M parameters
    assert 0.26e6 < count("resnet20") < 0.28e6 and 0.84e6 < count("resnet56") < 0.87e6  # He et al.: 0.27M, 0.85M
    assert count("convnet-s") < count("convnet-l")


def test_synthetic_images_are_class_coloured_uint8_within_range():
    x, y = vision.synthetic(400, seed=1, classes=4)
    assert x.dtype == np.uint8 and x.shape == (400, 32, 32, 3) and len(y) == 400 and set(y) <= {0, 1, 2, 3}
    y = np.asarray(y)
    means = np.stack([x[y == c].reshape(-1, 3).mean(0) for c in range(4)])  # colour + mean noise (19.5)
    colours = np.random.default_rng(123).integers(40, 216, (4, 3), dtype=np.uint8)
    assert np.abs(means - colours - 19.5).max() < 1.0
    assert x.min() >= 40 and x.max() <= 254  # colour in [40, 215] plus noise in [0, 39]: no wrap-around
    assert np.array_equal(vision.synthetic(400, seed=1, classes=4)[0], x)  # seeded
