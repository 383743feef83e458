"""Shared fixtures: real MNIST (fetched and verified once), small real subsets, the CLI in-process."""

import contextlib
import os
import resource
import shutil
import signal
import subprocess
from types import SimpleNamespace

import pytest

# vaekit before torch: its OpenMP threads then spin only briefly before they sleep (vaekit/threads.py);
# on a busy machine the suite is otherwise several times slower.
from vaekit import BOUNDED_WAITING  # noqa: F401

# isort: split
import torch

from vaekit.cli import main
from vaekit.data import load_mnist


@pytest.fixture(scope="session")
def mnist():
    """The whole of real MNIST, in memory."""
    return load_mnist()


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """The first 1,500 training and 500 test images: same code paths, seconds instead of minutes."""
    return type(mnist)(
        mnist.train_images[:1500], mnist.train_labels[:1500], mnist.test_images[:500], mnist.test_labels[:500]
    )


@pytest.fixture(autouse=True)
def _deterministic_threads():
    # Results are compared bit for bit in some tests; keep the thread count fixed.
    torch.set_num_threads(2)


@pytest.fixture
def vaekit(capsys):
    """Run the CLI in this process (starting Python and torch for each call costs seconds)."""

    def run(*args):
        try:
            code = main(list(args))
        except SystemExit as exit:
            code = exit.code
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


@pytest.fixture
def file_size_limit():
    """``with file_size_limit(n):`` writes past n bytes fail with EFBIG, as on a full disk (ENOSPC).

    Unlike a read-only folder, this works for root too.
    """
    return _file_size_limit


@contextlib.contextmanager
def _file_size_limit(size: int):
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


@pytest.fixture
def read_only():
    """``with read_only(folder):`` nothing can be created or replaced in ``folder``.

    chmod is enough for a normal user; root ignores it, so the folder is also
    made immutable (chattr +i) where that works, and the test is skipped where not.
    """
    return _read_only


@contextlib.contextmanager
def _read_only(folder):
    folder.chmod(0o555)
    immutable = os.access(folder, os.W_OK) and shutil.which("chattr") is not None
    if immutable and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        immutable = False
    try:
        if os.access(folder, os.W_OK) and not immutable:
            pytest.skip("cannot make a folder read-only here (root without chattr)")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def _browser_missing(what: str):
    from browser import INSTALL_HINT

    message = f"{what}; {INSTALL_HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: the browser tests must run, but {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for every browser test (Playwright's sync API allows one instance at a time)."""
    from browser import CHROMIUM_ARGS, find_chromium

    executable = find_chromium()
    if executable is None:
        _browser_missing("no Chromium found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _browser_missing("Playwright for Python is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
