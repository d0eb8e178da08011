"""Run the notebook series through papermill; keep the executed copies and their HTML; gather the scoreboard."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from unittest import mock

from .config import profile_defaults
from .errors import ConfigError
from .executors import WORKERS_ENV, resolve_workers
from .scoreboard import update_readme
from .store import check_folder
from .train import resolve_device

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
# notebook -> {variant name: its parameters for a profile}; each variant is executed as <notebook>_<name>.ipynb
# C6: a ViT student (the profile's: vit-small on MNIST-1D, vit-cifar on CIFAR) of the CNN teacher, and of a ViT
# teacher of the same size; the profile's seed schedule (the row stops at 8 seeds), but (ViT runs cost about three
# times a CNN's) on three α and under two of C1's temperature rules: τ chosen on validation and the profile's τ
VIT_FRACTIONS = [0.02, 0.1, 1.0]


def _vit(p, teacher=None) -> dict:
    extra = {"student": p["vit"], "fractions": VIT_FRACTIONS, "tau_rules": ["validation", "fixed"]}
    return {**extra, "teacher": p["vit"]} if teacher else extra


VARIANTS = {
    "01_data_efficiency": {"vit": _vit, "vit_from_vit": lambda p: _vit(p, teacher=True)},
}


def notebook_paths(select=None) -> list[Path]:
    """The numbered notebooks (NN_name.ipynb), optionally only those whose number or name is in `select`."""
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise ConfigError(f"no notebooks found in {NOTEBOOKS}; run from a clone of the repository")
    if select:
        known = {p.stem[:2] for p in paths} | {p.stem for p in paths}
        for s in select:
            if s not in known:
                raise ConfigError(f"notebook {s!r} is not known; allowed: {', '.join(sorted(known))}")
        paths = [p for p in paths if p.stem[:2] in select or p.stem in select]
    return paths


def plan(profile: str, select=None) -> list[tuple[Path, str, dict]]:
    """What `reproduce` executes, in order: (notebook, output name, parameters beyond the common ones), each
    notebook followed by its VARIANTS."""
    runs = []
    for nb in notebook_paths(select):
        runs.append((nb, nb.name, {}))
        runs += [(nb, f"{nb.stem}_{name}.ipynb", extra(profile_defaults(profile)))
                 for name, extra in VARIANTS.get(nb.stem, {}).items()]
    return runs


def to_html(notebook: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    out = notebook.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def reproduce(profile: str = "cpu", select=None, output_dir="outputs", results_dir="results",
              figures_dir=None, device: str = "auto", html: bool = True, workers: int | None = None,
              log=print) -> list[dict]:
    """Execute each notebook with `profile`; return one dict per notebook (path, seconds, error). `workers`: runs at
    once in each notebook's sweeps (None: $KDLIB_WORKERS, else one per core); the notebooks run one after another."""
    import papermill as pm

    profile_defaults(profile)  # validate everything before the first notebook starts
    resolve_device(device)
    workers = resolve_workers(workers)
    runs = plan(profile, select)  # unknown notebook names fail here
    out_dir = Path(output_dir).resolve() / profile
    if figures_dir is None:  # smoke figures never overwrite the committed ones
        figures_dir = REPO / "figures" if profile != "smoke" else out_dir / "figures"
    for name, folder in (("results_dir", results_dir), ("output_dir", out_dir), ("figures_dir", figures_dir)):
        check_folder(name, folder)
    params = {"profile": profile, "device": device, "results_dir": str(Path(results_dir).resolve()),
              "figures_dir": str(Path(figures_dir).resolve())}
    report = []
    for nb, name, extra in runs:
        start = time.perf_counter()
        out = out_dir / name
        log(f"[reproduce] {name} (profile={profile}{''.join(f', {k}={v}' for k, v in extra.items())}) ...")
        error = None
        try:
            with mock.patch.dict(os.environ, {WORKERS_ENV: str(workers)}):  # inherited by the kernel papermill starts
                pm.execute_notebook(str(nb), str(out), parameters={**params, **extra}, cwd=str(NOTEBOOKS),
                                    kernel_name="python3", progress_bar=False)
        except Exception as e:  # keep going: the other notebooks' results are still worth having
            error = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
        if html and out.exists():
            to_html(out)
        seconds = time.perf_counter() - start
        log(f"[reproduce] {name}: {'FAILED ' + error if error else 'ok'} in {seconds:.0f} s -> {out}")
        report.append({"notebook": name, "output": str(out), "seconds": seconds, "error": error})
    board = Path(figures_dir) / "scoreboard.md"
    log(f"[reproduce] {len(runs)} notebook(s) in {sum(r['seconds'] for r in report):.0f} s with {workers} worker(s)")
    log(f"[reproduce] scoreboard: {board}" if board.exists() else "[reproduce] no scoreboard was written")
    if board.exists() and Path(figures_dir).resolve() == (REPO / "figures").resolve():
        changed = update_readme(REPO / "README.md", figures_dir)
        log(f"[reproduce] README.md results section {'rewritten' if changed else 'unchanged'} from the scoreboard")
    return report


if __name__ == "__main__":
    sys.exit("use: python -m kdlib reproduce --profile cpu")
