"""Results store: one JSON file per finished run, named by the hash of its full config.

A record is written to a temporary file in the same folder and moved into place with `os.replace`, which is
atomic: a reader sees either no record or a complete one, and a killed sweep leaves no half-written run.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path


def config_hash(config: dict) -> str:
    """16 hex digits of the SHA-256 of the config as canonical JSON (sorted keys)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")  # never matches *.json
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class Store:
    def __init__(self, results_dir):
        self.root = Path(results_dir) / "runs"

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored record for `key`, or None. An unreadable record is reported and treated as missing."""
        p = self.path(key)
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            warnings.warn(f"corrupt run record {p} ({e}); it will be recomputed")
            return None

    def put(self, record: dict) -> None:
        atomic_write_text(self.path(record["key"]), json.dumps(record, indent=1, sort_keys=True))

    def keys(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.json")) if self.root.exists() else []

    def __len__(self) -> int:
        return len(self.keys())
