"""JupyterLab in headless Chromium, driven as a reader drives it; shared by the browser test and `make bench`.

``JupyterLab`` serves a temporary copy of ``notebooks/`` on 127.0.0.1 with its own settings, runtime
and config dirs, a random token and autosave off. ``NotebookPage`` opens a chapter, runs every cell
and reads what the cells show. ``ExplorerView`` finds an explorer's controls and moves them by
keyboard, select and click, waiting each time until the experiment has re-run and the plot redrawn.
Every wait is on a condition in the page; the timeouts are only there to fail a stuck run.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Locator, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 1000}

# Generous, because the machine may be shared and slow; each wait ends as soon as its condition holds.
START_TIMEOUT_S = 300
RUN_ALL_TIMEOUT_MS = 900_000
REDRAW_TIMEOUT_MS = 180_000
UI_TIMEOUT_MS = 180_000

# JupyterLab user settings: never write the notebook, attach every cell to the page, no news or update checks.
SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def chapters() -> list[Path]:
    """The chapter notebooks that exist now (``notebooks/NN_*.ipynb``; assignments live in a subfolder)."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextmanager
def chromium():
    """The system Chromium, headless, driven by Playwright (which gives it a fresh profile dir)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class JupyterLab:
    """A private JupyterLab server on a copy of ``notebooks/`` in ``workdir``; a context manager."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.root = workdir / "book"
        self.token = secrets.token_hex(24)
        self.url = ""

    def __enter__(self) -> JupyterLab:
        shutil.copytree(NOTEBOOKS, self.served(NOTEBOOKS), ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        self._write_settings()
        self.hashes = {path: sha256(self.served(path)) for path in chapters()}  # the chapters as served
        self.log = open(self.workdir / "jupyterlab.log", "wb")
        self.process = subprocess.Popen(self._command(), env=self._environment(), cwd=self.root,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self._wait_until_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def served(self, path: Path) -> Path:
        """Where the server's copy of a repository path lies."""
        return self.root / path.relative_to(ROOT)

    def lab_url(self, notebook: Path) -> str:
        """The URL that opens ``notebook`` (a repository path) in a fresh workspace."""
        return f"{self.url}lab/tree/{notebook.relative_to(ROOT).as_posix()}?reset&token={self.token}"

    def api(self, path: str, method: str = "GET"):
        """Call the server's REST API; the decoded JSON answer, or None when there is none."""
        request = urllib.request.Request(f"{self.url}api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
        return json.loads(body) if body else None

    def code_cells(self, notebook: Path) -> int:
        """The non-empty code cells of ``notebook`` as the server gives it to JupyterLab, less those whose input
        is collapsed (``jupyter.source_hidden``: the "check your answer" cells), which show no prompt number."""
        model = self.api(f"contents/{notebook.relative_to(ROOT).as_posix()}?content=1")
        return sum(1 for cell in model["content"]["cells"] if cell["cell_type"] == "code" and cell["source"].strip()
                   and not cell["metadata"].get("jupyter", {}).get("source_hidden"))

    def trust(self, notebook: Path) -> None:
        """Sign the served copy of ``notebook`` as trusted, as `jupyter trust` does on a reader's machine
        (the signature goes to this server's own data dir; the file is not changed)."""
        subprocess.run([sys.executable, "-m", "jupyter", "trust", str(self.served(notebook))],
                       env=self._environment(), check=True, capture_output=True)

    def shut_down_kernels(self) -> None:
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")

    def _dir(self, name: str) -> str:
        path = self.workdir / name
        path.mkdir(exist_ok=True)
        return str(path)

    def _environment(self) -> dict:
        return os.environ | {
            "JUPYTER_CONFIG_DIR": self._dir("config"),
            "JUPYTER_RUNTIME_DIR": self._dir("runtime"),
            "JUPYTER_DATA_DIR": self._dir("data"),
            "IPYTHONDIR": self._dir("ipython"),
        }

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0", f"--ServerApp.root_dir={self.root}",
                f"--IdentityProvider.token={self.token}",
                f"--LabApp.user_settings_dir={self._dir('settings')}",
                f"--LabApp.workspaces_dir={self._dir('workspaces')}"]

    def _write_settings(self) -> None:
        for plugin, values in SETTINGS.items():
            path = Path(self._dir("settings")) / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))

    def _wait_until_ready(self) -> None:
        """Wait until the server has written its runtime file (which names the port) and /api/status is 200."""
        info = Path(self._dir("runtime")) / f"jpserver-{self.process.pid}.json"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if info.exists() and self._status_ok(info):
                return
            try:  # the poll interval is a wait on the server exiting, which would be an error
                self.process.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(f"JupyterLab exited with code {self.process.returncode}:\n{self._log_tail()}")
        raise TimeoutError(f"JupyterLab not ready after {START_TIMEOUT_S} s:\n{self._log_tail()}")

    def _status_ok(self, info: Path) -> bool:
        try:
            self.url = json.loads(info.read_text())["url"]
            return self.api("status") is not None
        except (OSError, ValueError, KeyError):  # not listening yet, or the file is half written
            return False

    def _log_tail(self) -> str:
        self.log.flush()
        return (self.workdir / "jupyterlab.log").read_text(errors="replace")[-3000:]


# --- JavaScript run in the page ----------------------------------------------------------------

KERNEL_IDLE = """() => {
    const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
    const status = Array.from(document.querySelectorAll('.jp-StatusBar-TextItem'), e => e.textContent.trim())
        .find(text => text.includes(' | '));  // "Python 3 (ipykernel) | Idle"
    return indicator?.dataset.status === 'idle' && !!status && !status.startsWith('No Kernel')
        && status.endsWith('| Idle');
}"""

PROMPTS = "Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'), e => e.textContent.trim())"

# Done: kernel idle, nothing queued, and every code cell numbered, or an error stopped the run.
RUN_ALL_DONE = f"""(expected) => {{
    const prompts = {PROMPTS};
    const numbered = prompts.filter(p => /^\\[\\d+\\]:$/.test(p)).length;
    const stderr = document.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
    return ({KERNEL_IDLE})() && !prompts.includes('[*]:') && (numbered === expected || stderr !== null);
}}"""

WIDGETS_RENDERED = f"""() => ({KERNEL_IDLE})() && !Array.from(document.querySelectorAll('.jp-OutputArea-output'))
    .some(output => output.textContent.trim() === 'Loading widget...')"""

# What cells show that a reader would call broken: tracebacks and warnings (stderr), widgets that failed.
PROBLEMS = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell')).flatMap((cell, i) =>
    Array.from(cell.querySelectorAll('.jp-OutputArea-output'))
        .filter(out => out.dataset.mimeType === 'application/vnd.jupyter.stderr'
                       || out.textContent.trim().startsWith('Error displaying widget'))
        .map(out => `cell ${i + 1}: ${out.textContent.trim().slice(0, 1500)}`))"""

DIALOGS = "() => Array.from(document.querySelectorAll('.jp-Dialog'), d => d.textContent.trim().slice(0, 300))"

STATE = """root => {
    const img = root.querySelector('img.widget-image');
    return {
        run: root.querySelector('.td-readout [data-run]')?.dataset.run ?? null,
        src: img?.getAttribute('src') ?? null,
        shown: !!img && getComputedStyle(img).display !== 'none' && img.complete && img.naturalWidth > 0,
        // the image's displayed CSS width, its pixel width and the width it may take (the explorer's)
        width: img ? img.getBoundingClientRect().width : 0, pixels: img?.naturalWidth ?? 0,
        room: root.getBoundingClientRect().width,
        readout: root.querySelector('.td-readout')?.textContent.trim() ?? '',
        message: root.querySelector('.td-message')?.textContent.trim() ?? '',
    };
}"""

# An explorer's picture as a reader sees it: shown, loaded, and not one flat colour (a blank or failed
# plot). Pixels are read through a canvas, so a data: or blob: image is checked, not just its size.
PICTURE = """img => {
    if (!img) return {shown: false, width: 0, colours: 0};
    const box = img.getBoundingClientRect();
    const shown = getComputedStyle(img).display !== 'none' && box.width > 0 && box.height > 0;
    if (!img.complete || img.naturalWidth === 0) return {shown, width: 0, colours: 0};
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(img, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = new Set();
    for (let i = 0; i < pixels.length && colours.size < 3; i += 4 * 97)
        colours.add(pixels[i] * 65536 + pixels[i + 1] * 256 + pixels[i + 2]);
    return {shown, width: img.naturalWidth, colours: colours.size};
}"""

# Page-side clock: when the reader acted on a control (first keydown, change or click) and when an image loaded.
INSTALL_CLOCK = """root => {
    if (root.tdClock) return;
    const clock = root.tdClock = {input: null, image: null};
    for (const type of ['keydown', 'change', 'click'])
        root.addEventListener(type, () => { if (clock.input === null) clock.input = performance.now(); }, true);
    root.querySelector('img.widget-image').addEventListener('load', () => { clock.image = performance.now(); });
}"""

ARM_CLOCK = "root => { root.tdClock.input = null; root.tdClock.image = null; }"

# Redrawn: a new run is shown (and, when a new plot is expected, the new image has loaded), or a failure message.
REDRAWN = f"""(root, [before, newImage]) => {{
    const now = ({STATE})(root);
    if (now.message.startsWith('✖')) return true;
    return now.run !== before.run && (!newImage || (now.src !== before.src && root.tdClock.image !== null));
}}"""

CONTROL = """widget => [['slider', 'dropdown', 'checkbox'].find(kind => widget.classList.contains('widget-' + kind)),
    Array.from(widget.querySelectorAll('.widget-label, .widget-label-basic'), l => l.textContent.trim()).find(t => t)]"""

LATENCY = "root => root.tdClock.image === null ? null : root.tdClock.image - root.tdClock.input"


class NotebookPage:
    """One notebook open in JupyterLab, in its own browser page."""

    def __init__(self, browser: Browser, lab: JupyterLab, notebook: Path):
        self.lab, self.notebook = lab, notebook
        self.expected = lab.code_cells(notebook)
        self.page = browser.new_page(viewport=VIEWPORT)
        self.page.set_default_timeout(UI_TIMEOUT_MS)
        self.page.goto(lab.lab_url(notebook))
        self.wait(f"() => ({KERNEL_IDLE})() && document.querySelector('.jp-Notebook .jp-CodeCell') !== null",
                  "the notebook to load and its kernel to start", UI_TIMEOUT_MS)

    def close(self) -> None:
        self.page.close()
        self.lab.shut_down_kernels()

    def wait(self, condition: str, what: str, timeout_ms: float, arg=None) -> None:
        """Wait until ``condition`` holds in the page; on timeout, fail saying what was awaited and what is shown."""
        try:
            self.page.wait_for_function(condition, arg=arg, timeout=timeout_ms, polling=100)
        except PlaywrightTimeout:
            raise AssertionError(f"{self.notebook.name}: timed out after {timeout_ms / 1000:.0f} s waiting for "
                                 f"{what}; dialogs: {self.page.evaluate(DIALOGS)}; "
                                 f"prompts: {self.page.evaluate(PROMPTS)}") from None

    def run_all(self) -> None:
        """Clear every output, run all cells from the Run menu, wait until the kernel is idle and widgets drawn."""
        self._menu("Edit", "editmenu:clear-all")
        # a cell with collapsed input shows an empty prompt whether or not it has run
        self.wait(f"() => {PROMPTS}.every(p => p === '[ ]:' || p === '')", "the outputs to clear", UI_TIMEOUT_MS)
        self._menu("Run", "runmenu:run-all")
        self.wait(RUN_ALL_DONE, "every cell to run", RUN_ALL_TIMEOUT_MS, arg=self.expected)
        self.wait(WIDGETS_RENDERED, "the widgets to render", UI_TIMEOUT_MS)

    @property
    def executed(self) -> int:
        """How many code cells show an execution count."""
        return self.page.evaluate(f"() => {PROMPTS}.filter(p => /^\\[\\d+\\]:$/.test(p)).length")

    def problems(self) -> list[str]:
        """Every error, warning or broken widget the cells show, as 'cell N: text'."""
        return self.page.evaluate(PROBLEMS)

    def explorers(self) -> list[ExplorerView]:
        return [ExplorerView(self, i) for i in range(self.page.locator(".td-explorer").count())]

    def _menu(self, menu: str, command: str) -> None:
        self.page.locator(".lm-MenuBar-item", has_text=menu).click()
        self.page.locator(f".lm-Menu-item[data-command='{command}']").click()


@dataclass
class Control:
    """One control of an explorer: 'slider', 'dropdown' or 'checkbox', with its description."""

    kind: str
    name: str
    locator: Locator

    def act(self, key: str | None = None) -> None:
        """Move it as a reader does: a slider one step by keyboard (``key``, or away from the end it is at),
        a dropdown to another option ('cpu' where there is one), a checkbox toggled."""
        if self.kind == "slider":
            self.locator.locator(".noUi-handle").press(key or self.away_from_end())
        elif self.kind == "dropdown":
            select = self.locator.locator("select")
            options = [o for o in select.locator("option").all_inner_texts() if o != select.input_value()]
            select.select_option("cpu" if "cpu" in options else options[0])
        else:
            self.locator.locator("input[type=checkbox]").click()

    def away_from_end(self) -> str:
        handle = self.locator.locator(".noUi-handle")
        at_max = float(handle.get_attribute("aria-valuenow")) >= float(handle.get_attribute("aria-valuemax"))
        return "ArrowLeft" if at_max else "ArrowRight"

    def shows(self) -> str:
        """What the control itself shows: the slider's readout, the chosen option, 'on' or 'off'."""
        if self.kind == "slider":
            return self.locator.locator(".widget-readout").inner_text().strip()
        if self.kind == "dropdown":
            return self.locator.locator("select").input_value()
        return "on" if self.locator.locator("input[type=checkbox]").is_checked() else "off"

    @property
    def is_device(self) -> bool:
        return self.kind == "dropdown" and self.name == "device"


@dataclass
class State:
    """What an explorer shows: its run count, the image's blob URL, whether the image is shown, two texts."""

    run: str | None
    src: str | None
    shown: bool
    readout: str
    message: str
    width: float = 0.0  # displayed CSS px of the image
    pixels: int = 0     # the PNG's own width in pixels
    room: float = 0.0   # CSS px the explorer has

    @property
    def kernel_ms(self) -> float:
        """The experiment's own time, from the readout's '...  ·  NN ms on DEVICE'."""
        return float(self.readout.rsplit(" ms on ", 1)[0].split()[-1])


@dataclass
class Move:
    """One control moved: the explorer before and after, what the control showed and shows, and the
    page-measured latency from the reader's action to the new image loaded (None for the device)."""

    control: Control
    before: State
    after: State
    showed: str
    shows: str
    latency_ms: float | None


class ExplorerView:
    """The ``index``-th explorer (``.td-explorer``) on a notebook page."""

    def __init__(self, notebook: NotebookPage, index: int):
        self.notebook, self.index = notebook, index
        self.root = notebook.page.locator(".td-explorer").nth(index)

    def controls(self) -> list[Control]:
        """Its sliders, dropdowns and checkboxes, in the order a reader sees them."""
        widgets = self.root.locator(".widget-slider, .widget-dropdown, .widget-checkbox").all()
        return [Control(*widget.evaluate(CONTROL), widget) for widget in widgets]

    @property
    def title(self) -> str:
        return self.root.evaluate("root => root.querySelector('.widget-html-content b')?.textContent ?? ''")

    def state(self) -> State:
        return State(**self.root.evaluate(STATE))

    def move(self, control: Control, key: str | None = None) -> Move:
        """Move ``control``; wait until the experiment has re-run and, unless it is the device, the image changed."""
        self.root.scroll_into_view_if_needed()
        self.root.evaluate(INSTALL_CLOCK)
        self.root.evaluate(ARM_CLOCK)
        before, showed = self.state(), control.shows()
        control.act(key)
        self.notebook.wait(f"([index, arg]) => ({REDRAWN})(document.querySelectorAll('.td-explorer')[index], arg)",
                           f"explorer {self.index + 1} to redraw after moving {control.name!r}", REDRAW_TIMEOUT_MS,
                           arg=[self.index, [before.__dict__, not control.is_device]])
        latency = None if control.is_device else self.root.evaluate(LATENCY)
        return Move(control, before, self.state(), showed, control.shows(), latency)

    def back_and_forth(self, control: Control, times: int) -> list[Move]:
        """Move ``control`` ``times`` times, alternating between two settings (for timing)."""
        there = control.away_from_end() if control.kind == "slider" else None
        back = {"ArrowRight": "ArrowLeft", "ArrowLeft": "ArrowRight"}.get(there)
        return [self.move(control, (there, back)[i % 2]) for i in range(times)]

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.root.screenshot(path=path)


# What a precomputed explorer (.td-precomputed) shows now: the visible picture of its stack and readout.
VISIBLE = """root => {
    const img = Array.from(root.querySelectorAll('img')).find(i => i.getBoundingClientRect().width > 0);
    const readout = Array.from(root.querySelectorAll('.td-readout')).find(r => r.getBoundingClientRect().width > 0);
    return {src: img ? img.src.slice(-200) : null, readout: readout ? readout.textContent : null};
}"""


def check_the_player_plays(page, root: Locator, where: str) -> None:
    """Move the slider one step by keyboard; the shown picture and readout must change, with no kernel."""
    root.scroll_into_view_if_needed()
    before = root.evaluate(VISIBLE)
    assert before["src"] and before["readout"], f"{where}: shows no picture or readout"
    picture = root.evaluate(f"root => ({PICTURE})(Array.from(root.querySelectorAll('img'))"
                            ".find(i => i.getBoundingClientRect().width > 0))")
    assert picture["colours"] > 1, f"{where}: blank picture"
    root.locator(".noUi-handle").press("ArrowRight")
    page.wait_for_function(f"([root, before]) => {{ const now = ({VISIBLE})(root);"
                           " return now.src !== before.src && now.readout !== before.readout; }",
                           arg=[root.element_handle(), before], polling=100, timeout=30_000)
