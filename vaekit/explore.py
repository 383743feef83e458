"""``python -m vaekit explore``: the latent explorer as a web app, without code cells.

Voilà runs ``explorer.ipynb`` (shipped next to this file) in a fresh kernel for each visitor and
shows only its widgets. The server listens on 127.0.0.1 only and asks for a token, because a
kernel runs arbitrary code for whoever can reach it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .data import data_root, ensure_mnist
from .errors import VaekitError

EXPLORER_NOTEBOOK = Path(__file__).with_name("explorer.ipynb")
DEFAULT_PORT = 8866
# The notebook reads these: the kernel inherits the server's environment.
CHECKPOINT_VARIABLE = "VAEKIT_CHECKPOINT"
DATA_VARIABLE = "VAEKIT_DATA"


def voila_arguments(port: int, token: str, open_browser: bool = False) -> list[str]:
    """Voilà's command line for the explorer (without the program name)."""
    return [
        str(EXPLORER_NOTEBOOK),
        f"--port={port}",
        "--Voila.port_retries=0",  # a busy port is an error, not a silent move to another one
        "--Voila.ip=127.0.0.1",
        f"--token={token}",
        f"--Voila.open_browser={open_browser}",
        "--theme=light",
    ]


def serve(port: int = DEFAULT_PORT, token: str | None = None, checkpoint: str | None = None,
          data: str | None = None, open_browser: bool = False) -> None:
    """Serve the explorer until Ctrl-C or SIGTERM; print the address to open, token included."""
    try:
        from voila.app import Voila
    except ImportError:
        raise VaekitError("the explorer needs Voilà: pip install voila (or `make explore`)") from None
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise VaekitError(f"checkpoint {checkpoint} does not exist; train one with `python -m vaekit train` "
                              "or leave out --checkpoint to use the shipped pretrained model")
        os.environ[CHECKPOINT_VARIABLE] = str(Path(checkpoint).resolve())
    # Fetch and verify MNIST now, not inside the first visitor's page load; the kernel runs in
    # the package folder, so it gets an absolute path.
    ensure_mnist(data)
    os.environ[DATA_VARIABLE] = str(data_root(data).resolve())
    token = token or secrets.token_urlsafe(24)
    print(f"vaekit explorer: http://127.0.0.1:{port}/?token={token}  (Ctrl-C stops it)", flush=True)
    Voila.launch_instance(argv=voila_arguments(port, token, open_browser))
