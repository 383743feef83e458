"""The two servers: ``python -m vaekit explore`` (the latent explorer as a web app, without code
cells) and ``python -m vaekit lab`` (JupyterLab on the notebooks, what ``make lab`` runs).

Voilà runs ``explorer.ipynb`` (shipped next to this file) in a fresh kernel for each visitor and
shows only its widgets. The server listens on 127.0.0.1 only and asks for a token, because a
kernel runs arbitrary code for whoever can reach it.

The token never appears on a command line, where every local user could read it in the process
list: it comes from the ``JUPYTER_TOKEN`` environment variable (Jupyter's own), from a file that
only its owner can read (``--token-file``), or is drawn at random; it goes to Voilà inside this
process.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from urllib.parse import quote

from .errors import VaekitError

EXPLORER_NOTEBOOK = Path(__file__).with_name("explorer.ipynb")
DEFAULT_PORT = 8866
# The notebook reads these: the kernel inherits the server's environment.
CHECKPOINT_VARIABLE = "VAEKIT_CHECKPOINT"
DATA_VARIABLE = "VAEKIT_DATA"
TOKEN_VARIABLE = "JUPYTER_TOKEN"  # what Jupyter's servers read too
MIN_TOKEN_LENGTH = 16  # secrets.token_urlsafe(24) gives 32


def check_token(token: str, source: str) -> str:
    """A token long enough to resist guessing, without spaces; a VaekitError naming ``source`` if not."""
    token = token.strip()
    if len(token) < MIN_TOKEN_LENGTH:
        raise VaekitError(
            f"the token from {source} has {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')"
        )
    if any(c.isspace() or not c.isprintable() for c in token):
        raise VaekitError(f"the token from {source} holds spaces or control characters; use letters, digits and -_")
    return token


def read_token_file(path: str | os.PathLike) -> str:
    """The token in ``path``: a plain file that only its owner can read or write (chmod 600)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise VaekitError(f"cannot read the token file {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise VaekitError(f"the token file {path} is not a plain file")
        if info.st_mode & 0o077:
            raise VaekitError(
                f"the token file {path} can be read or written by other users (mode {stat.filemode(info.st_mode)}); "
                f"chmod 600 {path}"
            )
        if info.st_uid != os.getuid():
            raise VaekitError(f"the token file {path} belongs to another user; use a file of your own")
        text = os.read(fd, 4096).decode(errors="replace")
    finally:
        os.close(fd)
    return check_token(text, f"the file {path}")


def choose_token(token_file: str | os.PathLike | None = None) -> tuple[str, bool]:
    """(token, drawn at random?): ``--token-file``, else $JUPYTER_TOKEN, else a random one."""
    if token_file is not None:
        return read_token_file(token_file), False
    if os.environ.get(TOKEN_VARIABLE):
        return check_token(os.environ[TOKEN_VARIABLE], f"${TOKEN_VARIABLE}"), False
    return secrets.token_urlsafe(24), True


def address(port: int, token: str) -> str:
    """The link to open, the token URL-encoded."""
    return f"http://127.0.0.1:{port}/?token={quote(token, safe='')}"


def voila_arguments(port: int, open_browser: bool = False) -> list[str]:
    """Voilà's command line for the explorer (without the program name); the token is not on it."""
    return [
        str(EXPLORER_NOTEBOOK),
        f"--port={port}",
        "--Voila.port_retries=0",  # a busy port is an error, not a silent move to another one
        "--Voila.ip=127.0.0.1",
        f"--Voila.open_browser={open_browser}",
        "--theme=light",
    ]


def serve(port: int = DEFAULT_PORT, token_file: str | None = None, checkpoint: str | os.PathLike | None = None,
          data: str | None = None, open_browser: bool = False) -> None:
    """Serve the explorer until Ctrl-C or SIGTERM; print the address to open, token included."""
    from .data import data_root, ensure_mnist

    try:
        from voila.app import Voila
    except ImportError:
        raise VaekitError("the explorer needs Voilà: pip install voila (or `make explore`)") from None
    token, _ = choose_token(token_file)
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise VaekitError(f"checkpoint {checkpoint} does not exist; train one with `python -m vaekit train` "
                              "or leave out --checkpoint to use the shipped pretrained model")
        os.environ[CHECKPOINT_VARIABLE] = str(Path(checkpoint).resolve())
    # Fetch and verify MNIST now, not inside the first visitor's page load; the kernel runs in
    # the package folder, so it gets an absolute path.
    ensure_mnist(data)
    os.environ[DATA_VARIABLE] = str(data_root(data).resolve())
    os.environ.pop(TOKEN_VARIABLE, None)  # the kernels inherit this environment; they need no token
    print(f"vaekit explorer: {address(port, token)}  (Ctrl-C stops it)", flush=True)
    Voila.launch_instance(argv=voila_arguments(port, open_browser), token=token)


def lab(port: int = 8888, root: str | os.PathLike = "notebooks", token_file: str | None = None) -> None:
    """Replace this process with JupyterLab on ``root``, on 127.0.0.1 with a token passed in its environment."""
    import shutil
    import sys

    token, _ = choose_token(token_file)
    if not Path(root).is_dir():
        raise VaekitError(f"{root} is not a folder; run this from the project's root, or give --root")
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or shutil.which("jupyter")
    if jupyter is None:
        raise VaekitError("JupyterLab is not installed: pip install jupyterlab (or `make lab`)")
    command = [jupyter, "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        command.append("--allow-root")  # containers run as root; Lab refuses to start otherwise
    print(f"JupyterLab: http://127.0.0.1:{port}/lab?token={quote(token, safe='')}  (Ctrl-C stops it)", flush=True)
    os.execve(jupyter, command, {**os.environ, TOKEN_VARIABLE: token})
