"""Compare two scoreboard.json files row by row: everything but `updated` must be equal, and each row's numbers must
hold the same values, as many of each (their keys may be renamed, as when issue 34 gave them one grammar). Prints the
keys only the old file has beside those only the new one has, and exits 1 on any other difference.

    python tools/compare_scoreboards.py OLD/scoreboard.json NEW/scoreboard.json
"""
from __future__ import annotations

import json
import sys


def compare(old: dict, new: dict) -> list[str]:
    problems = []
    for row in sorted(set(old) | set(new)):
        if row not in old or row not in new:
            problems.append(f"{row}: only in {'new' if row in new else 'old'}")
            continue
        a, b = dict(old[row]), dict(new[row])
        for entry in (a, b):
            entry.pop("updated", None)
        na, nb = a.pop("numbers", {}), b.pop("numbers", {})
        problems += [f"{row}: {field} differs" for field in sorted(set(a) | set(b)) if a.get(field) != b.get(field)]
        if sorted(map(json.dumps, na.values())) != sorted(map(json.dumps, nb.values())):
            problems.append(f"{row}: the numbers' values differ")
            continue
        gone, came = sorted(set(na) - set(nb)), sorted(set(nb) - set(na))
        if gone or came:
            print(f"{row}: {len(gone)} keys renamed\n  old: {', '.join(gone)}\n  new: {', '.join(came)}")
    return problems


if __name__ == "__main__":
    old, new = (json.load(open(p)) for p in sys.argv[1:3])
    problems = compare(old, new)
    print(*problems, sep="\n")
    print(f"{len(new)} rows; {'equal but for renamed keys' if not problems else f'{len(problems)} differences'}")
    sys.exit(1 if problems else 0)
