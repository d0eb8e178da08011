"""Config hashing and validation, the run store, resumable sweeps and the teacher cache."""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

import kdlib
import kdlib.sweep as sweep_mod
import kdlib.tasks as tasks
import kdlib.teachers as teachers
from kdlib.config import PROFILES, RunConfig, grid, make_config
from kdlib.errors import ConfigError
from kdlib.store import Store, config_hash
from kdlib.train import predict, resolve_device


# ---------------------------------------------------------------- hashing and canonical configs

def test_config_hash_is_sha256_of_sorted_compact_json():
    expected = hashlib.sha256(b'{"a":1,"b":[1,2],"c":{"x":null,"y":"z"}}').hexdigest()[:16]
    assert config_hash({"a": 1, "b": [1, 2], "c": {"x": None, "y": "z"}}) == expected
    assert config_hash({"c": {"y": "z", "x": None}, "b": [1, 2], "a": 1}) == expected  # key order is irrelevant
    assert config_hash({"a": 1, "b": [2, 1], "c": {"x": None, "y": "z"}}) != expected  # list order is not
    assert config_hash({"a": 2, "b": [1, 2], "c": {"x": None, "y": "z"}}) != expected
    assert len(expected) == 16 and int(expected, 16) >= 0


def test_run_key_is_stable():
    a = make_config("smoke", method="kd", fraction=0.1, seed=2, tau=3.0)
    b = make_config("smoke", method="kd", fraction=0.1, seed=2, tau=3.0)
    assert a.key() == b.key() == config_hash(a.canonical().as_dict())
    assert a.key() != make_config("smoke", method="kd", fraction=0.1, seed=3, tau=3.0).key()
    assert a.key() != make_config("smoke", method="kd", fraction=0.2, seed=2, tau=3.0).key()
    assert a.key() != make_config("smoke", method="kd", fraction=0.1, seed=2, tau=3.0, lr=1e-3).key()


def test_canonical_shares_label_runs_across_kd_knobs():
    a = make_config("smoke", method="labels", fraction=0.1, tau=2.0)
    b = make_config("smoke", method="labels", fraction=0.1, tau=8.0, lam=0.5)
    assert a.key() == b.key()
    assert (a.tau, a.lam, a.eps) == (None, None, None)
    raw = RunConfig(method="labels", tau=2.0, lam=0.3, eps=0.1)
    assert raw.canonical() == RunConfig(method="labels", tau=None, lam=None, eps=None, signal=None, objective=None,
                                        distill_data=None, aux_heads=None, teacher_seed=0)  # the run's own seed
    assert raw.key() == RunConfig(method="labels", tau=9.0).key()
    # knobs that matter still separate runs
    assert make_config("smoke", method="kd", tau=2.0).key() != make_config("smoke", method="kd", tau=8.0).key()
    assert make_config("smoke", method="kd", lam=0.5).key() != make_config("smoke", method="kd", lam=1.0).key()
    assert make_config("smoke", method="ls", eps=0.1).key() != make_config("smoke", method="ls", eps=0.2).key()
    assert make_config("smoke", method="ls", eps=0.1).tau is None


def test_make_config_applies_profile_and_overrides():
    c = make_config("smoke", method="kd", fraction=0.3, seed=1, lr=0.05, tau=None)
    assert c.student == c.teacher == "cnn-tiny"
    assert c.tau == 4.0 and c.lam == 1.0
    smoke = PROFILES["smoke"]
    assert c.train.lr == 0.05 and c.train == replace(smoke["train"], lr=0.05)
    assert c.teacher_train == smoke["teacher_train"]
    assert c.data == {"n_train": 400, "n_val": 200, "n_test": 200}
    assert make_config("smoke", method="labels", teacher="none").teacher is None


@pytest.mark.parametrize("overrides, name, value", [
    (dict(tau=0.0), "tau", "0.0"),
    (dict(tau=-1.0), "tau", "-1.0"),
    (dict(lam=1.5), "lam", "1.5"),
    (dict(lam=-0.1), "lam", "-0.1"),
    (dict(method="distill"), "method", "distill"),
    (dict(dataset="cifar-7"), "dataset", "cifar-7"),
    (dict(student="resnet-9"), "student", "resnet-9"),
    (dict(teacher="resnet-9"), "teacher", "resnet-9"),
    (dict(seed=-1), "seed", "-1"),
    (dict(seed=1.5), "seed", "1.5"),
    (dict(fraction=0.0), "fraction", "0.0"),
    (dict(fraction=1.5), "fraction", "1.5"),
    (dict(method="ls", eps=1.0), "eps", "1.0"),
    (dict(lr=0.0), "lr", "0.0"),
    (dict(banana=3), "banana", "banana"),
])
def test_make_config_validation_names_parameter_and_value(overrides, name, value):
    with pytest.raises(ConfigError) as e:
        make_config("smoke", **overrides)
    msg = str(e.value)
    assert name in msg and value in msg, msg


def test_kd_without_teacher_and_unknown_profile():
    with pytest.raises(ConfigError, match="teacher"):
        make_config("smoke", method="kd", teacher="none")
    with pytest.raises(ConfigError, match="profile"):
        make_config("laptop")


def test_grid():
    configs = grid("smoke", methods=("labels", "kd"), fractions=[0.1, 1.0], seeds=[0, 1, 2])
    assert len(configs) == 12 and len({c.key() for c in configs}) == 12
    assert {(c.method, c.fraction, c.seed) for c in configs} == {
        (m, f, s) for m in ("labels", "kd") for f in (0.1, 1.0) for s in (0, 1, 2)}
    with pytest.raises(ConfigError, match="seeds"):
        grid("smoke", seeds=[])
    with pytest.raises(ConfigError, match="fractions"):
        grid("smoke", fractions=[])
    with pytest.raises(ConfigError, match="method"):
        grid("smoke", methods=("labels", "nope"))
    with pytest.raises(ConfigError, match="fraction"):
        grid("smoke", fractions=[0.1, 0.0])


# ---------------------------------------------------------------- store

def _record(seed: int, acc: float = 0.5, version: str = kdlib.__version__) -> dict:
    config = {"seed": seed}
    return {"key": config_hash(config), "status": "ok", "metrics": {"test_acc": acc}, "config": config,
            "kdlib_version": version}


def test_store_round_trip(tmp_path):
    store = Store(tmp_path)
    record = _record(1)
    key = record["key"]
    assert store.get(key) is None and len(store) == 0 and store.keys() == []
    store.put(record)
    assert store.get(key) == record
    assert store.keys() == [key] and len(store) == 1
    assert (tmp_path / "runs" / f"{key}.json").exists()
    record2 = _record(2, 0.75)
    store.put(record2)
    assert Store(tmp_path).get(record2["key"]) == record2 and len(store) == 2
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(f"{k}.json" for k in (key, record2["key"]))


@pytest.mark.parametrize("garbage", [b'{"key": "abc", "status": ', b"\xff\xfe\x00not json", b"", b"[1, 2]"])
def test_store_corrupt_record_warns_with_its_path_and_is_missing(tmp_path, garbage):
    store = Store(tmp_path)
    record = _record(1)
    store.put(record)
    store.path(record["key"]).write_bytes(garbage)
    with pytest.warns(UserWarning, match=rf"run record {store.path(record['key'])} is not used"):
        assert store.get(record["key"]) is None
    assert store.rejected and store.rejected[0][0] == str(store.path(record["key"]))


def test_store_refuses_records_of_other_code_or_settings(tmp_path):
    store = Store(tmp_path)
    old = _record(1, version="0.0.1")
    store.put(old)
    with pytest.warns(UserWarning, match=f"made by kdlib 0.0.1, this is {kdlib.__version__}"):
        assert store.get(old["key"]) is None
    moved = _record(2)
    store.path(old["key"]).write_text(json.dumps(moved))  # a record under another run's name
    with pytest.warns(UserWarning, match="does not hash to its file name"):
        assert store.get(old["key"]) is None
    edited = dict(_record(3), config={"seed": 4})  # its config edited after it was stored
    store.put(edited)
    with pytest.warns(UserWarning, match="does not hash to its file name"):
        assert store.get(edited["key"]) is None
    assert len(store.rejected) == 3


def test_store_uses_records_of_versions_that_compute_the_same_runs(tmp_path):
    """kdlib.SAME_RUNS_SINCE: a record of an older version that computes runs identically is used; older ones are not."""
    store = Store(tmp_path)
    same, older = _record(1, version=kdlib.SAME_RUNS_SINCE), _record(2, version="0.6.0")
    for r in (same, older):
        store.put(r)
    assert store.get(same["key"]) == same
    with pytest.warns(UserWarning, match=f"made by kdlib 0.6.0, this is {kdlib.__version__}"):
        assert store.get(older["key"]) is None
    assert kdlib.same_runs(kdlib.__version__) and not kdlib.same_runs("1.0.0") and not kdlib.same_runs("dev")


# ---------------------------------------------------------------- sweeps and teachers (one shared smoke sweep)

def _counting(monkeypatch_or_mp, module, name):
    calls = []
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(args[0] if args else kwargs)
        return real(*args, **kwargs)

    monkeypatch_or_mp.setattr(module, name, wrapper)
    return calls


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A 4-config smoke sweep (labels and kd at two fractions) into a fresh folder, run once per module."""
    root = tmp_path_factory.mktemp("sweep")
    configs = grid("smoke", methods=("labels", "kd"), fractions=[0.1, 0.3], seeds=[0])
    teachers._MEMORY.clear()
    with pytest.MonkeyPatch.context() as mp:
        runs = _counting(mp, sweep_mod, "run_one")
        teacher_trainings = _counting(mp, teachers, "train")
        df = sweep_mod.sweep(configs + [configs[0]], results_dir=root, device="cpu", progress=False)
    teachers._MEMORY.clear()
    return SimpleNamespace(root=root, configs=configs, df=df, runs=runs, teacher_trainings=teacher_trainings)


def test_sweep_runs_each_config_once_and_trains_one_teacher(swept):
    assert len(swept.runs) == 4  # the duplicated config is run once
    assert sorted(c.key() for c in swept.runs) == sorted(c.key() for c in swept.configs)
    assert len(swept.teacher_trainings) == 1
    files = list((swept.root / "teachers").iterdir())
    assert [f.name for f in files] == [f"{swept.configs[0].teacher_key()}.pt"]
    assert len({c.teacher_key() for c in swept.configs}) == 1
    assert sorted(p.stem for p in (swept.root / "runs").glob("*.json")) == sorted(c.key() for c in swept.configs)
    df = swept.df
    assert len(df) == 4 and set(df["status"]) == {"ok"}
    assert set(df["key"]) == {c.key() for c in swept.configs}
    assert df["test_acc"].between(0, 1).all()
    assert {"method", "fraction", "seed", "lr", "test_acc", "n_train", "steps", "wall_time_s"} <= set(df.columns)
    # the label runs also carry agreement with the (shared) teacher
    assert df["test_agreement"].notna().all()
    # C7's feature metrics, measured in every run, and what they cost
    assert df["test_cka"].between(0, 1).all() and (df[["train_nc1", "test_nc1", "teacher_test_nc1"]] > 0).all().all()
    assert df[["train_nc2", "test_nc2"]].notna().all().all() and (df["features_time_s"] >= 0).all()


def test_a_sweep_reruns_a_record_stored_before_a_metric_it_needs(swept, tmp_path, monkeypatch):
    """A record of kdlib 0.7 (no feature metrics) is used as it is, unless the sweep needs one of them: then that run
    alone is run again, with the same numbers; a diverged run (no metrics at all) is never run again for that."""
    res = _copy(swept, tmp_path)
    keys = [c.key() for c in swept.configs]
    path = res / "runs" / f"{keys[0]}.json"
    old = json.loads(path.read_text())
    old["kdlib_version"] = kdlib.SAME_RUNS_SINCE
    old["metrics"] = {k: v for k, v in old["metrics"].items() if "nc" not in k and "cka" not in k}
    path.write_text(json.dumps(old))
    diverged = res / "runs" / f"{keys[1]}.json"
    stopped = dict(json.loads(diverged.read_text()), status="diverged", metrics={})
    diverged.write_text(json.dumps(stopped))
    calls = _counting(monkeypatch, sweep_mod, "run_one")
    df = sweep_mod.sweep(swept.configs, results_dir=res, device="cpu", progress=False)
    assert calls == [] and df.set_index("key").loc[keys[0], "test_cka"] != df.set_index("key").loc[keys[0], "test_cka"]
    df = sweep_mod.sweep(swept.configs, results_dir=res, device="cpu", progress=False, needs=("test_cka", "train_nc1"))
    assert [c.key() for c in calls] == [keys[0]]
    rerun = json.loads(path.read_text())
    assert rerun["kdlib_version"] == kdlib.__version__ and "test_cka" in rerun["metrics"]
    assert {k: rerun["metrics"][k] for k in old["metrics"]} == old["metrics"]  # the same numbers, and the new ones


def _copy(swept, tmp_path):
    dst = tmp_path / "res"
    shutil.copytree(swept.root, dst)
    return dst


def test_sweep_resume_computes_only_missing(swept, tmp_path, monkeypatch):
    res = _copy(swept, tmp_path)
    keys = [c.key() for c in swept.configs]
    missing = [keys[1], keys[2]]  # simulate a sweep killed after two of four runs
    for k in missing:
        (res / "runs" / f"{k}.json").unlink()
    calls = _counting(monkeypatch, sweep_mod, "run_one")
    df = sweep_mod.sweep(swept.configs, results_dir=res, device="cpu", progress=False)
    assert sorted(c.key() for c in calls) == sorted(missing)
    assert len(df) == 4 and set(df["key"]) == set(keys) and set(df["status"]) == {"ok"}
    # recomputed runs reproduce the original numbers exactly (same teacher from disk, same seeds)
    before = swept.df.set_index("key")["test_acc"]
    after = df.set_index("key")["test_acc"]
    assert after.loc[keys].tolist() == before.loc[keys].tolist()
    # a second rerun computes nothing
    calls.clear()
    again = sweep_mod.sweep(swept.configs, results_dir=res, device="cpu", progress=False)
    assert calls == [] and len(again) == 4


def test_sweep_recomputes_corrupt_record(swept, tmp_path, monkeypatch):
    res = _copy(swept, tmp_path)
    key = swept.configs[0].key()
    (res / "runs" / f"{key}.json").write_text('{"key": "trunc')
    calls = _counting(monkeypatch, sweep_mod, "run_one")
    with pytest.warns(UserWarning, match="corrupt"):
        df = sweep_mod.sweep(swept.configs, results_dir=res, device="cpu", progress=False)
    assert [c.key() for c in calls] == [key]
    assert len(df) == 4
    assert json.loads((res / "runs" / f"{key}.json").read_text())["key"] == key


def test_sweep_bad_device_fails_before_training(swept, tmp_path, monkeypatch):
    calls = _counting(monkeypatch, sweep_mod, "run_one")
    with pytest.raises(ConfigError, match="device"):
        sweep_mod.sweep(swept.configs, results_dir=tmp_path, device="banana", progress=False)
    assert calls == [] and not (tmp_path / "runs").exists()


def test_cached_teacher_is_loaded_without_training(swept, tmp_path, monkeypatch):
    res = _copy(swept, tmp_path)
    cfg = swept.configs[-1]  # a kd config
    dev = resolve_device("cpu")
    data = tasks.dataset_for(cfg, dev)
    stored = torch.load(res / "teachers" / f"{cfg.teacher_key()}.pt", weights_only=True)

    def no_training(*args, **kwargs):
        raise AssertionError("the cached teacher should have been used")

    teachers._MEMORY.clear()
    monkeypatch.setattr(teachers, "train", no_training)
    t = teachers.get_teacher(cfg, data, dev, res)
    for split in ("train", "val", "test"):
        assert torch.equal(t.logits[split], stored["logits"][split])
    assert t.metrics == stored["metrics"]
    # the loaded weights reproduce the stored logits
    torch.testing.assert_close(predict(t.model, data.x_test), stored["logits"]["test"], rtol=1e-5, atol=1e-5)
    assert abs(t.metrics["test_acc"] - (stored["logits"]["test"].argmax(-1) == data.y_test).float().mean().item()) < 1e-6
    # a second call in the same process comes from memory: same object
    assert teachers.get_teacher(cfg, data, dev, res) is t


def test_corrupt_teacher_file_warns_and_retrains(swept, tmp_path, monkeypatch):
    res = _copy(swept, tmp_path)
    cfg = swept.configs[-1]
    path = res / "teachers" / f"{cfg.teacher_key()}.pt"
    original = torch.load(path, weights_only=True)
    path.write_bytes(b"this is not a torch file")
    dev = resolve_device("cpu")
    data = tasks.dataset_for(cfg, dev)
    trainings = _counting(monkeypatch, teachers, "train")
    with pytest.warns(UserWarning, match="unusable"):
        t = teachers.get_teacher(cfg, data, dev, res)
    assert len(trainings) == 1
    fresh = torch.load(path, weights_only=True)  # rewritten and readable
    assert fresh["key"] == cfg.teacher_key()
    # teacher training is deterministic: the retrained teacher is the original one
    for split in ("train", "val", "test"):
        assert torch.equal(fresh["logits"][split], original["logits"][split])
        assert torch.equal(t.logits[split], original["logits"][split])
    assert [p.name for p in (res / "teachers").iterdir()] == [path.name]  # no temporary files left behind


def test_foreign_teacher_file_is_not_used(swept, tmp_path, monkeypatch):
    """A file whose stored key differs from its name (e.g. copied by hand) is reported and replaced."""
    res = _copy(swept, tmp_path)
    cfg = replace(swept.configs[-1], teacher_seed=1)
    src = res / "teachers" / f"{swept.configs[-1].teacher_key()}.pt"
    shutil.copy(src, res / "teachers" / f"{cfg.teacher_key()}.pt")
    dev = resolve_device("cpu")
    trainings = _counting(monkeypatch, teachers, "train")
    with pytest.warns(UserWarning, match="differs"):
        teachers.get_teacher(cfg, tasks.dataset_for(cfg, dev), dev, res)
    assert len(trainings) == 1
    assert torch.load(res / "teachers" / f"{cfg.teacher_key()}.pt", weights_only=True)["key"] == cfg.teacher_key()


def test_teacher_file_is_written_in_every_results_dir(swept, tmp_path):
    """Documented layout: one file per teacher in <results_dir>/teachers/. The in-process cache must not stop
    a second results_dir (same process, same teacher) from getting its own copy."""
    res = _copy(swept, tmp_path)
    other = tmp_path / "other"
    cfg = swept.configs[-1]
    dev = resolve_device("cpu")
    data = tasks.dataset_for(cfg, dev)
    teachers.get_teacher(cfg, data, dev, res)  # loaded from res, now in memory
    teachers.get_teacher(cfg, data, dev, other)
    assert (other / "teachers" / f"{cfg.teacher_key()}.pt").exists()


def test_objective_validation_and_canonical_tau():
    from kdlib.config import make_config
    from kdlib.errors import ConfigError

    mse = make_config("smoke", method="kd", objective="logit_mse", tau=7.0)
    assert mse.tau is None and mse.key() == make_config("smoke", method="kd", objective="logit_mse").key()
    assert make_config("smoke", method="kd", objective="reverse_kl").key() != make_config("smoke", method="kd").key()
    with pytest.raises(ConfigError, match="objective='kl2'"):
        make_config("smoke", method="kd", objective="kl2")
    with pytest.raises(ConfigError, match="signal='argmax'"):
        make_config("smoke", method="kd", objective="logit_mse", signal="argmax")


# ---------------------------------------------------------------- a teacher on a share of the training set (C5)

def test_teacher_fraction_keys_and_canonical():
    half = make_config("smoke", method="kd", teacher_fraction=0.5)
    full = make_config("smoke", method="kd")
    assert half.teacher_fraction == 0.5 and full.teacher_fraction == 1.0
    assert half.key() != full.key() and half.teacher_key() != full.teacher_key()
    # label-trained students are always compared with the full-data teacher, so their runs are shared
    labels = make_config("smoke", method="labels", teacher_fraction=0.5)
    assert labels.teacher_fraction == 1.0
    assert labels.key() == make_config("smoke", method="labels").key()
    # integers and floats are one run
    assert make_config("smoke", method="kd", fraction=1).key() == make_config("smoke", method="kd", fraction=1.0).key()
    assert make_config("smoke", method="kd", tau=4).key() == make_config("smoke", method="kd", tau=4.0).key()
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ConfigError, match=rf"teacher_fraction={bad!r} is outside the allowed range \(0, 1\]"):
            make_config("smoke", method="kd", teacher_fraction=bad)


def test_teacher_trains_on_its_nested_share_and_students_may_exceed_it(tmp_path, monkeypatch):
    from kdlib.data import nested_subset

    cfg = make_config("smoke", method="kd", fraction=1.0, teacher_fraction=0.5, seed=0)
    seen = []
    real = teachers.train

    def spy(model, x, y, *args, **kwargs):
        seen.append((x, y))
        return real(model, x, y, *args, **kwargs)

    monkeypatch.setattr(teachers, "train", spy)
    teachers._MEMORY.clear()
    record = sweep_mod.run_one(cfg, device="cpu", results_dir=tmp_path)
    teachers._MEMORY.clear()
    data = tasks.dataset_for(cfg, resolve_device("cpu"))
    own = nested_subset(data.y_train, 0.5, cfg.teacher_seed, stream=1)
    assert torch.equal(own, teachers.teacher_subset(cfg, data.y_train))
    # drawn independently of the students' subsets: not the seed-0 student's half
    assert not torch.equal(own, nested_subset(data.y_train, 0.5, 0))
    (x, y), = seen
    assert torch.equal(x, data.x_train[own]) and torch.equal(y, data.y_train[own])
    counts = torch.bincount(data.y_train, minlength=data.num_classes).tolist()
    assert len(own) == sum(max(1, round(0.5 * n)) for n in counts)  # half of each class
    assert record["n_train"] == len(data.y_train)  # the student sees twice the teacher's samples
    assert record["metrics"]["teacher_n_train"] == len(own)
    blob = torch.load(tmp_path / "teachers" / f"{cfg.teacher_key()}.pt", weights_only=True)
    assert blob["metrics"]["n_train"] == len(own)
    assert blob["logits"]["train"].shape == (len(data.y_train), data.num_classes)  # logits on every train input


def test_sweep_rows_names_runs_and_shares_them(swept, tmp_path, monkeypatch):
    res = _copy(swept, tmp_path)
    labels, kd = swept.configs[0], swept.configs[2]
    calls = _counting(monkeypatch, sweep_mod, "run_one")
    df = sweep_mod.sweep_rows([("labels", labels), ("lambda=0", labels), ("kd", kd), ("kd", kd)], res, "cpu",
                              progress=False)
    assert calls == []  # all stored already
    assert sorted(df["row"]) == ["kd", "labels", "lambda=0"]
    assert df.set_index("row").loc["labels", "key"] == df.set_index("row").loc["lambda=0", "key"] == labels.key()
    assert df.set_index("row").loc["kd", "test_acc"] == swept.df.set_index("key").loc[kd.key(), "test_acc"]


def test_pool_fractions_for_sample_ratios():
    from kdlib.config import pool_fractions

    assert pool_fractions([2, 0.02, 0.1, 0.4, 1], 0.5) == [0.01, 0.05, 0.2, 0.5, 1.0]
    assert pool_fractions([0.5, 1], 1.0) == [0.5, 1.0]
    with pytest.raises(ConfigError, match=r"sample_ratios contains 3: with teacher_share=0.5 .* allowed: \(0, 2\]"):
        pool_fractions([0.02, 3], 0.5)
    with pytest.raises(ConfigError, match=r"teacher_share=0 is outside the allowed range \(0, 1\]"):
        pool_fractions([0.5], 0)
    with pytest.raises(ConfigError, match="sample_ratios=\\[\\] is empty"):
        pool_fractions([], 0.5)
