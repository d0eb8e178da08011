"""The notebooks where readers use them: JupyterLab from this environment, on 127.0.0.1, driven by a headless Chromium
through Playwright. Every notebook must open and render without an error; notebook 04, run at the smoke profile,
must draw its explorer's sliders (no "Error displaying widget", the failure a widget front-end mismatch shows only in
a browser), and moving a slider must draw a figure. Screenshots go to the test's temporary folder.

The browser: the system's Chromium where one is installed (Debian's `chromium`, which `.ci/run` installs), else
Playwright's own; the test is skipped, saying why, where there is neither."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SYSTEM_CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
EXPLORER = "04_temperature.ipynb"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in front


def _browser(playwright):
    """A launched headless Chromium: the system's, else Playwright's own; None where there is neither."""
    for name in SYSTEM_CHROMIUM:
        path = shutil.which(name)
        if path:
            return playwright.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
    try:
        return playwright.chromium.launch(args=["--no-sandbox"])
    except Exception:  # Playwright's browser was never downloaded (no network here)
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of the notebooks (04 prepared at the smoke profile, writing into the copy), with a
    configuration of its own; yields (base URL, token, folder)."""
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (make installs it: the lab extra)")
    import papermill as pm

    root = tmp_path_factory.mktemp("lab")
    for nb in sorted(NOTEBOOKS.glob("*.ipynb")):  # every copy at the smoke profile, writing into the copy's folder
        pm.execute_notebook(str(nb), str(root / nb.name), prepare_only=True, progress_bar=False,
                            parameters=dict(profile="smoke", results_dir=str(root / "results"),
                                            figures_dir=str(root / "figures")))
    # every cell in the page (JupyterLab 4 otherwise draws only the cells in view), and no announcements popping up
    settings = root / ".settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    port, token = _free_port(), "kdlib-browser-test"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".config"), "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(root / ".settings"), "JUPYTERLAB_WORKSPACES_DIR": str(root / ".workspaces"),
           "KDLIB_WORKERS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    log = open(root / "lab.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
                               "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", "--allow-root",
                               f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
                               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                               "--LabApp.expose_app_in_browser=True"],  # window.jupyterapp: its commands
                              env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"JupyterLab exited: {(root / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not answer in 60 s: {(root / 'lab.log').read_text()[-2000:]}")
        yield base, token, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def page(lab):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (the test extra)")
    with sync_api.sync_playwright() as p:
        browser = _browser(p)
        if browser is None:
            pytest.skip("no Chromium: install Debian's `chromium` (apt), or Playwright's browser "
                        "(`playwright install chromium`, needs the network)")
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield page
        browser.close()


def _open(page, lab, name: str):
    """Open a notebook and wait until it is drawn (its title rendered) and its kernel is idle: on a loaded machine
    each step can take seconds."""
    base, token, _ = lab
    for session in json.loads(urllib.request.urlopen(f"{base}/api/sessions?token={token}").read()):
        urllib.request.urlopen(urllib.request.Request(f"{base}/api/sessions/{session['id']}?token={token}",
                                                      method="DELETE"))  # one kernel at a time
    page.goto(f"{base}/lab/tree/{name}?reset&token={token}")  # reset: this notebook alone, no restored tabs
    page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=120_000)
    page.wait_for_selector(f"{PANEL} .jp-MarkdownOutput h1", timeout=120_000)
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=180_000)


def _errors(page) -> list:
    """What a reader would see as an error: an error dialog, or a widget that failed to display."""
    out = [d.inner_text() for d in page.query_selector_all(".jp-Dialog")]
    if "Error displaying widget" in page.inner_text("body"):
        out.append("Error displaying widget")
    return out


def test_every_notebook_opens_and_renders_in_jupyterlab(lab, page, tmp_path):
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    for name in names:
        _open(page, lab, name)
        n_cells = len(json.loads((NOTEBOOKS / name).read_text())["cells"])
        cells = f"document.querySelectorAll('{PANEL} .jp-Cell').length"
        try:
            page.wait_for_function(f"{cells} >= {n_cells}", timeout=30_000)
        except Exception:
            pytest.fail(f"{name}: {page.evaluate(cells)} cells rendered of {n_cells}")
        assert not _errors(page), f"{name}: {_errors(page)}"
    page.screenshot(path=str(tmp_path / "last_notebook.png"))


def test_the_explorer_draws_its_sliders_and_a_new_figure_when_one_moves(lab, page, tmp_path):
    _open(page, lab, EXPLORER)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")  # Run > Run All Cells
    sliders = page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-slider", timeout=300_000)
    page.wait_for_selector("text=Move a slider to draw", timeout=60_000)
    sliders.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "explorer_before.png"))
    assert not _errors(page), _errors(page)
    n_sliders = len(page.query_selector_all(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-slider"))
    assert n_sliders >= 3, f"{n_sliders} sliders drawn (τ, α, test input expected)"
    output = ".jp-NotebookPanel:not(.lm-mod-hidden) .widget-output"
    before = len(page.query_selector_all(f"{output} img"))
    handle = page.query_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-slider .noUi-handle")
    handle.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"document.querySelectorAll('{output} img').length > {before}", timeout=120_000)
    img = page.query_selector(f"{output} img")
    img.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "explorer_after_slider.png"))
    assert img.bounding_box()["width"] > 200 and not _errors(page), _errors(page)
    print("screenshots:", tmp_path)
