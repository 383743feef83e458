"""Real servers and a real browser for the UI tests (tests/test_browser.py).

JupyterLab and the explorer (Voilà) run as their own processes on 127.0.0.1, on a free port, with a
random token and with config, runtime, settings and workspace folders of their own; they are stopped
by PID. Pages are driven by Playwright in Debian's headless Chromium: Playwright's own browser
download does not work offline, so the system binary is launched instead.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
INSTALL_HINT = (
    "install Debian's Chromium (`sudo apt-get install chromium`; Playwright's own download does not work "
    "offline) or point VAEKIT_CHROMIUM at a Chromium binary"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # runs as root in containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT_S = 120


def find_chromium() -> str | None:
    """The Chromium binary to drive: $VAEKIT_CHROMIUM, else Debian's, else one on PATH."""
    explicit = os.environ.get("VAEKIT_CHROMIUM")
    candidates = [explicit] if explicit else [*CHROMIUM_CANDIDATES, shutil.which("chromium")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def isolated_env(scratch: Path, **extra: str) -> dict[str, str]:
    """The environment of a server: its own Jupyter/IPython/matplotlib folders, this checkout's vaekit."""
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(scratch / "config"),
        JUPYTER_RUNTIME_DIR=str(scratch / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        IPYTHONDIR=str(scratch / "ipython"),
        MPLCONFIGDIR=str(scratch / "matplotlib"),
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        # The kernel must import the vaekit under test, even where the venv's editable install
        # points to another checkout.
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    )
    env.update(extra)
    return env


@dataclass
class Server:
    """A server process we started; only it and its own children are ever stopped."""

    process: subprocess.Popen
    port: int
    token: str
    log: Path

    def url(self, path: str = "/", with_token: bool = True) -> str:
        separator = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}{path}" + (f"{separator}token={self.token}" if with_token else "")

    def status_of(self, path: str, with_token: bool = True) -> int:
        """The HTTP status of one GET, redirects not followed."""
        return self._get(path, with_token).status

    def refuses(self, path: str) -> bool:
        """A GET without the token is answered 403, or sent to the login page."""
        response = self._get(path, with_token=False)
        to_login = response.status in (302, 303) and "/login" in response.getheader("Location", "")
        return response.status == 403 or to_login

    def _get(self, path: str, with_token: bool) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": f"token {self.token}"} if with_token else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response

    def api(self, path: str, method: str = "GET"):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, headers={"Authorization": f"token {self.token}"})
            response = connection.getresponse()
            body = response.read()
            return json.loads(body) if body else None
        finally:
            connection.close()

    def shut_down_kernels(self) -> None:
        """Lab only: end every notebook session, so a finished test leaves no busy kernel behind."""
        for session in self.api("/api/sessions") or []:
            self.api(f"/api/sessions/{session['id']}", method="DELETE")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace").replace(self.token, "<token>")

    def stop(self) -> list[int]:
        """SIGTERM, wait, then SIGKILL; the same for any child (kernel) left. Returns the leftover PIDs."""
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        _, alive = psutil.wait_procs(children, timeout=10)
        for child in alive:
            child.kill()
        return [child.pid for child in alive]


def _start(command: list[str], scratch: Path, env: dict[str, str], cwd: Path, port: int, token: str, name: str,
           ready) -> Server:
    scratch.mkdir(parents=True, exist_ok=True)
    log = scratch / f"{name}.log"
    with open(log, "w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                   start_new_session=True)  # Ctrl-C in the test run does not reach it
    server = Server(process, port, token, log)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode}:\n{server.log_text()[-3000:]}")
        try:
            if ready(server):
                return server
        except OSError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"{name} did not answer within {SERVER_START_TIMEOUT_S} s:\n{server.log_text()[-3000:]}")


def write_lab_settings(settings: Path, extra: dict[str, dict] | None = None) -> None:
    """Lab's user settings for tests: no autosave (the notebooks on disk stay as committed), no news
    toasts over the page, and every cell rendered (no windowing), so off-screen widgets are in the DOM.
    ``extra``: more, by plugin ("@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True})."""
    for plugin, values in {
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        **(extra or {}),
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def start_lab(root_dir: Path, scratch: Path, settings: dict[str, dict] | None = None, **env: str) -> Server:
    """JupyterLab on ``root_dir``; ``settings``: user settings beyond the tests' own (see write_lab_settings)."""
    port, token = free_port(), secrets.token_hex(16)
    write_lab_settings(scratch / "lab-settings", settings)
    command = [
        str(VENV_BIN / "jupyter"), "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
        f"--LabApp.user_settings_dir={scratch / 'lab-settings'}", f"--LabApp.workspaces_dir={scratch / 'workspaces'}",
        "--LabApp.news_url=None",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")  # containers run as root; Lab refuses to start otherwise
    # The token goes through the environment (as `make lab` passes it), never on a command line.
    return _start(command, scratch, isolated_env(scratch, JUPYTER_TOKEN=token, **env), root_dir, port, token,
                  "jupyter-lab", ready=lambda server: server.status_of("/api/status") == 200)


def start_explorer(scratch: Path, **env: str) -> Server:
    """`python -m vaekit explore`, exactly as a user starts it."""
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "vaekit", "explore", "--port", str(port)]

    def listening(server: Server) -> bool:
        # A TCP connect, not a GET: a GET of "/" starts a kernel and runs the whole notebook.
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
        return True

    return _start(command, scratch, isolated_env(scratch, JUPYTER_TOKEN=token, **env), ROOT, port, token,
                  "vaekit-explore", ready=listening)


# -- Playwright helpers for pages in Lab ----------------------------------------------------

KERNEL_IDLE_JS = (
    "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].some(e => /\\|\\s*Idle/.test(e.textContent))"
)
ALL_CELLS_RAN_JS = (
    "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
    ".every(e => /\\[\\d+\\]/.test(e.textContent))"
)


def open_notebook(page, lab: Server, name: str) -> None:
    """Open a notebook in Lab as a person does, and wait until its kernel is idle."""
    page.goto(lab.url(f"/lab/tree/{name}?reset"), wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=120_000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=120_000)


def menu(page, menu_name: str, command: str) -> None:
    page.click(f".lm-MenuBar-itemLabel:text-is('{menu_name}')")
    page.click(f"li.lm-Menu-item[data-command='{command}']")


def clear_and_run_all(page) -> None:
    """Edit -> Clear Outputs of All Cells, then Run -> Run All Cells. Clearing first means no output
    saved in the file can satisfy a wait below."""
    menu(page, "Edit", "editmenu:clear-all")
    page.wait_for_function("() => !document.querySelector('.jp-OutputArea-output')", timeout=10_000)
    menu(page, "Run", "runmenu:run-all")


def wait_until_all_cells_ran(page, timeout_s: float = 240) -> None:
    page.wait_for_function(ALL_CELLS_RAN_JS, timeout=timeout_s * 1000, polling=250)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=60_000)


def cell_errors(page) -> list[str]:
    """Tracebacks shown in the notebook's outputs (a cell that raised)."""
    return page.eval_on_selector_all(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                     "es => es.map(e => e.textContent)") + page.eval_on_selector_all(
        ".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']", "es => es.map(e => e.textContent)")


def artifact_dir(test_name: str) -> Path:
    folder = ARTIFACTS / test_name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- what the browser-side widgets paint ------------------------------------------------------

# A hash of a canvas's pixels (red channel: the digits are grey): changes when the picture changes.
CANVAS_HASH_JS = """c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i += 4) h = (Math.imul(h, 31) + d[i]) | 0;
    return h;
}"""

# Input event -> canvas painted. A key or pointer event starts the clock; this listener sees the slider's
# input event first (capturing: JupyterLab stops events from bubbling out of a widget), asks for the next
# animation frame -- the slider's own handler then decodes and paints the canvas synchronously, in the same
# task -- and stops the clock just after that frame (a message posted from inside the frame's callback is
# handled once the frame is painted).
LATENCY_PROBE_JS = """() => {
    if (window.vaekitLatency) return;
    window.vaekitLatency = [];
    let started = null;
    const start = e => { started = e.timeStamp; };
    document.addEventListener('keydown', start, true);
    document.addEventListener('pointermove', start, true);
    document.addEventListener('input', e => {
        if (started === null || !e.target.closest('.vaekit-latent-slider')) return;
        const t0 = started;
        started = null;
        requestAnimationFrame(() => {
            const channel = new MessageChannel();
            channel.port1.onmessage = () => window.vaekitLatency.push(performance.now() - t0);
            channel.port2.postMessage(null);
        });
    }, true);
}"""


def canvas_hash(page, selector: str) -> int:
    return page.eval_on_selector(selector, CANVAS_HASH_JS)


def slider_keys(page, scope: str, position: int, key: str, presses: int) -> list[float]:
    """Press ``key`` on the latent slider at ``position`` ``presses`` times, each once the last one's frame
    was painted; returns each press's latency, input event to canvas painted (ms)."""
    page.evaluate(LATENCY_PROBE_JS)
    page.evaluate("() => { window.vaekitLatency.length = 0; }")
    page.locator(f"{scope} .vaekit-latent-slider input").nth(position).focus()
    for done in range(1, presses + 1):
        page.keyboard.press(key)
        page.wait_for_function("n => window.vaekitLatency.length >= n", arg=done, timeout=10_000)
    return page.evaluate("() => [...window.vaekitLatency]")


# Resolves after the next frame was painted (a message posted from inside its requestAnimationFrame callback).
NEXT_FRAME_JS = "() => new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)))"


def slider_drag(page, scope: str, position: int, moves: int, step_px: float = 3.0) -> list[float]:
    """Drag the thumb of the latent slider at ``position`` as a hand does: mouse down on the thumb, ``moves``
    moves of ``step_px`` px (negative: leftwards), each sent once the browser took the last, then up. Returns
    the latency of each move that changed the value (pointer event to canvas painted, ms): Chromium delivers
    pointer moves at the next frame, so a move waits for it, as a hand's does."""
    page.evaluate(LATENCY_PROBE_JS)
    page.evaluate("() => { window.vaekitLatency.length = 0; }")
    slider = page.locator(f"{scope} .vaekit-latent-slider input").nth(position)
    slider.scroll_into_view_if_needed()
    # the thumb's centre: the track less the thumb's width (16 px in Chromium), in proportion to the value
    x, y = slider.evaluate("""i => {
        const r = i.getBoundingClientRect(), f = (Number(i.value) - Number(i.min)) / (Number(i.max) - Number(i.min));
        return [r.left + 8 + f * (r.width - 16), r.top + r.height / 2];
    }""")
    page.mouse.move(x, y)
    page.mouse.down()
    for k in range(1, moves + 1):
        page.mouse.move(x + k * step_px, y)
    page.mouse.up()
    page.evaluate(NEXT_FRAME_JS)
    page.evaluate(NEXT_FRAME_JS)
    return page.evaluate("() => [...window.vaekitLatency]")
