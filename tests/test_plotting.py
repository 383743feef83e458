"""Figures: grids of the right size, and a smoothed loss that follows the steps."""

from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.plotting import image_grid, plot_history, smooth


def test_smooth_keeps_a_constant_and_starts_at_the_first_value():
    assert smooth([5.0] * 30).tolist() == pytest.approx([5.0] * 30)
    assert smooth([3.0, 1.0, 1.0], weight=0.9)[0] == pytest.approx(3.0)  # bias-corrected, not dragged to 0


def test_default_smoothing_follows_a_short_run():
    # 40 steps of a loss that halves at step 20: by the end the curve must have
    # followed it (a fixed weight of 0.98 would still be near 75).
    values = [100.0] * 20 + [50.0] * 20
    assert smooth(values)[-1] == pytest.approx(50.0, abs=1.0)
    assert smooth(values, weight=0.98)[-1] > 70


def test_image_grid_size():
    grid = image_grid(torch.rand(12, 784), nrow=5, padding=2)
    assert grid.shape == (3 * 30 + 2, 5 * 30 + 2)  # 3 rows, 5 columns of 28 + 2 pixels, + a border
    assert np.isclose(grid[0, 0], 1.0)  # white padding


def test_plot_history_draws_steps_and_epochs():
    history = {
        "batch_losses": [300.0 - i for i in range(50)],
        "epochs": [{"epoch": 0, "train_total": 280.0, "train_reconstruction": 250.0, "train_kl": 30.0}],
    }
    steps_ax, epochs_ax = plot_history(history).axes
    assert len(steps_ax.lines) == 2 and len(epochs_ax.lines) == 3


def test_figures_display_in_a_notebook_without_the_matplotlib_magic(tmp_path, monkeypatch):
    """In a real kernel, with no `%matplotlib inline` and no pyplot: the cell's value shows as a PNG."""
    import os

    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import torch\nfrom vaekit.plotting import plot_images, plot_history\n"
        "plot_images(torch.rand(20, 784), nrow=10, title='twenty')"
    ), nbformat.v4.new_code_cell(
        "plot_history({'epochs': [{'epoch': 0, 'train_total': 3.0, 'train_reconstruction': 2.0, 'train_kl': 1.0}],"
        " 'batch_losses': [4.0, 3.0]})"
    )])
    root = Path(__file__).resolve().parent.parent
    env_path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", env_path)  # the kernel imports this checkout's vaekit
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    for cell in notebook.cells:
        (output,) = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert output.data["image/png"]  # not only "<Figure size 600x... with 1 Axes>"
