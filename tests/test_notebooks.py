"""The walkthrough notebooks: generated, committed without outputs, all with the same skeleton.

Running them is nbval's job (``make test`` runs every notebook in quick mode).
"""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ["01_train.ipynb", "02_generate.ipynb", "03_latent_sliders.ipynb", "04_interpolation.ipynb", "05_beta_lab.ipynb"]
MAX_CODE_LINES = 15


def test_the_notebooks_are_what_the_generator_writes():
    result = subprocess.run([sys.executable, str(NOTEBOOKS / "make_notebooks.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", NAMES)
def test_notebook_skeleton(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    cells = notebook.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith(f"# {int(name[:2])} · ")
    assert cells[1].source.startswith("## Setup") and cells[2].cell_type == "code"
    parameters = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1 and 'os.environ.get("VAEKIT_QUICK")' in parameters[0].source
    for previous, cell in zip(cells, cells[1:]):
        if cell.cell_type == "code":
            assert previous.cell_type == "markdown", f"{name}: a code cell without prose before it:\n{cell.source}"
            assert len(cell.source.splitlines()) <= MAX_CODE_LINES, f"{name}: a code cell over {MAX_CODE_LINES} lines"
            assert cell.outputs == [] and cell.execution_count is None, f"{name} is committed with outputs"
