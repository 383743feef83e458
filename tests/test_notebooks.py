"""The walkthrough notebooks: jupytext percent sources (``notebooks/*.py``) paired with the committed
``.ipynb`` (without outputs), all with the same skeleton.

Running them is nbval's job (``make test`` runs every ``.ipynb`` in quick mode).
"""

import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ["01_train", "02_generate", "03_latent_sliders", "04_interpolation", "05_beta_lab", "06_zoo"]
MAX_CODE_LINES = 15


def _cells(notebook) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in notebook.cells]


def test_every_notebook_has_a_source_and_every_source_a_notebook():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.py")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_source_and_notebook_are_in_step(name):
    """What jupytext reads from the .py is what the .ipynb holds: same cells, same text, same tags."""
    source = jupytext.read(NOTEBOOKS / f"{name}.py")
    notebook = jupytext.read(NOTEBOOKS / f"{name}.ipynb")
    assert _cells(source) == _cells(notebook), (
        f"{name}.py and {name}.ipynb differ: run `jupytext --sync notebooks/{name}.ipynb` "
        "(or open and save it in JupyterLab)")
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}.ipynb is committed with outputs"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_skeleton(name):
    cells = jupytext.read(NOTEBOOKS / f"{name}.py").cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith(f"# {int(name[:2])} · ")
    assert cells[1].source.startswith("## Setup") and cells[2].cell_type == "code"
    parameters = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1 and 'os.environ.get("VAEKIT_QUICK")' in parameters[0].source
    for previous, cell in zip(cells, cells[1:]):
        if cell.cell_type == "code":
            assert previous.cell_type == "markdown", f"{name}: a code cell without prose before it:\n{cell.source}"
            assert len(cell.source.splitlines()) <= MAX_CODE_LINES, f"{name}: a code cell over {MAX_CODE_LINES} lines"


def test_pytest_collects_the_notebooks_not_their_sources():
    """`make test` runs `pytest tests notebooks --nbval-lax`: the .ipynb files are collected, the .py are not."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--nbval-lax", str(NOTEBOOKS)],
                            capture_output=True, text=True, cwd=NOTEBOOKS.parent)
    collected = {line.split("::")[0] for line in result.stdout.splitlines() if "::" in line}
    assert collected == {f"notebooks/{name}.ipynb" for name in NAMES}, result.stdout + result.stderr
