"""kdlib.data: nested stratified subsets, the two built-in datasets, bring-your-own tensors."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from kdlib import data
from kdlib.errors import ConfigError

# unequal class sizes (one class of a single sample), shuffled
_COUNTS = {0: 7, 1: 13, 2: 50, 3: 1, 4: 100, 5: 33, 6: 2, 7: 25}
Y = torch.tensor(np.random.default_rng(0).permutation(np.repeat(list(_COUNTS), list(_COUNTS.values()))))
FRACTIONS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.3, 0.5, 0.7, 0.9, 1.0]


@pytest.mark.parametrize("stream", [0, 1])
@pytest.mark.parametrize("seed", range(8))
def test_nested_subset_is_nested(seed, stream):
    subsets = {f: set(data.nested_subset(Y, f, seed, stream).tolist()) for f in FRACTIONS}
    for i, small in enumerate(FRACTIONS):
        for large in FRACTIONS[i + 1:]:
            assert subsets[small] <= subsets[large], (small, large)
    assert subsets[FRACTIONS[0]] != subsets[FRACTIONS[-1]]


@pytest.mark.parametrize("fraction", FRACTIONS)
@pytest.mark.parametrize("seed,stream", [(0, 0), (3, 0), (0, 1)])
def test_nested_subset_per_class_counts(fraction, seed, stream):
    idx = data.nested_subset(Y, fraction, seed, stream)
    chosen = Y[idx]
    for c, n_c in _COUNTS.items():
        assert int((chosen == c).sum()) == max(1, round(fraction * n_c)), (c, n_c)


def test_nested_subset_counts_worked_by_hand():
    # fraction 0.1: 7 -> 1 (0.7), 13 -> 1 (1.3), 50 -> 5, 1 -> 1 (max(1, 0)), 100 -> 10, 33 -> 3, 2 -> 1 (max), 25 -> 2 (2.5)
    idx = data.nested_subset(Y, 0.1, 0)
    assert len(idx) == 1 + 1 + 5 + 1 + 10 + 3 + 1 + 2


def test_nested_subset_sorted_unique_int64():
    for seed in range(3):
        for f in (0.1, 0.5, 1.0):
            idx = data.nested_subset(Y, f, seed)
            assert idx.dtype == torch.int64
            assert torch.equal(idx, torch.sort(idx).values)
            assert len(torch.unique(idx)) == len(idx)
            assert int(idx.min()) >= 0 and int(idx.max()) < len(Y)


def test_nested_subset_deterministic_and_seed_dependent():
    a = data.nested_subset(Y, 0.3, 5)
    b = data.nested_subset(Y, 0.3, 5)
    assert torch.equal(a, b)
    others = [data.nested_subset(Y, 0.3, s) for s in range(5)]
    assert all(not torch.equal(a, o) for o in others)
    assert len({tuple(o.tolist()) for o in others}) == 5


def test_nested_subset_streams_are_independent():
    """The teacher's stream (1) never reproduces a student's subset (stream 0) for the same seed."""
    for seed in range(5):
        student = data.nested_subset(Y, 0.5, seed)
        teacher = data.nested_subset(Y, 0.5, seed, stream=1)
        assert not torch.equal(student, teacher)
        assert torch.equal(teacher, data.nested_subset(Y, 0.5, seed, stream=1))  # still deterministic


def test_nested_subset_full_fraction_is_everything():
    for seed in (0, 1, 2):
        assert torch.equal(data.nested_subset(Y, 1.0, seed), torch.arange(len(Y)))


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, float("nan")])
def test_nested_subset_bad_fraction(bad):
    with pytest.raises(ConfigError, match="fraction"):
        data.nested_subset(Y, bad, 0)


@pytest.fixture(scope="module")
def small_mnist1d():
    return data.mnist1d(n_train=200, n_val=50, n_test=50)


def test_mnist1d_shapes_and_dtypes(small_mnist1d):
    d = small_mnist1d
    assert d.x_train.shape == (200, 40) and d.x_val.shape == (50, 40) and d.x_test.shape == (50, 40)
    assert d.y_train.shape == (200,) and d.y_val.shape == (50,) and d.y_test.shape == (50,)
    for x in (d.x_train, d.x_val, d.x_test):
        assert x.dtype == torch.float32 and torch.isfinite(x).all()
    for y in (d.y_train, d.y_val, d.y_test):
        assert y.dtype == torch.int64
    assert d.num_classes == 10 and d.input_shape == (40,)
    assert set(d.y_train.tolist()) == set(range(10))
    assert int(torch.cat([d.y_train, d.y_val, d.y_test]).max()) == 9
    assert d.name == "mnist1d"


def test_mnist1d_deterministic_by_seed():
    make = data.mnist1d.__wrapped__  # bypass the lru_cache so the data really are generated twice
    a, b = make(n_train=100, n_val=20, n_test=20, seed=3), make(n_train=100, n_val=20, n_test=20, seed=3)
    for split in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert torch.equal(getattr(a, split), getattr(b, split))
    c = make(n_train=100, n_val=20, n_test=20, seed=4)
    assert not torch.equal(a.x_train, c.x_train)
    assert not torch.equal(a.y_train, c.y_train)


def test_mnist1d_splits_are_disjoint_cuts_of_one_pool():
    d = data.mnist1d.__wrapped__(n_train=100, n_val=20, n_test=20, seed=0)
    rows = torch.cat([d.x_train, d.x_val, d.x_test])
    assert len({tuple(r.tolist()) for r in rows}) == 140


def test_mnist1d_leaves_numpy_global_rng_untouched():
    np.random.seed(1234)
    before = np.random.get_state()
    data.mnist1d.__wrapped__(n_train=60, n_val=20, n_test=20, seed=9)
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]


def test_mnist1d_leaves_python_random_state_untouched():
    """The `mnist1d` package's set_seed also calls random.seed(seed); the caller's state must survive."""
    random.seed(1234)
    before = random.getstate()
    data.mnist1d.__wrapped__(n_train=60, n_val=20, n_test=20, seed=9)
    unchanged = random.getstate() == before
    assert unchanged, "kdlib.data.mnist1d reseeded Python's global `random` module (mnist1d's set_seed)"


def test_mnist1d_too_small_is_config_error():
    with pytest.raises(ConfigError, match="n_val"):
        data.mnist1d.__wrapped__(n_train=100, n_val=5, n_test=20)


def test_digits():
    d = data.digits()
    assert len(d.y_train) + len(d.y_val) + len(d.y_test) == 1797
    assert (len(d.y_val), len(d.y_test)) == (300, 300)
    assert d.input_shape == (64,) and d.num_classes == 10
    x = torch.cat([d.x_train, d.x_val, d.x_test])
    assert x.dtype == torch.float32
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0  # pixels 0..16 mapped to [-1, 1]
    assert set(torch.cat([d.y_train, d.y_val, d.y_test]).tolist()) == set(range(10))
    e = data.digits.__wrapped__(seed=1)
    assert not torch.equal(d.x_train, e.x_train)
    # the same images, another order: the class histogram over all splits is unchanged
    assert torch.equal(torch.bincount(torch.cat([d.y_train, d.y_val, d.y_test])),
                       torch.bincount(torch.cat([e.y_train, e.y_val, e.y_test])))


def test_from_tensors_round_trip():
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(n, 6)) for n in (12, 5, 4)]
    ys = [rng.integers(0, 3, size=n).astype(np.int32) for n in (12, 5, 4)]
    ys[0][:3] = [0, 1, 2]
    d = data.from_tensors(xs[0], ys[0], xs[1], ys[1], xs[2], ys[2])
    assert d.num_classes == 3 and d.name == "custom" and d.input_shape == (6,)
    for x, y, tx, ty in zip(xs, ys, (d.x_train, d.x_val, d.x_test), (d.y_train, d.y_val, d.y_test)):
        assert tx.dtype == torch.float32 and ty.dtype == torch.int64
        np.testing.assert_allclose(tx.numpy(), x.astype(np.float32))
        np.testing.assert_array_equal(ty.numpy(), y)
    # tensors work too, and an explicit num_classes is kept
    d2 = data.from_tensors(d.x_train, d.y_train, d.x_val, d.y_val, d.x_test, d.y_test, num_classes=5, name="mine")
    assert d2.num_classes == 5 and d2.name == "mine" and torch.equal(d2.x_train, d.x_train)
    moved = d.to("cpu")
    assert torch.equal(moved.x_test, d.x_test) and moved.num_classes == 3


def test_from_tensors_rejects_mismatches():
    x, y = np.zeros((10, 4)), np.zeros(10, dtype=int)
    with pytest.raises(ConfigError, match="train"):
        data.from_tensors(x, y[:9], x, y, x, y)
    with pytest.raises(ConfigError, match="test"):
        data.from_tensors(x, y, x, y, x[:8], y)
    with pytest.raises(ConfigError, match="input shape"):
        data.from_tensors(x, y, np.zeros((10, 5)), y, x, y)
    with pytest.raises(ConfigError, match="labels"):
        data.from_tensors(x, y + 3, x, y, x, y, num_classes=2)


def test_load_by_name_and_unknown_name():
    assert data.load("mnist1d", n_train=200, n_val=50, n_test=50).x_train.shape == (200, 40)
    with pytest.raises(ConfigError) as e:
        data.load("nope")
    msg = str(e.value)
    assert "nope" in msg and "mnist1d" in msg and "digits" in msg and "dataset" in msg
