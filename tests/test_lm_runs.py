"""Language-model runs (C6): config checks, evaluation by hand, the store round trip, the cached teacher."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

import kdlib.run as run_mod
import kdlib.teachers as teachers
from kdlib import analysis, lm, tasks, text
from kdlib.config import LMConfig, make_lm_config
from kdlib.errors import ConfigError
from kdlib.models import build_gpt
from kdlib.store import Store
from kdlib.sweep import sweep
from test_text import _archive

# 10 plays of a few hundred characters: with n_val = n_test = 2, six train plays
PLAYS = {f"play{i}": ("ACT I. Scene %d.\nEnter KING and QUEEN.\n\nKING.\nWhat news, my lord?\n\n" % i) * (4 + i)
         for i in range(10)}
DATA = dict(n_val=2, n_test=2, train_chars=None, eval_chars=None)


@pytest.fixture
def fake_text(tmp_path, monkeypatch):
    _, digest = _archive(tmp_path / "data", PLAYS)
    monkeypatch.setattr(text, "SHA256", digest)  # the fake archive is the one expected
    monkeypatch.setenv("KDLIB_DATA", str(tmp_path / "data"))
    return tmp_path


def small(**kw) -> LMConfig:
    return make_lm_config("smoke", **{"data": DATA, "block_size": 8, "min_steps": 20, **kw})


def test_lm_config_validation_names_the_value():
    with pytest.raises(ConfigError, match="student='gpt-huge' is not known; allowed: gpt-base, gpt-small, gpt-tiny"):
        make_lm_config("smoke", student="gpt-huge")
    with pytest.raises(ConfigError, match="fraction=0 is outside the allowed range"):
        make_lm_config("smoke", fraction=0)
    with pytest.raises(ConfigError, match=r"train_chars=50 is not allowed; .* >= 2 \* block_size \+ 2 = 66"):
        make_lm_config("smoke", data=dict(train_chars=50), block_size=32)
    with pytest.raises(ConfigError, match="method='kd' needs a teacher"):
        LMConfig(teacher=None).validate()
    with pytest.raises(ConfigError, match="unknown config field"):
        make_lm_config("smoke", signal="argmax")


def test_lm_keys_share_labels_runs_and_the_teacher():
    a, b = make_lm_config("smoke", method="labels", tau=2.0), make_lm_config("smoke", method="labels", tau=5.0)
    assert a.tau is None and a.key() == b.key()  # tau means nothing to a label run
    assert make_lm_config("smoke", fraction=1).key() == make_lm_config("smoke", fraction=1.0).key()
    assert make_lm_config("smoke", lr=1e-3).key() != make_lm_config("smoke", lr=3e-3).key()
    assert a.teacher_key() == make_lm_config("smoke", method="kd", lr=1e-3).teacher_key()
    assert a.teacher_key() != make_lm_config("smoke", teacher="gpt-small").teacher_key()


def test_evaluate_by_hand():
    """A model that puts probability p on the true next character (and the rest uniformly) has CE = -ln p; against
    itself as teacher, agreement 1 and KL 0."""
    ids = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2])  # windows of 4: inputs 0120/1201... next = (i + 1) mod 3

    class Knows(torch.nn.Module):
        block_size = 4

        def forward(self, x):
            p = torch.full((*x.shape, 3), 0.1)
            p.scatter_(-1, ((x + 1) % 3)[..., None], 0.8)
            return p.log()

    out = lm.evaluate(Knows(), ids, 4, teacher=Knows())
    assert out["ce"] == pytest.approx(-math.log(0.8)) and out["ppl"] == pytest.approx(1 / 0.8)
    assert out["bpc"] == pytest.approx(-math.log2(0.8))
    assert out["agreement"] == 1.0 and out["kl"] == pytest.approx(0.0, abs=1e-7)


def test_select_on_validation_lower_is_better():
    df = pd.DataFrame({"status": "ok", "method": "kd", "fraction": 0.1, "lr": [1e-3, 3e-3], "val_ppl": [9.0, 7.0]})
    assert analysis.select_on_validation(df, "lr", metric="val_ppl", higher_is_better=False)["lr"].item() == 3e-3
    assert analysis.select_on_validation(df, "lr", metric="val_ppl")["lr"].item() == 1e-3


def test_prompt_is_held_out_text_after_a_blank_line(fake_text):
    data = tasks.text_for(small())
    p = lm.prompt_ids(data, 8)
    assert len(p) == 4
    test_text = data.vocab.decode(data.test.tolist())
    assert data.vocab.decode(p.tolist()).startswith("\n\n") and data.vocab.decode(p.tolist()) in test_text


def test_lm_sweep_stores_reuses_and_trains_the_teacher_once(fake_text, monkeypatch):
    results = fake_text / "results"
    configs = [small(method=m, fraction=f) for m in ("labels", "kd") for f in (0.25, 1.0)]
    trained = []
    real_train = run_mod.train
    spy = lambda model, x, *a, **k: trained.append(len(x)) or real_train(model, x, *a, **k)
    monkeypatch.setattr(teachers, "train", spy)  # the teacher
    monkeypatch.setattr(run_mod, "train", spy)  # the students
    df = sweep(configs, results, "cpu", progress=False)
    n_windows = (len(tasks.text_for(small()).train) - 1) // 8
    assert trained[0] == n_windows and len(trained) == 5  # the teacher on every window, once; then 4 students
    assert sorted(trained[1:]) == sorted([round(0.25 * n_windows)] * 2 + [n_windows] * 2)
    assert (df["status"] == "ok").all() and len(Store(results).keys()) == 4
    for col in ("test_ppl", "test_bpc", "val_ppl", "train_ppl", "test_agreement", "teacher_test_ppl"):
        assert df[col].notna().all(), col
    assert (df["test_bpc"] - df["test_ce"] / math.log(2)).abs().max() < 1e-9
    record = Store(results).get(configs[2].key())
    assert record["sample"].startswith(tasks.text_for(small()).vocab.decode(lm.prompt_ids(tasks.text_for(small()), 8).tolist()))
    assert len(record["sample"]) == 4 + tasks.SAMPLE_CHARS
    again = sweep(configs, results, "cpu", progress=False)  # everything cached: nothing trains
    assert len(trained) == 5
    pd.testing.assert_frame_equal(df.reset_index(drop=True), again.reset_index(drop=True))


def test_kd_student_is_closer_to_its_teacher_than_a_label_student(fake_text):
    """On a text it can memorise, a KD student copies the teacher's distributions: lower KL than a label student."""
    results = fake_text / "results"
    df = sweep([small(method=m, fraction=0.25, min_steps=60) for m in ("labels", "kd")], results, "cpu",
               progress=False).set_index("method")
    assert df.loc["kd", "test_kl"] < df.loc["labels", "test_kl"]
