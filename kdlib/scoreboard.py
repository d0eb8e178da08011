"""The claims scoreboard: one entry per (claim, dataset, profile), kept as JSON and rendered as Markdown, and the
README's results section written from it.

Each notebook calls `record(...)` with its judgement (`kdlib.analysis.judge`, `combine`, `all_of`, `any_of`): the
verdict, the interval it rests on, the verdicts of each half of the seeds, and the machines its runs ran on.
`python -m kdlib reproduce` gathers the same files; `python -m kdlib readme` (also run by `reproduce`) rewrites the
README's block between `README_START` and `README_END` from `figures/scoreboard.json`, so no number there is typed.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .analysis import LEVEL, RULE
from .store import atomic_write_text

README_START = "<!-- results:start (written by `python -m kdlib readme` from figures/scoreboard.json; do not edit) -->"
README_END = "<!-- results:end -->"


def _paths(directory) -> tuple[Path, Path]:
    d = Path(directory)
    return d / "scoreboard.json", d / "scoreboard.md"


def load(directory) -> dict:
    path, _ = _paths(directory)
    return json.loads(path.read_text()) if path.exists() else {}


def _finite(x):
    return round(float(x), 4) if x is not None and math.isfinite(x) else None


def record(directory, claim: str, title: str, judgement: dict, criterion: str, numbers: dict, profile: str,
           dataset: str, notebook: str, figure: str | None = None, machines=(), summary: str = "") -> dict:
    """Add or replace this claim's entry and rewrite both files. Returns the entry.

    `judgement`: a dict of kdlib.analysis (its verdict, its halves and, for one difference, its interval);
    `criterion`: what the difference d is, in words; `summary`: a sentence for readers, formatted from the runs;
    `machines`: the `kdlib.devices.machine` lines of the runs behind it."""
    if not isinstance(judgement, dict) or not {"verdict", "halves"} <= set(judgement):
        raise TypeError(f"judgement={judgement!r}: pass the dict of kdlib.analysis.judge / combine / all_of / any_of")
    entry = {"claim": claim, "title": title, "verdict": judgement["verdict"], "criterion": criterion,
             "rule": RULE, "level": judgement.get("level", LEVEL), "n_seeds": judgement.get("n_seeds"),
             "mean": _finite(judgement.get("mean")),
             "interval": [_finite(judgement["low"]), _finite(judgement["high"])] if "low" in judgement else None,
             "halves": list(judgement["halves"]), "halves_agree": bool(judgement["halves_agree"]),
             "numbers": numbers, "summary": summary, "machines": sorted(set(m for m in machines if m)),
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


def interval_text(e: dict) -> str:
    """'0.19 [0.05, 0.33]' (the mean of d and its interval), or '—' for a row judged from several intervals."""
    if not e.get("interval"):
        return "—"
    lo, hi = (("−∞" if i == 0 else "∞") if x is None else f"{x:.3g}" for i, x in enumerate(e["interval"]))
    return f"{_fmt(e['mean'])} [{lo}, {hi}]"


def halves_text(e: dict) -> str:
    return f"{e['halves'][0]} / {e['halves'][1]}" + ("" if e["halves_agree"] else " ⚠ **halves disagree**")


def machines(board: dict) -> list[str]:
    """Every machine line behind the board's entries."""
    return sorted({m for e in board.values() for m in e.get("machines", [])})


def to_markdown(board: dict) -> str:
    lines = ["# Claims scoreboard", "",
             "Written by the notebooks (`python -m kdlib reproduce`); each verdict is computed from the runs.", "",
             f"**Rule** (every row): {RULE}. A factor's row (C5, Fidelity-3, Pitfall) is *mixed* when some of its "
             "settings are reproduced and others not reproduced.", "",
             "**Made on**: " + ("; ".join(machines(board)) or "—"), "",
             "| claim | dataset | profile | verdict | d: mean [95% interval] | halves of the seeds | seeds | criterion "
             "| numbers | figure |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(board):
        e = board[key]
        nums = "; ".join(f"{k}={_fmt(v)}" for k, v in e["numbers"].items())
        fig = f"[{e['figure']}]({e['figure']})" if e.get("figure") else ""
        lines.append(f"| {e['claim']}: {e['title']} | {e['dataset']} | {e['profile']} | **{e['verdict']}** "
                     f"| {interval_text(e)} | {halves_text(e)} | {e.get('n_seeds')} | {e['criterion']} | {nums} "
                     f"| {fig} |")
    return "\n".join(lines) + "\n"


# ---- the README's results section
ORDER = ["C1", "C2", "C3", "C4", "C5", "Fidelity", "Pitfall", "C6"]


def _order(e: dict):
    rank = next((i for i, p in enumerate(ORDER) if e["claim"].startswith(p)), len(ORDER))
    return rank, e["claim"], e["dataset"], e["profile"]


def readme_block(board: dict, figures: str = "figures") -> str:
    """The README's results section from a scoreboard: a table of every verdict, then per figure the figure and its
    rows' summaries. Deterministic (no timestamps), so a test can compare it with the committed README."""
    entries = sorted(board.values(), key=_order)
    out = [README_START, "",
           f"Every verdict below is computed by a notebook from its runs and read from "
           f"[`{figures}/scoreboard.json`]({figures}/scoreboard.json) (all numbers: "
           f"[`{figures}/scoreboard.md`]({figures}/scoreboard.md)).", "",
           f"**The rule** (every row): {RULE}. A factor's row (C5, Fidelity-3, Pitfall) is *mixed* when some of its "
           "settings are reproduced and others not reproduced. A row whose halves disagree rests on all of its seeds "
           "together and could flip with another draw of them (or on another machine).", "",
           "**Made on**: " + ("; ".join(machines(board)) or "—") + ".", "",
           "| claim | data, profile | verdict | d: mean [95% interval] | halves of the seeds | seeds |",
           "|---|---|---|---|---|---|"]
    for e in entries:
        out.append(f"| {e['claim']}: {e['title']} | {e['dataset']}, `{e['profile']}` | **{e['verdict']}** "
                   f"| {interval_text(e)} | {halves_text(e)} | {e.get('n_seeds')} |")
    shown = set()
    for e in entries:
        out += ["", f"#### {e['claim']}: {e['title']} ({e['dataset']}, `{e['profile']}`, {e.get('n_seeds')} seeds) "
                    f"— **{e['verdict']}**", ""]
        if e.get("figure") and e["figure"] not in shown:
            shown.add(e["figure"])
            out += [f"![{e['claim']}]({figures}/{e['figure']})", ""]
        if e.get("summary"):
            out += [e["summary"], ""]
        out.append(f"Criterion: {e['criterion']}; mean of d [95% interval]: {interval_text(e)}; halves: {halves_text(e)}. "
                   f"Notebook: `notebooks/{e['notebook']}`.")
    out += ["", README_END]
    return "\n".join(out)


def update_readme(readme, figures_dir) -> bool:
    """Rewrite the block between the markers of `readme` from `figures_dir`'s scoreboard; True if it changed. A
    README without both markers is left alone (False)."""
    readme = Path(readme)
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    new = head + readme_block(load(figures_dir), Path(figures_dir).name) + tail
    if new != text:
        atomic_write_text(readme, new)
    return new != text
