"""The reader's own data and models (issue 16): the fingerprint and the run keys, the CSV, .npz and array routes, a
factory model, a checkpoint teacher, the audit's selection rule and answer, and every bad input (each a ConfigError
naming the parameter and the value, raised before anything is written or trained)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from kdlib import analysis, owndata, tasks
from kdlib.audit import SELECTION, choose, prepare
from kdlib.config import RunConfig, make_config, make_lm_config
from kdlib.errors import ConfigError
from kdlib.models import build_for
from kdlib.run import run_one
from kdlib.store import Store
from kdlib.train import predict

# a tiny budget: every run a few dozen steps
FAST = dict(profile="smoke", fractions=[0.2, 1.0], seeds=[0], taus=[2.0], lr_grid=[1e-2],
            train={"min_steps": 100, "epochs": 1}, teacher_train={"min_steps": 200})


def blobs(n_per_class=60, k=3, d=4, seed=0) -> pd.DataFrame:
    """k well-separated Gaussian classes in d dimensions, as a frame with columns f0..f{d-1} and "label"."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(3.0 * c, 1.0, size=(n_per_class, d)) for c in range(k)])
    y = np.repeat(np.arange(k), n_per_class)
    order = rng.permutation(len(y))
    frame = pd.DataFrame(x[order], columns=[f"f{i}" for i in range(d)])
    frame["label"] = y[order]
    return frame


@pytest.fixture
def csv(tmp_path) -> Path:
    path = tmp_path / "in" / "blobs.csv"
    path.parent.mkdir()
    blobs().to_csv(path, index=False)
    return path


def _raises(match: str, fn, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as err:
        fn(*args, **kwargs)
    assert match in str(err.value), str(err.value)
    return str(err.value)


# ---- the keys of everything that existed before stay as they were

def test_existing_keys_are_unchanged():
    """Hard-coded from main before own data existed: no existing run or teacher is recomputed. (kdlib 0.6 changed
    the cpu students' step floor, 1,000 -> 400, so their keys changed then; the teachers' did not.)"""
    assert RunConfig().key() == "72b33f3bd304a4c6" and RunConfig().teacher_key() == "669ed43fc7a402ab"
    # kdlib 0.9: a run of seed s distils from the teacher of seed s; the old key is the one with teacher seed 0
    kd = make_config("cpu", method="kd", fraction=0.05, seed=1, teacher_seed=0)
    assert (kd.key(), kd.teacher_key()) == ("e5fdb9992e2b3fda", "3d2f9504307575d6")
    assert make_config("cpu", method="labels", fraction=0.1, seed=0).key() == "bf5f360b8ea816e5"
    digits = make_config("smoke", dataset="digits", method="kd", fraction=0.3)
    assert (digits.key(), digits.teacher_key()) == ("08a30fc4bfb29d57", "603988f01d237fbd")
    assert make_lm_config("cpu", method="kd", fraction=0.1).key() == "191d3970a03ea751"


# ---- fingerprint and keys

def test_fingerprint_follows_content_not_file_name_or_format(csv, tmp_path):
    a = owndata.read(csv, "label")
    moved = tmp_path / "elsewhere" / "renamed_copy.csv"
    moved.parent.mkdir()
    shutil.copy(csv, moved)
    assert owndata.read(moved, "label").fingerprint == a.fingerprint
    frame = pd.read_csv(csv)  # the same numbers as an .npz file of x, y
    npz = tmp_path / "blobs.npz"
    np.savez(npz, x=frame[[f"f{i}" for i in range(4)]].to_numpy(), y=frame["label"].to_numpy())
    assert owndata.read(npz).fingerprint == a.fingerprint
    assert len(a.fingerprint) == 64 and a.name == "blobs"
    frame.loc[17, "f2"] += 1e-3  # one value changed
    changed = tmp_path / "changed.csv"
    frame.to_csv(changed, index=False)
    assert owndata.read(changed, "label").fingerprint != a.fingerprint
    # what the models see decides it: another split or no standardisation is other data
    assert owndata.read(csv, "label", split_seed=1).fingerprint != a.fingerprint
    assert owndata.read(csv, "label", standardize=False).fingerprint != a.fingerprint


def test_moving_the_file_recomputes_nothing_and_a_changed_value_recomputes(csv, tmp_path):
    results = tmp_path / "results"
    first = prepare(csv, "label", results_dir=results, figures_dir=tmp_path / "figures", **FAST)
    first.run()
    grid = first.grid()
    store = Store(results)
    assert all(store.get(c.key()) is not None for c in grid)
    moved = tmp_path / "moved" / "other_name.csv"
    moved.parent.mkdir()
    shutil.move(csv, moved)
    again = prepare(moved, "label", results_dir=results, figures_dir=tmp_path / "figures", **FAST)
    assert [c.key() for c in again.tuning_configs()] == [c.key() for c in first.tuning_configs()]
    assert [c.key() for c in again.grid()] == [c.key() for c in grid]  # all stored: nothing to compute
    frame = pd.read_csv(moved)
    frame.loc[0, "f0"] = 42.0
    frame.to_csv(moved, index=False)
    changed = prepare(moved, "label", results_dir=results, figures_dir=tmp_path / "figures", **FAST)
    configs = changed.tuning_configs()
    assert all(store.get(c.key()) is None for c in configs)
    assert configs[0].teacher_key() != first.tuning_configs()[0].teacher_key()  # the teacher is retrained too
    assert configs[0].data == {"fingerprint": changed.own.fingerprint}  # no path in the key


def test_a_worker_loads_the_data_by_fingerprint_from_results_dir(csv, tmp_path):
    """A fresh process knows nothing but the config and results_dir: the data comes from <results_dir>/data/."""
    results = tmp_path / "results"
    a = prepare(csv, "label", results_dir=results, figures_dir=tmp_path / "figures", **FAST)
    path = owndata.data_path(results, a.own.fingerprint)
    assert path.is_file()
    cfg = a.make("kd", 0.2, 0, 1e-2, 2.0)
    owndata._MEMORY.clear()
    tasks._own_on.cache_clear()
    csv.unlink()  # the original file is gone too
    data = tasks.dataset_for(cfg, "cpu", results)
    assert owndata.fingerprint(data) == a.own.fingerprint
    record = run_one(cfg, "cpu", results)
    assert record["status"] == "ok" and record["n_train"] == 3 * round(0.2 * 36)  # 36 training rows per class
    owndata._MEMORY.clear()
    tasks._own_on.cache_clear()
    _raises("is not stored in", tasks.dataset_for, cfg, "cpu", tmp_path / "empty")
    with np.load(path) as z:  # one value changed in the stored file: it no longer holds the data of its name
        arrays = {k: z[k].copy() for k in z.files}
    arrays["x_train"][0, 0] += 1
    np.savez(path, **arrays)
    owndata._MEMORY.clear()
    _raises("does not hold the data of its name", owndata.stored, a.own.fingerprint, results)


# ---- the routes

def test_csv_route_draws_a_class_stratified_split(csv):
    own = owndata.read(csv, "label", val_share=0.2, test_share=0.2)
    d = own.data
    for split, n in (("train", 36), ("val", 12), ("test", 12)):  # 60 per class: round(0.2 * 60) = 12
        assert torch.bincount(getattr(d, f"y_{split}")).tolist() == [n] * 3
    assert d.input_shape == (4,) and d.num_classes == 3 and own.features == ("f0", "f1", "f2", "f3")
    assert abs(float(d.x_train.mean())) < 1e-6 and abs(float(d.x_train.std(0).mean()) - 1) < 0.02  # standardised
    raw = owndata.read(csv, "label", standardize=False).data
    frame = pd.read_csv(csv)
    assert float(raw.x_train.sum() + raw.x_val.sum() + raw.x_test.sum()) == pytest.approx(
        frame[["f0", "f1", "f2", "f3"]].to_numpy().sum(), rel=1e-5)


def test_csv_route_with_the_readers_own_split_and_features(tmp_path):
    frame = blobs()
    frame["id"] = np.arange(len(frame))  # a column left out with features=
    frame["split"] = ["train"] * 100 + ["val"] * 40 + ["test"] * 40
    path = tmp_path / "split.csv"
    frame.to_csv(path, index=False)
    own = owndata.read(path, "label", features=["f0", "f1", "f3"], split_column="split", standardize=False)
    d = own.data
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (100, 40, 40) and d.input_shape == (3,)
    assert torch.equal(d.y_val, torch.tensor(frame["label"].to_numpy()[100:140]))
    assert torch.allclose(d.x_test[:, 2], torch.tensor(frame["f3"].to_numpy()[140:], dtype=torch.float32))
    assert "own" in own.split


def test_npz_and_array_routes(tmp_path):
    rng = np.random.default_rng(0)
    splits = {s: (rng.normal(size=(n, 2, 5)).astype(np.float32), np.arange(n) % 2) for s, n in
              (("train", 20), ("val", 6), ("test", 8))}
    npz = tmp_path / "own_split.npz"
    np.savez(npz, **{f"{a}_{s}": v for s, (x, y) in splits.items() for a, v in (("x", x), ("y", y))})
    from_file = owndata.read(npz, standardize=False)
    from_arrays = owndata.read(splits, standardize=False)
    from_tensors = owndata.read({s: (torch.tensor(x), torch.tensor(y)) for s, (x, y) in splits.items()},
                                standardize=False)
    assert from_file.fingerprint == from_arrays.fingerprint == from_tensors.fingerprint
    d = from_file.data
    assert d.input_shape == (2, 5) and len(d.y_test) == 8 and torch.equal(d.x_val, torch.tensor(splits["val"][0]))
    assert owndata.read(d, standardize=False).fingerprint == from_file.fingerprint  # a kdlib Dataset as it is
    _raises("features=['a'] applies to CSV files only", owndata.read, npz, features=["a"])
    pair = owndata.read((np.concatenate([x for x, _ in splits.values()]),
                         np.concatenate([y for _, y in splits.values()])), split_seed=3)
    assert len(pair.data.y_train) + len(pair.data.y_val) + len(pair.data.y_test) == 34 and pair.name == "own"


def test_min_fraction_is_the_smallest_alpha_that_keeps_two_per_class():
    for n in range(2, 400):
        a = owndata.min_fraction(n)
        assert int(round(a * n)) >= 2, n  # it works ...
        assert 1.5 / n - 1e-12 <= a <= 1.5 / n * 1.01 + 1e-9, n  # ... and is 1.5 / n rounded up to 3 digits
        assert int(round(1.49 / n * n)) < 2  # below 1.5 / n a class keeps fewer than two
    assert owndata.min_fraction(1) is None and owndata.min_fraction(40) == 0.0375


# ---- the reader's models

def test_a_factory_student_is_built_checked_and_trained(csv, tmp_path):
    a = prepare(csv, "label", student="own_models:small_net", results_dir=tmp_path / "results",
                figures_dir=tmp_path / "figures", **FAST)
    result = a.run()
    ok = result.df[result.df["status"] == "ok"]
    assert set(ok["student"]) == {"own_models:small_net"} and len(ok) == 4
    assert ok[ok["fraction"] == 1.0]["test_acc"].min() > 0.9  # the blobs are separable
    assert "mean ± std over 1 seed, paired" in result.answer and result.table.loc[1.0, "labels"].endswith("± n/a")
    assert "one seed, so its spread is not measured" in result.answer
    model = build_for("own_models:small_net", a.own.data)
    assert isinstance(model, torch.nn.Sequential) and model[-1].out_features == 3


def test_a_checkpoint_teacher_is_loaded_not_trained(csv, tmp_path):
    own = owndata.read(csv, "label")
    torch.manual_seed(5)
    net = build_for("mlp-small", own.data)  # a teacher "trained elsewhere": here, random weights
    ckpt = tmp_path / "teacher.pt"
    torch.save(net.state_dict(), ckpt)
    expected = float((predict(net, own.data.x_test).argmax(1) == own.data.y_test).float().mean())
    a = prepare(csv, "label", teacher="mlp-small", teacher_checkpoint=ckpt, results_dir=tmp_path / "results",
                figures_dir=tmp_path / "figures", **FAST)
    digest = owndata.file_sha256(ckpt)
    assert a.teacher == f"mlp-small@sha256:{digest}" and a.teacher_label == "mlp-small (teacher.pt)"
    assert owndata.checkpoint_path(tmp_path / "results", digest).is_file()
    teacher = a.teacher_model()
    assert teacher.metrics["test_acc"] == pytest.approx(expected)  # the checkpoint's own accuracy: nothing trained
    for key, value in net.state_dict().items():
        assert torch.equal(teacher.model.state_dict()[key], value)
    other = tmp_path / "teacher2.pt"
    torch.manual_seed(6)
    torch.save(build_for("mlp-small", own.data).state_dict(), other)
    b = prepare(csv, "label", teacher="mlp-small", teacher_checkpoint=other, results_dir=tmp_path / "results",
                figures_dir=tmp_path / "figures", **FAST)
    ca, cb = a.make("kd", 1.0, 0, 1e-2, 2.0), b.make("kd", 1.0, 0, 1e-2, 2.0)
    assert ca.teacher_key() != cb.teacher_key() and ca.key() != cb.key()
    # one network whatever the seed: every seed shares its cached outputs (a trained teacher is one per seed)
    assert a.make("kd", 1.0, 3, 1e-2, 2.0).teacher_key() == ca.teacher_key()


# ---- the audit: the selection rule, the numbers and the answer

def test_selection_uses_validation_only_with_the_stated_tie_breaks():
    rows = [  # method, fraction, lr, tau, val_acc, val_nll, test_acc (test never read)
        ("labels", 0.1, 1e-3, None, 0.80, 0.50, 0.99), ("labels", 0.1, 1e-2, None, 0.80, 0.40, 0.10),
        ("kd", 0.1, 1e-3, 1.0, 0.90, 0.30, 0.10), ("kd", 0.1, 1e-3, 4.0, 0.90, 0.30, 0.99),
        ("kd", 0.1, 1e-2, 1.0, 0.85, 0.10, 0.99), ("kd", 0.1, 1e-2, 4.0, 0.90, 0.30, 0.99),
    ]
    df = pd.DataFrame(rows, columns=["method", "fraction", "lr", "tau", "val_acc", "val_nll", "test_acc"])
    df["status"] = "ok"
    chosen = choose(df, lr_grid=[1e-3, 1e-2], taus=[1.0, 4.0]).set_index("method")
    assert chosen.loc["labels", "lr"] == 1e-2  # tie in accuracy: the lower cross-entropy
    assert (chosen.loc["kd", "lr"], chosen.loc["kd", "tau"]) == (1e-3, 1.0)  # full tie: the first in grid order
    shuffled = choose(df.iloc[::-1], lr_grid=[1e-3, 1e-2], taus=[1.0, 4.0]).set_index("method")
    assert (shuffled.loc["kd", "lr"], shuffled.loc["kd", "tau"]) == (1e-3, 1.0)
    assert "validation accuracy" in SELECTION and "cross-entropy" in SELECTION


def test_the_audit_reports_the_analysis_numbers(csv, tmp_path):
    a = prepare(csv, "label", results_dir=tmp_path / "results", figures_dir=tmp_path / "figures",
                **{**FAST, "seeds": [0, 1], "taus": [1.0, 4.0]})
    result = a.run()
    assert len(result.df) == 2 * 2 * 2 and set(result.df["status"]) == {"ok"}
    table = result.table
    assert list(table.index) == [0.2, 1.0] and list(table["M"]) == [3 * round(0.2 * 36), 108]
    gain = analysis.relative_gain(result.df, "kd").set_index("fraction")
    assert table.loc[0.2, "KD gain"] == (f"{100 * gain.loc[0.2, 'gain_mean']:+.1f}% ± "
                                         f"{100 * gain.loc[0.2, 'gain_std']:.1f}%")
    chosen = a.choices.set_index(["method", "fraction"])
    kd_runs = result.df[result.df["method"] == "kd"]
    assert all(row["tau"] == chosen.loc[("kd", row["fraction"]), "tau"] for _, row in kd_runs.iterrows())
    assert result.answer.startswith(f"At M = {3 * round(0.2 * 36)} labelled samples (α = 0.2 of the N = 108 "
                                    "training samples), KD gains ")
    assert "mean ± std over 2 seeds" in result.answer and "The teachers (mlp-small, one per seed) reach" in result.answer
    result.figure()
    assert sorted(p.name for p in result.paths) == ["audit_blobs_smoke.pdf", "audit_blobs_smoke.png"]


# ---- every bad input: a ConfigError naming the parameter and the value, and nothing written

@pytest.fixture
def nothing_written(tmp_path):
    """Folders `prepare` would write to (and the smoke budget, whose α grid suits the small test data); each bad-input
    test checks that the folders stay absent."""
    out = {"results_dir": tmp_path / "results", "figures_dir": tmp_path / "figures", "profile": "smoke"}
    yield out
    assert not out["results_dir"].exists() and not out["figures_dir"].exists()


def _bad_csv(tmp_path, edit, name="bad.csv") -> Path:
    frame = blobs()
    edit(frame)
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_missing_file_and_unknown_format(tmp_path, nothing_written):
    missing = str(tmp_path / "nope.csv")
    _raises(f"data={missing!r}: no such file", prepare, missing, "label", **nothing_written)
    _raises("data='table.txt' is not allowed; allowed: a .csv or .npz file", prepare, "table.txt", "label",
            **nothing_written)


def test_missing_label_or_feature_column(csv, nothing_written):
    msg = _raises("label='species' is not a column of blobs.csv; allowed: one of its 5 columns", prepare, csv,
                  "species", **nothing_written)
    assert "'f0', 'f1', 'f2', 'f3', 'label'" in msg
    _raises("label=None with data=", prepare, csv, None, **nothing_written)
    _raises("features contains 'f9', not column(s) of blobs.csv", prepare, csv, "label", features=["f0", "f9"],
            **nothing_written)


def test_numbers_and_text_in_one_feature_column(tmp_path, nothing_written):
    """A column of numbers with a text marker ('?' for unknown, say) is a typo or a marker, not categories: refused by
    name, with the value and its row."""
    path = _bad_csv(tmp_path, lambda f: f.__setitem__("f2", f["f2"].astype(object).where(f.index != 4, "?")))
    msg = _raises("feature column 'f2' in bad.csv holds numbers and text ('?' in row 4 (rows: 0-based data rows, "
                  "header excluded)); allowed: numbers only, or text categories only", prepare, path, "label",
                  **nothing_written)
    assert "features=[...]" in msg


def test_nan_and_infinite_values_are_counted_and_located(tmp_path, nothing_written):
    def edit(f):
        f.loc[[2, 5], "f1"] = np.nan
        f.loc[7, "f3"] = np.inf

    msg = _raises("bad.csv has 3 NaN or infinite value(s): column 'f1' rows 2, 5; column 'f3' rows 7", prepare,
                  _bad_csv(tmp_path, edit), "label", **nothing_written)
    assert "0-based data rows, header excluded" in msg and "drop_missing=True" in msg
    x = np.zeros((10, 3))
    x[4, 2] = np.nan
    _raises("data has 1 NaN or infinite value(s): x rows 4 (features 2)", prepare, (x, np.arange(10) % 2), None,
            **nothing_written)


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.__setitem__("label", f["label"].astype(float).where(f.index != 3, 0.5)),
     "label='label' (data: bad.csv) holds 0.5 in row 3"),
    (lambda f: f.__setitem__("label", f["label"].where(f.index != 9, -1)), "holds -1 in row 9"),
    (lambda f: f.__setitem__("label", f["label"] + 1), "holds classes 1, 2, 3 but not 0; allowed: integers 0..K-1"),
    (lambda f: f.__setitem__("label", 0), "holds a single class (0); allowed: at least two classes"),
])
def test_labels_must_be_integers_0_to_k_minus_1(tmp_path, nothing_written, edit, message):
    _raises(message, prepare, _bad_csv(tmp_path, edit), "label", **nothing_written)


def test_a_class_too_small_for_the_smallest_alpha(tmp_path, nothing_written):
    path = tmp_path / "imbalanced.csv"
    pd.concat([blobs(n_per_class=200, k=2, d=3), blobs(n_per_class=67, k=3, d=3).query("label == 2")]).to_csv(
        path, index=False)
    own = owndata.read(path, "label")
    n2 = int((own.data.y_train == 2).sum())  # 67 - 2 * round(0.2 * 67) = 41
    assert n2 == 41
    msg = _raises(f"fractions=[0.02, 1.0]: at the smallest α = 0.02, class 2 ({n2} training samples) keeps "
                  f"round(0.02 × {n2}) = 1 sample(s)", prepare, path, "label", fractions=[0.02, 1.0],
                  **nothing_written)
    works = owndata.min_fraction(n2)
    assert msg.endswith(f"allowed: a smallest α ≥ {works:g}")
    owndata.check_fractions(own.data, [works, 1.0])  # the α it names works


def test_mismatched_splits(tmp_path, nothing_written):
    rng = np.random.default_rng(0)
    y = np.arange(12) % 2
    bad = {"train": (rng.normal(size=(12, 4)), y), "val": (rng.normal(size=(12, 3)), y),
           "test": (rng.normal(size=(12, 4)), y)}
    _raises("x_val (data['val']) has input shape (3,) but x_train has (4,)", prepare, bad, None, **nothing_written)
    _raises("data['test']: x has 12 rows but y has 11", prepare, {**bad, "val": bad["train"],
                                                                  "test": (bad["test"][0], y[:11])}, None,
            **nothing_written)
    frame = blobs()
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.drop(columns=["f2"]).to_csv(tmp_path / "val.csv", index=False)
    _raises(f"data['val']={str(tmp_path / 'val.csv')!r} lacks feature column(s) 'f2'", prepare,
            {s: tmp_path / f"{'val' if s == 'val' else 'train'}.csv" for s in ("train", "val", "test")}, "label",
            **nothing_written)


@pytest.mark.parametrize("parameter, value, message", [
    ("student", "no_such_module_xyz:net", "student='no_such_module_xyz:net': module 'no_such_module_xyz' cannot be "
                                          "imported"),
    ("student", "own_models:nope", "student='own_models:nope': module 'own_models' has no function 'nope'"),
    ("teacher", "own_models:not_a_module", "teacher='own_models:not_a_module' returned a dict, not a "
                                           "torch.nn.Module"),
    ("student", "own_models:wrong_shape", "student='own_models:wrong_shape' gives outputs of shape (2, 7) for inputs "
                                          "of shape (2, 4); allowed: logits of shape [B, num_classes] = [2, 3]"),
    ("teacher", "own_models:fails", "teacher='own_models:fails' failed when called as fails(input_shape=(4,), "
                                    "num_classes=3) (ValueError: this factory only takes images)"),
    ("student", "resnet-9000", "student='resnet-9000' is not known; allowed: cnn-base"),
])
def test_bad_factories(csv, nothing_written, parameter, value, message):
    _raises(message, prepare, csv, "label", **{parameter: value}, **nothing_written)


def test_bad_checkpoints(csv, tmp_path, nothing_written):
    own = owndata.read(csv, "label")
    tiny = tmp_path / "tiny.pt"
    torch.save(build_for("mlp-tiny", own.data).state_dict(), tiny)
    msg = _raises(f"teacher_checkpoint={str(tiny)!r} does not fit teacher='mlp-small'", prepare, csv, "label",
                  teacher="mlp-small", teacher_checkpoint=tiny, **nothing_written)
    assert "shapes differ (checkpoint vs model) blocks.0.0.weight: (32, 4) vs (64, 4)" in msg
    assert "missing blocks.1.0.weight" in msg
    whole = tmp_path / "whole_model.pt"
    torch.save(build_for("mlp-small", own.data), whole)  # a pickled module, not a state_dict
    _raises(f"teacher_checkpoint={str(whole)!r} could not be loaded with weights_only=True", prepare, csv, "label",
            teacher="mlp-small", teacher_checkpoint=whole, **nothing_written)
    _raises("teacher_checkpoint='gone.pt': no such file", prepare, csv, "label", teacher_checkpoint="gone.pt",
            **nothing_written)


def test_run_configs_on_own_data_name_the_data_by_fingerprint_only():
    fp = "ab" * 32
    ok = RunConfig(dataset="own", data={"fingerprint": fp}, student="own_models:small_net",
                   teacher=f"mlp-base@sha256:{'0' * 64}").validate()
    assert ok.canonical().as_dict()["data"] == {"fingerprint": fp}
    _raises("data={'fingerprint': 'ab', 'path': 'x.csv'} with dataset='own' is not allowed", RunConfig(
        dataset="own", data={"fingerprint": "ab", "path": "x.csv"}).validate)
    _raises("teacher='mlp-base@sha256:xyz': the checkpoint digest is not allowed", RunConfig(
        dataset="own", data={"fingerprint": fp}, teacher="mlp-base@sha256:xyz").validate)
    _raises("student='own_models:small_net' is not known", RunConfig(student="own_models:small_net").validate)
    _raises("teacher_members=3", RunConfig(dataset="own", data={"fingerprint": fp}, teacher_members=3,
                                           teacher=f"mlp-base@sha256:{'0' * 64}").validate)


def test_bad_grid_and_budget_values(csv, nothing_written):
    _raises("profile='laptop' is not known; allowed: cpu, gpu, smoke", prepare, csv, "label",
            **{**nothing_written, "profile": "laptop"})
    _raises("taus=0 is outside the allowed range (0, inf)", prepare, csv, "label", taus=[1, 0], **nothing_written)
    _raises("train has unknown field(s) ['steps']", prepare, csv, "label", train={"steps": 5}, **nothing_written)
    _raises("val_share + test_share = 1 leaves no training data", prepare, csv, "label", val_share=0.5,
            test_share=0.5, **nothing_written)


# ---- a CSV as it comes (issue 27): class names, categories, true/false columns, identifiers, empty cells

def as_it_comes(n_per_class=40, seed=0) -> pd.DataFrame:
    """Three classes named 'class_0'..'class_2' (written in another order than sorted, so the mapping is tested), a
    numeric feature, a categorical one ('A'/'B'/'C', tied to the class), a true/false one and an identifier."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per_class)
    frame = pd.DataFrame({"id": [f"row-{i:04d}" for i in range(len(y))],
                          "size": rng.normal(2.0 * y, 1.0),
                          "grade": np.array(["C", "A", "B"])[(y + (rng.random(len(y)) < 0.2)) % 3],
                          "organic": rng.random(len(y)) < 0.3 + 0.2 * y,
                          "cultivar": np.array(["class_2", "class_0", "class_1"])[(y + 1) % 3]})
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _write(frame, path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def test_a_csv_as_it_comes_is_encoded_as_stated(tmp_path):
    frame = as_it_comes()
    own = owndata.read(_write(frame, tmp_path / "wine.csv"), "cultivar", features=["size", "grade", "organic"],
                       standardize=False, split_column=None)
    assert own.class_names == ("class_0", "class_1", "class_2")  # sorted order of the names
    assert own.features == ("size", "grade=A", "grade=B", "grade=C", "organic")
    assert own.encoding == ("'grade': one-hot, 3 categories (A, B, C)", "'organic': true/false as 1/0")
    # every row of the file, in the drawn split: the arrays are the encoding of its cells
    d = own.data
    x = torch.cat([d.x_train, d.x_val, d.x_test]).numpy()
    y = torch.cat([d.y_train, d.y_val, d.y_test]).numpy()
    order = np.argsort(x[:, 0])  # sizes are distinct: match the file's rows by size
    f = frame.iloc[np.argsort(frame["size"].to_numpy())]
    assert np.allclose(x[order, 0], f["size"], atol=1e-5)
    assert (x[order, 1:4] == np.stack([(f["grade"] == g).to_numpy() for g in "ABC"], 1)).all()
    assert (x[order, 4] == f["organic"].to_numpy()).all()
    assert [own.class_names[i] for i in y[order]] == f["cultivar"].tolist()
    assert "classes=3 (0=class_0, 1=class_1, 2=class_2)" in repr(own) and "'grade': one-hot" in repr(own)
    assert own.class_name(2) == "2 ('class_2')"


def test_true_false_written_as_text_and_integer_labels_give_the_same_runs(tmp_path):
    """The same data with integer labels (the names' sorted order) and the categories written as 0/1 columns gives
    the same arrays, so the same fingerprint and the same run keys; true/false in any case is 1/0."""
    frame = as_it_comes()
    named = frame.assign(organic=frame["organic"].map({True: "TRUE", False: "false"}))
    numbers = frame.drop(columns=["grade"]).assign(**{f"grade={g}": (frame["grade"] == g).astype(int) for g in "ABC"})
    numbers = numbers[["id", "size", "grade=A", "grade=B", "grade=C", "organic", "cultivar"]]
    numbers["organic"] = numbers["organic"].astype(int)
    numbers["cultivar"] = numbers["cultivar"].map({"class_0": 0, "class_1": 1, "class_2": 2})
    a = prepare(_write(named, tmp_path / "named.csv"), "cultivar", features=["size", "grade", "organic"],
                results_dir=tmp_path / "r", figures_dir=tmp_path / "f", **FAST)
    b = prepare(_write(numbers, tmp_path / "numbers.csv"), "cultivar",
                features=["size", "grade=A", "grade=B", "grade=C", "organic"], results_dir=tmp_path / "r",
                figures_dir=tmp_path / "f", **FAST)
    assert a.own.fingerprint == b.own.fingerprint and a.own.class_names == ("class_0", "class_1", "class_2")
    assert b.own.class_names is None
    assert [c.key() for c in a.tuning_configs()] == [c.key() for c in b.tuning_configs()]
    changed = named.copy()
    changed.loc[0, "grade"] = "B" if changed.loc[0, "grade"] != "B" else "A"  # one changed category: a new key
    c = owndata.read(_write(changed, tmp_path / "changed.csv"), "cultivar", features=["size", "grade", "organic"])
    assert c.fingerprint != a.own.fingerprint


def test_an_identifier_column_is_refused_by_name_with_its_count(tmp_path, nothing_written):
    path = _write(as_it_comes(), tmp_path / "in" / "wine.csv")
    msg = _raises("feature column 'id' in wine.csv is text with 120 distinct values (e.g. 'row-0000', 'row-0001', "
                  "'row-0002'): an identifier or free text, not a category; allowed: at most MAX_CATEGORIES = 20 "
                  "distinct values (one-hot encoded); leave it out with features=[...] listing the other 3 feature "
                  "column(s)", prepare, path, "cultivar", **nothing_written)
    assert str(owndata.MAX_CATEGORIES) in msg


def test_empty_cells_are_refused_or_dropped_when_asked(tmp_path, nothing_written):
    frame = as_it_comes().drop(columns=["id"])
    frame.loc[[3, 8], "grade"] = np.nan  # an empty text cell
    frame.loc[5, "size"] = np.nan
    frame.loc[8, "cultivar"] = np.nan
    path = _write(frame, tmp_path / "in" / "holes.csv")
    msg = _raises("holes.csv has 4 NaN or infinite value(s): column 'size' rows 5; column 'grade' rows 3, 8; the "
                  "label column rows 8", prepare, path, "cultivar", **nothing_written)
    assert "drop_missing=True" in msg
    _raises("drop_missing='yes' is not allowed; allowed: True, False", prepare, path, "cultivar", drop_missing="yes",
            **nothing_written)
    own = owndata.read(path, "cultivar", drop_missing=True)
    assert own.dropped == 3 and len(own.data.y_train) + len(own.data.y_val) + len(own.data.y_test) == 117
    assert "3 row(s) with missing values left out (drop_missing=True)" in repr(own)
    # the same as the file with those rows removed by hand
    by_hand = owndata.read(_write(frame.drop(index=[3, 5, 8]), tmp_path / "in" / "by_hand.csv"), "cultivar")
    assert by_hand.fingerprint == own.fingerprint and by_hand.dropped == 0


def test_class_names_in_the_per_class_checks(tmp_path, nothing_written):
    frame = as_it_comes(n_per_class=40).drop(columns=["id"])
    small = frame[frame["cultivar"] != "class_1"]
    rare = pd.concat([small, frame[frame["cultivar"] == "class_1"].head(12)])
    path = _write(rare, tmp_path / "in" / "rare.csv")
    msg = _raises("at the smallest α = 0.02, class 1 ('class_1') (", prepare, path, "cultivar", fractions=[0.02, 1.0],
                  **nothing_written)
    assert "allowed: a smallest α ≥" in msg
    split = frame.assign(part=np.where(frame["cultivar"] == "class_2", "test", "train"))
    split.loc[split.index[:5], "part"] = "val"
    _raises("class(es) 2 ('class_2') have no training samples", prepare,
            _write(split, tmp_path / "in" / "split.csv"), "cultivar", split_column="part", **nothing_written)


def test_split_files_share_one_encoding(tmp_path):
    """Three files of one data set: class names and categories from all of them (a category only the test file has
    still gets its column, in the same place in every split)."""
    frame = as_it_comes().drop(columns=["id"])
    parts = {"train": frame.iloc[:80].copy(), "val": frame.iloc[80:100].copy(), "test": frame.iloc[100:].copy()}
    parts["test"].loc[parts["test"].index[0], "grade"] = "D"
    paths = {s: _write(f, tmp_path / f"{s}.csv") for s, f in parts.items()}
    own = owndata.read(paths, "cultivar", standardize=False)
    assert own.features == ("size", "grade=A", "grade=B", "grade=C", "grade=D", "organic")
    assert own.data.x_train[:, 4].sum() == 0 and own.data.x_test[:, 4].sum() == 1
    assert own.class_names == ("class_0", "class_1", "class_2")


def test_the_audit_answers_in_class_names(tmp_path):
    """Notebook 09's set-up takes such a file as it comes; the audit's answer, class table and figure name the
    classes."""
    import nbsetup

    path = _write(as_it_comes().drop(columns=["id"]), tmp_path / "in" / "wine.csv")
    ns = nbsetup.setup(nbsetup.notebook("09"), profile="smoke", data_path=str(path), label="cultivar",
                       results_dir=str(tmp_path / "results"), figures_dir=str(tmp_path / "figures"), device="cpu",
                       fractions=FAST["fractions"], seeds=FAST["seeds"], taus=FAST["taus"], lr_grid=FAST["lr_grid"],
                       min_steps=60, teacher_min_steps=100)
    a = ns["A"]
    assert a.own.class_names == ("class_0", "class_1", "class_2") and a.own.data.x_train.shape[1] == 5
    result = a.run()
    assert result.answer.endswith("Classes: 0 = class_0, 1 = class_1, 2 = class_2.")
    assert result.classes["class"].tolist() == ["class_0", "class_1", "class_2"]
    assert result.classes[["train", "val", "test"]].sum().sum() == 120
    fig = result.figure()
    assert "3 classes (0 = class_0, 1 = class_1, 2 = class_2)" in fig._suptitle.get_text()
