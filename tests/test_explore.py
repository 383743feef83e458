"""`python -m vaekit explore` without a browser: its arguments, its mistakes, and Voilà's command line.
The app itself is driven in a real browser in tests/test_browser.py."""

import secrets
import subprocess
import sys
import time
from urllib.parse import quote

import nbformat
import psutil
import pytest
from browser import ROOT, Server, free_port, isolated_env, start_explorer

from vaekit.cli import main
from vaekit.explore import EXPLORER_NOTEBOOK, address, read_token_file, voila_arguments


def test_explore_has_help(capsys):
    try:
        main(["explore", "--help"])
    except SystemExit as exit:
        assert exit.code == 0
    assert "usage: vaekit explore" in capsys.readouterr().out


def test_a_missing_checkpoint_is_one_clear_line(capsys):
    try:
        code = main(["explore", "--checkpoint", "nowhere.safetensors"])
    except SystemExit as exit:
        code = exit.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert err.startswith(
        "vaekit: error: checkpoint nowhere.safetensors does not exist; give a model file, a run folder"
    )


def test_voila_listens_on_loopback_only_and_its_command_line_holds_no_token():
    arguments = voila_arguments(port=9999)
    assert "--Voila.ip=127.0.0.1" in arguments and "--port=9999" in arguments
    assert "--Voila.port_retries=0" in arguments  # never a silent move to another port
    assert not any("token" in argument for argument in arguments)


def test_the_explorer_notebook_ships_and_shows_both_widgets():
    notebook = nbformat.read(EXPLORER_NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "latent_sliders(" in code and "interpolator(" in code
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


# -- tokens: never on a command line, long enough, printed URL-encoded --------------------------


def _run(capsys, *args):
    try:
        code = main(list(args))
    except SystemExit as exit:
        code = exit.code
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize("command", ["explore", "lab"])
def test_a_short_token_is_refused(capsys, monkeypatch, command):
    monkeypatch.setenv("JUPYTER_TOKEN", "abc123")
    code, err = _run(capsys, command, "--port", "1")
    assert code == 2 and err.splitlines() == [
        "vaekit: error: the token from $JUPYTER_TOKEN has 6 characters; use at least 16 "
        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')"
    ]


def test_a_token_file_others_can_read_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)
    path = tmp_path / "token"
    path.write_text("a-long-enough-secret-token\n")
    path.chmod(0o644)
    code, err = _run(capsys, "explore", "--token-file", str(path))
    assert code == 2 and "can be read or written by other users (mode -rw-r--r--); chmod 600" in err
    path.chmod(0o600)
    assert read_token_file(path) == "a-long-enough-secret-token"


def test_the_link_is_url_encoded():
    assert address(8866, "ab+cd/ef=gh&ij%kl") == "http://127.0.0.1:8866/?token=ab%2Bcd%2Fef%3Dgh%26ij%25kl"


def _command_lines(pid: int) -> str:
    process = psutil.Process(pid)
    return "\n".join(" ".join(p.cmdline()) for p in [process, *process.children(recursive=True)])


@pytest.mark.parametrize("server", ["explore", "lab"])
def test_no_process_shows_the_token_in_the_process_list(tmp_path, server):
    """What `make lab` and `vaekit explore` start: every process's command line, as `ps` shows it to any user."""
    if server == "explore":
        running = start_explorer(tmp_path)
    else:
        port, token = free_port(), secrets.token_urlsafe(24) + "+/="  # characters a link must encode
        log = tmp_path / "lab.log"
        with open(log, "w") as out:
            process = subprocess.Popen([sys.executable, "-m", "vaekit", "lab", "--port", str(port)], cwd=ROOT,
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                       env=isolated_env(tmp_path, JUPYTER_TOKEN=token))
        running = Server(process, port, token, log)
        for _ in range(400):
            try:
                if running.status_of("/api/status") == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, log.read_text()
            time.sleep(0.3)
    try:
        assert running.token not in _command_lines(running.process.pid)
        assert running.refuses("/") if server == "explore" else running.refuses("/api/contents")
        if server == "lab":
            assert f"/lab?token={quote(running.token, safe='')}" in running.log.read_text()
    finally:
        running.stop()
def test_the_explorer_loads_test_images_only():
    """explorer.ipynb asks for no training images (train_limit=0): none are read, the test set is whole."""
    import vaekit

    data = vaekit.load_mnist(train_limit=0, test_limit=10)
    assert data.train_images.shape == (0, 784) and data.test_images.shape == (10, 784)
