"""`python -m vaekit explore` without a browser: its arguments, its mistakes, and Voilà's command line.
The app itself is driven in a real browser in tests/test_browser.py."""

import nbformat

from vaekit.cli import main
from vaekit.explore import EXPLORER_NOTEBOOK, voila_arguments


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
    assert err.splitlines() == [
        "vaekit: error: checkpoint nowhere.safetensors does not exist; train one with `python -m vaekit train` "
        "or leave out --checkpoint to use the shipped pretrained model"
    ]


def test_voila_listens_on_loopback_only_with_the_token():
    arguments = voila_arguments(port=9999, token="s3cret")
    assert "--Voila.ip=127.0.0.1" in arguments and "--token=s3cret" in arguments and "--port=9999" in arguments
    assert "--Voila.port_retries=0" in arguments  # never a silent move to another port


def test_the_explorer_notebook_ships_and_shows_both_widgets():
    notebook = nbformat.read(EXPLORER_NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "latent_sliders(" in code and "interpolator(" in code
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


def test_the_explorer_loads_test_images_only():
    """explorer.ipynb asks for no training images (train_limit=0): none are read, the test set is whole."""
    import vaekit

    data = vaekit.load_mnist(train_limit=0, test_limit=10)
    assert data.train_images.shape == (0, 784) and data.test_images.shape == (10, 784)
