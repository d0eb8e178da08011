"""Colab: the badge that opens a notebook there, and the set-up cell that installs kdlib into the Colab runtime and
keeps results where a disconnect cannot lose them.

The repository's address lives here, in `REPOSITORY`, and nowhere else: `python -m kdlib colab` writes every notebook's
badge and set-up cell from it (a test checks that the committed notebooks agree with it). Outside Colab the set-up cell
does nothing.
"""
from __future__ import annotations

import re
from pathlib import Path

from .errors import ConfigError

# "owner/name" of the public GitHub repository. None: not published yet, so the notebooks carry no badge and their
# set-up cell stops on Colab with a message saying how to install kdlib there.
REPOSITORY: str | None = None
BRANCH = "main"
DRIVE = "/content/drive/MyDrive"  # where Colab mounts Google Drive
LOCAL = "/content/kdlib"  # the runtime's own disk: lost when it disconnects
DEFAULTS = {"results_dir": "../results", "figures_dir": "../figures"}  # the notebooks' parameters in a clone
BADGE_ID, SETUP_ID = "colab-badge", "colab-setup"


def check_repository(repository: str) -> str:
    if not isinstance(repository, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository):
        raise ConfigError(f"repository={repository!r} is not allowed; allowed: 'owner/name' of a GitHub repository")
    return repository


def badge(repository: str, notebook: str) -> str:
    """Markdown of the 'Open in Colab' badge of notebooks/<notebook> (a file name)."""
    url = f"https://colab.research.google.com/github/{check_repository(repository)}/blob/{BRANCH}/notebooks/{notebook}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def setup_source(repository: str | None) -> str:
    """The set-up cell: on Colab, pip-install kdlib from the repository (Colab's own torch and torchvision are kept:
    kdlib asks for ranges, not pins) and move the default results and figures folders (`colab_dirs`)."""
    source = f'"git+https://github.com/{check_repository(repository)}@{BRANCH}"' if repository else "None"
    return "\n".join([
        "# Colab only (nothing happens elsewhere): install kdlib, and keep results where a disconnect cannot lose them.",
        "# Written by `python -m kdlib colab` from kdlib/colab.py (REPOSITORY).",
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        "    import subprocess",
        "",
        f"    KDLIB_SOURCE = {source}",
        "    if KDLIB_SOURCE is None:",
        '        raise RuntimeError("this copy of the notebook does not know where kdlib is published "',
        '                           "(kdlib/colab.py: REPOSITORY); install it first: !pip install <path or URL of kdlib>")',
        '    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", KDLIB_SOURCE], check=True)',
        "    from kdlib.colab import colab_dirs",
        "",
        "    results_dir, figures_dir = colab_dirs(results_dir, figures_dir)",
    ])


def colab_dirs(results_dir: str, figures_dir: str, drive: str | None = None, local: str | None = None):
    """On Colab, the clone's default folders (../results, ../figures) become <Drive>/kdlib/{results,figures} when
    Google Drive is mounted (so a disconnect loses no finished run: reruns compute only what is missing), else
    /content/kdlib/{...} with a note on how to mount Drive. Folders the user chose are kept as they are."""
    drive, local = Path(drive or DRIVE), Path(local or LOCAL)
    base = drive / "kdlib" if drive.is_dir() else local
    chosen = {name: str(base / name.removesuffix("_dir")) if value == DEFAULTS[name] else value
              for name, value in (("results_dir", results_dir), ("figures_dir", figures_dir))}
    print(f"results_dir = {chosen['results_dir']}, figures_dir = {chosen['figures_dir']}")
    if not drive.is_dir() and results_dir == DEFAULTS["results_dir"]:
        print("Google Drive is not mounted, so results are lost when the runtime disconnects. To keep them, run\n"
              "    from google.colab import drive; drive.mount('/content/drive')\nand then this cell again.")
    return chosen["results_dir"], chosen["figures_dir"]


def stamp(notebooks_dir, repository: str | None = REPOSITORY) -> list[Path]:
    """Write the badge (a first markdown cell; none without a repository) and the set-up cell (right after the
    `parameters` cell) into every notebook in `notebooks_dir`; returns the notebooks that changed."""
    import nbformat

    changed = []
    for path in sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        cells = [c for c in nb.cells if c.get("id") not in (BADGE_ID, SETUP_ID)]
        at = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])) + 1
        cells.insert(at, nbformat.v4.new_code_cell(setup_source(repository), id=SETUP_ID,  # collapsed: not the claim
                                                   metadata={"jupyter": {"source_hidden": True}}))
        if repository:
            cells.insert(0, nbformat.v4.new_markdown_cell(badge(repository, path.name), id=BADGE_ID))
        nb.cells = cells
        if nbformat.writes(nb) != before:
            nbformat.write(nb, path)
            changed.append(path)
    return changed
