"""Results store: one JSON file per finished run, named by the hash of its full config.

A record is written to a temporary file in the same folder and moved into place with `os.replace`, which is
atomic: a reader sees either no record or a complete one, and a killed sweep leaves no half-written run.

Many workers (processes, GPUs, cluster jobs) may share one store. Before computing a run a worker *claims* it by
creating `<key>.lock` with O_EXCL (atomic on local and NFS v3+ file systems); a live claim makes the others wait
instead of computing the run twice. A claim whose holder died (same host: its process is gone; any host: its
heartbeat, refreshed every `HEARTBEAT` seconds, is older than `STALE_AFTER`) is taken over.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import threading
import time
import warnings
from pathlib import Path

from . import __version__, same_runs
from .errors import ConfigError

HEARTBEAT = 20.0    # seconds between refreshes of a held claim
STALE_AFTER = 120.0  # a claim not refreshed for this long belongs to a dead worker


def config_hash(config: dict) -> str:
    """16 hex digits of the SHA-256 of the config as canonical JSON (sorted keys)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def atomic_write(path: Path, write, mode: str = "wb") -> None:
    """`write(f)` into a temporary file beside `path`, synced, then renamed onto it: a reader sees the old file or the
    whole new one, never part of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")  # never matches *.json, *.npz, *.pt
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text), mode="w")


class Claim:
    """A held lock file: refreshed by a daemon thread while held, removed on exit (a context manager)."""

    def __init__(self, path: Path, token: str, heartbeat: float = HEARTBEAT):
        self.path, self.token, self._stop = path, token, threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat,), daemon=True)
        self._thread.start()

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                os.utime(self.path)
            except FileNotFoundError:  # taken over after all (we were presumed dead): stop refreshing
                return

    def release(self) -> None:
        self._stop.set()
        try:
            if json.loads(self.path.read_text()).get("token") == self.token:
                self.path.unlink()
        except (FileNotFoundError, json.JSONDecodeError):
            pass

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def claim(path: Path, stale_after: float = STALE_AFTER, heartbeat: float = HEARTBEAT) -> Claim | None:
    """Take the lock file `path`, or return None while another live worker holds it (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    token = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
    for _ in range(2):  # a second try after taking over a stale lock
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _stale(path, stale_after):
                return None
            try:  # rename is atomic: of several workers taking over the same stale lock, one wins
                os.rename(path, path.with_name(f".{path.name}.{token.replace(':', '-')}.stale"))
                os.unlink(path.with_name(f".{path.name}.{token.replace(':', '-')}.stale"))
            except FileNotFoundError:
                return None  # another worker took it over first
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(), "token": token}, f)
        return Claim(path, token, heartbeat)
    return None


def _stale(path: Path, stale_after: float) -> bool:
    try:
        age = time.time() - path.stat().st_mtime
        holder = json.loads(path.read_text())
    except FileNotFoundError:
        return False  # released meanwhile: not ours to take over, the caller retries later
    except json.JSONDecodeError:  # a lock being written, or one a crash cut short
        return age > stale_after
    if holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", -1))):
        return True
    return age > stale_after


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0 and not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether `pid` has exited and waits to be reaped (Linux; elsewhere False). A worker whose owner was killed is
    adopted by init or a container's first process, which may reap it late or never; its claim is dead all the same."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] == b"Z"  # the state follows the command name, which may hold ')'


def check_folder(name: str, folder) -> Path:
    """`folder` created if missing and proven writable (a file is made there and removed), before any work; a path
    under a file, a read-only place or a file in its place is a ConfigError naming `name`, the path and why."""
    path = Path(folder).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".kdlib-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        why = "a file is in the way" if isinstance(e, (FileExistsError, NotADirectoryError)) else e.strerror or e
        raise ConfigError(f"{name}={str(folder)!r} cannot be used: {why} ({type(e).__name__}); allowed: a folder "
                          f"that exists or can be created, and can be written") from None
    return path


class Store:
    """`<results_dir>/runs/<key>.json`, one per finished run.

    A record is used only if it parses, its stored key is the hash of its stored config, and it was written by a
    kdlib version that computes runs as this one does (`kdlib.same_runs`). Anything else is reported (with its path)
    and treated as missing, so it is recomputed and replaced: results of other code or settings are never mixed in
    silently. `rejected` lists what was refused.
    """

    def __init__(self, results_dir, version: str = __version__):
        self.root = Path(results_dir) / "runs"
        self.version = version
        self.rejected: list[tuple[str, str]] = []  # (path, reason)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored record for `key`, or None (missing, or refused as above)."""
        p = self.path(key)
        try:
            record = json.loads(p.read_text())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            return self._reject(p, f"corrupt ({e})")
        if not isinstance(record, dict) or record.get("key") != key or \
                config_hash(record.get("config") or {}) != key:
            return self._reject(p, "its config does not hash to its file name")
        made_by = record.get("kdlib_version")
        if made_by != self.version and not (self.version == __version__ and same_runs(made_by)):
            return self._reject(p, f"made by kdlib {record.get('kdlib_version')}, this is {self.version}")
        return record

    def _reject(self, path: Path, reason: str) -> None:
        self.rejected.append((str(path), reason))
        if len(self.rejected) <= 3:  # the first few by name; `rejected` holds them all
            warnings.warn(f"run record {path} is not used: {reason}; it will be recomputed")
        return None

    def put(self, record: dict) -> None:
        atomic_write_text(self.path(record["key"]), json.dumps(record, indent=1, sort_keys=True))

    def claim(self, key: str, **kwargs) -> Claim | None:
        """Take `key` for computing (see `claim`); None while another live worker holds it."""
        return claim(self.root / f"{key}.lock", **kwargs)

    def clear_stale_claims(self, keys) -> int:
        """Remove the claims of stored runs whose holder died after storing the record and before releasing the
        claim (a kill in that gap leaves a lock nobody will ever take over). Live claims stay. Returns the count."""
        removed = 0
        for key in keys:
            lock = self.root / f"{key}.lock"
            if lock.exists() and self.path(key).exists() and _stale(lock, STALE_AFTER):
                try:
                    lock.unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def keys(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.json")) if self.root.exists() else []

    def __len__(self) -> int:
        return len(self.keys())
