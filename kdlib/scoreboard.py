"""The claims scoreboard: one entry per (row, dataset, profile), kept as JSON and rendered as Markdown, and the
README's results section written from it.

Each notebook judges a row with `S.decide` (kdlib.claims: the rule, Δ, the looks) and records it with `S.record`:
the outcome, each setting's mean of d, interval, seeds and margin, and the machines its runs ran on.
`python -m kdlib readme` (also run by `reproduce`) rewrites the README's block between `README_START` and
`README_END` from `figures/scoreboard.json`, so no number there is typed.
"""
from __future__ import annotations

import json
import math
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .claims import CLAIMS, OUTCOMES, Claim, rule_text
from .claims import operating_characteristics as claims_oc
from .store import atomic_write_text

README_START = "<!-- results:start (written by `python -m kdlib readme` from figures/scoreboard.json; do not edit) -->"
README_END = "<!-- results:end -->"


def _paths(directory) -> tuple[Path, Path]:
    d = Path(directory)
    return d / "scoreboard.json", d / "scoreboard.md"


def load(directory) -> dict:
    """The scoreboard in `directory` (empty when there is none)."""
    path, _ = _paths(directory)
    return json.loads(path.read_text()) if path.exists() else {}


def _finite(x):
    return round(float(x), 4) if x is not None and math.isfinite(x) else None


def _setting(s: dict, part_names=()) -> dict:
    out = {"outcome": s["outcome"], "mean": _finite(s["mean"]), "interval": [_finite(s["low"]), _finite(s["high"])],
           "seeds": int(s["n_seeds"]), "margin": _finite(s["margin"]), "look": s.get("look"),
           "smaller_than_delta": bool(s.get("smaller_than_delta"))}
    if s.get("reason"):
        out["reason"] = s["reason"]
    if len(s.get("parts", ())) > 1:  # each part's own test (the setting's numbers above are its deciding part's)
        names = list(part_names) + [f"part {i + 1}" for i in range(len(part_names), len(s["parts"]))]
        out["parts"] = [{"name": n, "outcome": x["outcome"], "mean": _finite(x["mean"]),
                         "interval": [_finite(x["low"]), _finite(x["high"])], "margin": _finite(x["margin"]),
                         "seeds": int(x["n_seeds"])} for n, x in zip(names, s["parts"])]
    return out


# the files that declare every row (d, Δ, kind, cap, parts: kdlib/claims.py; the evaluation and
# selection seeds: kdlib/profiles.py)
DECLARATIONS = ("kdlib/claims.py", "kdlib/profiles.py")


def declaration(repo=None, paths=DECLARATIONS) -> str:
    """The commit that declared the rows: the first commit at which `paths` held exactly what they hold now
    ('<hash> (<date>)'), so an edit undone later does not move it; '<last commit> + uncommitted changes' when the
    files match no commit; 'unknown' outside a git checkout (an installed kdlib)."""
    repo = Path(repo) if repo else Path(__file__).resolve().parent.parent
    git = lambda *a, check=True: subprocess.run(["git", "-C", str(repo), *a], capture_output=True, text=True,
                                                timeout=20, check=check)
    try:
        commits = git("log", "--reverse", "--format=%h (%cs)", "--", *paths).stdout.split("\n")
        for line in filter(None, commits):  # oldest first: the first one whose files equal today's
            if git("diff", "--quiet", line.split()[0], "--", *paths, check=False).returncode == 0:
                return line
        last = git("log", "-1", "--format=%h (%cs)", "--", *paths).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (last or "unknown") + " + uncommitted changes"


def record(directory, row: str, title: str, judgement: dict, claim: Claim, numbers: dict, profile: str,
           dataset: str, figure: str | None = None, machines=(), summary: str = "") -> dict:
    """Add or replace this row's entry and rewrite both files. Returns the entry.

    `judgement`: kdlib.claims' (S.decide); `claim`: the row's declaration; `summary`: a sentence for readers,
    formatted from the runs; `machines`: the `kdlib.devices.machine` lines of the runs behind it."""
    if not isinstance(judgement, dict) or not {"verdict", "settings", "margin"} <= set(judgement):
        raise TypeError(f"judgement={judgement!r}: pass the judgement of kdlib.claims (S.decide / claims.judgement)")
    entry = {"claim": row, "title": title, "verdict": judgement["verdict"], "d": claim.d, "kind": claim.kind,
             "delta": claim.delta, "unit": claim.unit, "delta_reason": claim.delta_reason,
             "level": round(judgement["level"], 5), "looks": judgement["looks"], "n_seeds": judgement["n_seeds"],
             "min_seeds": judgement["min_seeds"], "margin": _finite(judgement["margin"]),
             "mean": _finite(judgement.get("mean")),
             "interval": [_finite(judgement["low"]), _finite(judgement["high"])] if "low" in judgement else None,
             "smaller_than_delta": bool(judgement.get("smaller_than_delta")), "counts": judgement["counts"],
             "settings": {k: _setting(v, claim.parts) for k, v in judgement["settings"].items()},
             "note": claim.note, "declared_in": declaration(),
             "numbers": numbers, "summary": summary, "machines": sorted(set(m for m in machines if m)),
             "profile": profile, "dataset": dataset, "notebook": claim.notebook,
             "figure": Path(figure).name if figure else None,  # beside the scoreboard, so a relative name
             "kdlib_version": __version__, "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    # a row written under the rule before kdlib.claims (no settings) cannot stand beside these: it is dropped
    board = {k: e for k, e in load(directory).items() if "settings" in e}
    board[f"{row}/{dataset}/{profile}"] = entry
    json_path, md_path = _paths(directory)
    atomic_write_text(json_path, json.dumps(board, indent=1, sort_keys=True))
    atomic_write_text(md_path, to_markdown(board))
    return entry


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _num(x, unit: str) -> str:
    if x is None:
        return "?"
    if unit not in ("%", " points"):
        return f"{x:.3g}"
    v = f"{100 * x:.3g}"
    return v + (" point" if unit == " points" and v in ("1", "-1") else unit)


def interval_text(e: dict, s: dict | None = None) -> str:
    """'12.4% [8.1, 16.7]' (the mean of d and its interval, in d's unit), or '—' for a row of several settings."""
    s = s or e
    if not s.get("interval"):
        return "—"
    scale = 100 if e.get("unit") in ("%", " points") else 1
    lo, hi = ((("−∞" if i == 0 else "∞") if x is None else f"{scale * x:.3g}") for i, x in enumerate(s["interval"]))
    return f"{_num(s['mean'], e.get('unit', ''))} [{lo}, {hi}]"


def seeds_text(e: dict) -> str:
    lo, hi = e.get("min_seeds", e["n_seeds"]), e["n_seeds"]
    return f"{hi}" if lo == hi else f"{lo}–{hi}"


def verdict_text(e: dict) -> str:
    v = f"**{e['verdict']}**" + (" (smaller than Δ)" if e.get("smaller_than_delta") else "")
    if len(e.get("settings", {})) > 1:
        v += " (" + ", ".join(f"{e['counts'][o]} {o}" for o in OUTCOMES if o in e["counts"]) + ")"
    return v


def margin_text(e: dict) -> str:
    return "—" if e.get("margin") is None else f"{e['margin']:.2f}"


def machines(board: dict) -> list[str]:
    """Every machine line behind the board's entries."""
    return sorted({m for e in board.values() for m in e.get("machines", [])})


def _rule_lines() -> list[str]:
    return [f"**Rule** (every row): {rule_text()}.", "",
            "**Margin**: how far a row's interval lies past the boundary that decided it (for an open row: how far short "
            "of the nearest one), in half-widths of the interval; a factor row gives its closest setting's. A margin "
            "below about 0.5 is a verdict another draw of the seeds (or another machine) could change."]


def to_markdown(board: dict) -> str:
    """Every row in detail: its outcome, d, Δ and why, each setting's interval, seeds and margin, its numbers."""
    lines = ["# Claims scoreboard", "",
             "Written by the notebooks (`python -m kdlib reproduce`); each verdict is computed from the runs by the "
             "rule of `kdlib/claims.py`.", "", *_rule_lines(), "",
             "**Made on**: " + ("; ".join(machines(board)) or "—"), ""]
    for key in sorted(board, key=lambda k: _order(board[k])):
        e = board[key]
        lines += [f"## {e['claim']}: {e['title']} ({e['dataset']}, `{e['profile']}`) — {verdict_text(e)}", "",
                  f"- d: {e['d']}. Kind: {e['kind']}.",
                  f"- Δ = {_num(e['delta'], e['unit'])}: {e['delta_reason']}.",
                  f"- Seeds: {seeds_text(e)} (looks at {', '.join(map(str, e['looks']))}; level "
                  f"{100 * e['level']:.2f}% per side). Margin: {margin_text(e)} half-widths.",
                  f"- Declared in: {e.get('declared_in', 'unknown')}.", *([f"- Note: {e['note']}."] if e.get("note") else []),
                  ""]
        if e.get("summary"):
            lines += [e["summary"], ""]
        lines += ["| setting | outcome | d: mean [interval] | seeds | margin | decided at look |", "|---|---|---|---|---|---|"]
        for name, s in e["settings"].items():
            lines.append(f"| {name} | {s['outcome']}{' (smaller than Δ)' if s.get('smaller_than_delta') else ''} "
                         f"| {interval_text(e, s)} | {s['seeds']} | {margin_text(s)} "
                         f"| {'—' if s['outcome'] == 'open' else s.get('look') or '—'} |")
            for part in s.get("parts", []):
                lines.append(f"| · {part['name']} | {part['outcome']} | {interval_text(e, part)} | {part['seeds']} "
                             f"| {margin_text(part)} | |")
        reasons = [f"{name}: {s['reason']}" for name, s in e["settings"].items() if s.get("reason")]
        if reasons:
            lines += ["", "Why an interval is not a t-interval: " + "; ".join(reasons) + "."]
        nums = "; ".join(f"{k}={_fmt(v)}" for k, v in e["numbers"].items())
        fig = f" Figure: [{e['figure']}]({e['figure']})." if e.get("figure") else ""
        lines += ["", f"Numbers: {nums}.{fig} Notebook: `notebooks/{e['notebook']}`.", ""]
    return "\n".join(lines)


# ---- the README's results section
ORDER = ["C1", "C2", "C3", "C4", "C5", "Fidelity", "Pitfall", "C6"]


def _order(e: dict):
    rank = next((i for i, p in enumerate(ORDER) if e["claim"].startswith(p)), len(ORDER))
    return rank, e["claim"], e["dataset"], e["profile"]


def delta_table() -> list[str]:
    """Every declared row's d, Δ and reason (from kdlib.claims), for the README."""
    out = ["| row | kind | d (positive: the claim holds) | Δ | why this Δ | seed cap |", "|---|---|---|---|---|---|"]
    for c in CLAIMS.values():
        out.append(f"| {c.key} | {c.kind} | {c.d} | {_num(c.delta, c.unit)} | {c.delta_reason} | {c.cap} |")
    return out


def error_rates() -> list[str]:
    """The rule's operating characteristics (kdlib.claims.operating_characteristics: 10,000 simulated rows per line,
    seeded), as a Markdown table for the README."""
    t = claims_oc()
    out = ["| looks | true effect (sd of d) | reproduced | contradicted | negligible | open at the cap | mean seeds |",
           "|---|---|---|---|---|---|---|"]
    for _, r in t.iterrows():
        out.append(f"| {r['looks']} | {r['effect']:g} | {100 * r['reproduced']:.1f}% | {100 * r['contradicted']:.1f}% "
                   f"| {100 * r['negligible']:.1f}% | {100 * r['open']:.1f}% | {r['mean_seeds']:.1f} |")
    return out


def readme_block(board: dict, figures: str = "figures") -> str:
    """The README's results section from a scoreboard: one line per row, the headline figure, the rule and every
    row's Δ. Deterministic (no timestamps), so a test can compare it with the committed README."""
    entries = sorted(board.values(), key=_order)
    out = [README_START, "",
           f"Every verdict is computed by a notebook from its runs and read from "
           f"[`{figures}/scoreboard.json`]({figures}/scoreboard.json); each row's settings, intervals and numbers are in "
           f"[`{figures}/scoreboard.md`]({figures}/scoreboard.md).", "",
           "| row | data, profile | verdict | d: mean [interval] | seeds | Δ | margin |", "|---|---|---|---|---|---|---|"]
    for e in entries:
        out.append(f"| {e['claim']}: {e['title']} | {e['dataset']}, `{e['profile']}` | {verdict_text(e)} "
                   f"| {interval_text(e)} | {seeds_text(e)} | {_num(e['delta'], e['unit'])} | {margin_text(e)} |")
    out += ["", "**Made on**: " + ("; ".join(machines(board)) or "—") + "."]
    declared = sorted({e.get("declared_in", "unknown") for e in entries})
    out += ["", "**Declared in**: commit " + ", ".join(declared) + " (the first commit whose `kdlib/claims.py` and "
            "`kdlib/profiles.py` equal those each row was recorded with: every row's d, Δ, kind, cap, selection rule and "
            "evaluation seeds). A row whose declaration changed after its runs began says so in its note.",
            "", "Where a setting's d has two parts (gain at small data; its change up to full data), both must be "
            "reproduced; the interval shown is the part that decided the row, and "
            f"[`{figures}/scoreboard.md`]({figures}/scoreboard.md) gives both."]
    head = next((e for e in entries if e["claim"] == "C1" and e.get("figure")), None)
    if head:
        out += ["", f"![C1]({figures}/{head['figure']})", "", head.get("summary", "")]
    out += ["", "<details><summary>The rule, the looks and every row's Δ (from <code>kdlib/claims.py</code>)</summary>",
            "", *_rule_lines(), "", *delta_table(), "",
            "The rule's error rates and cost, simulated through the whole schedule (`kdlib.claims.simulate`: 10,000 rows "
            "per line, d normal with standard deviation 1, Δ = 0.5 standard deviations; `tests/test_claims.py` asserts "
            "the false-positive rates, also under heavy-tailed d):", "", *error_rates(), "", "</details>", "", README_END]
    return "\n".join(out)


def update_readme(readme, figures_dir) -> bool:
    """Rewrite the block between the markers of `readme` from `figures_dir`'s scoreboard, and its scoreboard.md from
    its scoreboard.json (so both follow this version's rendering); True if the README changed. A README without
    both markers is left alone (False)."""
    board = load(figures_dir)
    if board:
        atomic_write_text(_paths(figures_dir)[1], to_markdown(board))
    readme = Path(readme)
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    new = head + readme_block(board, Path(figures_dir).name) + tail
    if new != text:
        atomic_write_text(readme, new)
    return new != text
