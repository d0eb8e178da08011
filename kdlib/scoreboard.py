"""The claims scoreboard: one entry per (claim, dataset, profile), kept as JSON and rendered as Markdown.

Each notebook calls `record(...)` with its verdict; `python -m kdlib reproduce` gathers the same files.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .store import atomic_write_text


def _paths(directory) -> tuple[Path, Path]:
    d = Path(directory)
    return d / "scoreboard.json", d / "scoreboard.md"


def load(directory) -> dict:
    path, _ = _paths(directory)
    return json.loads(path.read_text()) if path.exists() else {}


def record(directory, claim: str, title: str, verdict: str, criterion: str, numbers: dict, profile: str,
           dataset: str, notebook: str, figure: str | None = None) -> dict:
    """Add or replace this claim's entry and rewrite both files. Returns the entry."""
    entry = {"claim": claim, "title": title, "verdict": verdict, "criterion": criterion, "numbers": numbers,
             "profile": profile, "dataset": dataset, "notebook": notebook,
             "figure": Path(figure).name if figure else None,  # beside the scoreboard, so a relative name
             "kdlib_version": __version__, "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    board = load(directory)
    board[f"{claim}/{dataset}/{profile}"] = entry
    json_path, md_path = _paths(directory)
    atomic_write_text(json_path, json.dumps(board, indent=1, sort_keys=True))
    atomic_write_text(md_path, to_markdown(board))
    return entry


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def to_markdown(board: dict) -> str:
    lines = ["# Claims scoreboard", "",
             "Written by the notebooks (`python -m kdlib reproduce`); each verdict is computed from the runs.", "",
             "| claim | dataset | profile | verdict | criterion | numbers | figure |",
             "|---|---|---|---|---|---|---|"]
    for key in sorted(board):
        e = board[key]
        nums = "; ".join(f"{k}={_fmt(v)}" for k, v in e["numbers"].items())
        fig = f"[{e['figure']}]({e['figure']})" if e.get("figure") else ""
        lines.append(f"| {e['claim']}: {e['title']} | {e['dataset']} | {e['profile']} | **{e['verdict']}** "
                     f"| {e['criterion']} | {nums} | {fig} |")
    return "\n".join(lines) + "\n"
