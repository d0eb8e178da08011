"""A sweep killed with SIGKILL mid-way keeps every finished run, and a rerun computes only the rest."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import kdlib.sweep as sweep_mod
from kdlib.config import grid
from kdlib.store import Store

SCRIPT = """
import sys
from kdlib.config import grid
from kdlib.sweep import sweep
sweep(grid("smoke", fractions=[0.1, 0.2, 0.3, 0.5, 1.0], seeds=[0, 1]), sys.argv[1], "cpu", progress=False)
"""


def test_sigkill_then_resume(tmp_path, monkeypatch):
    results = tmp_path / "results"
    configs = grid("smoke", fractions=[0.1, 0.2, 0.3, 0.5, 1.0], seeds=[0, 1])
    assert len(configs) == 20
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(results)])
    runs = results / "runs"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(runs.glob("*.json"))) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = Store(results)
    done = store.keys()
    assert 3 <= len(done) < 20, f"kill came too late to test anything: {len(done)} runs stored"
    before = {k: json.loads(store.path(k).read_text()) for k in done}  # every stored record is complete JSON
    assert all(r["status"] == "ok" and "test_acc" in r["metrics"] for r in before.values())

    calls = []
    real = sweep_mod.run_one
    monkeypatch.setattr(sweep_mod, "run_one", lambda cfg, *a, **k: calls.append(cfg.key()) or real(cfg, *a, **k))
    df = sweep_mod.sweep(configs, results, "cpu", progress=False)
    assert len(calls) == 20 - len(done)
    assert not set(calls) & set(done)  # nothing finished was recomputed
    assert len(df) == 20 and set(df["key"]) == {c.key() for c in configs}
    for k, r in before.items():  # finished records untouched
        assert json.loads(store.path(k).read_text()) == r
    leftovers = [p.name for p in runs.iterdir() if p.suffix != ".json"]
    assert all(name.endswith(".tmp") for name in leftovers)  # at most a temporary file from the kill, never read
