"""The teaching notebooks run from top to bottom without an error.

Each notebook checks its own numbers with ``assert`` cells, so a notebook that no longer
matches the library fails here.  They are executed with nbclient in a ``python3`` kernel
(ipykernel, in the `test` extra, provides it; a missing package fails, never skips) and must be committed without outputs.
"""
from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_the_seven_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == [
        "01_computational_graph.ipynb", "02_two_layer_network.ipynb", "03_training.ipynb",
        "04_why_backprop.ipynb", "05_hessians.ipynb", "06_matrix_calculus.ipynb",
        "07_loops.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, \
                f"{path.name}: clear the outputs before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path):
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError, naming the cell and the error
