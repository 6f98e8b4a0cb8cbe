"""The notebooks: stored clean, and each runs top to bottom without error.

Each notebook checks its own claims with ``assert`` statements (identical
spikes on both backends, the analytic f-I curve and STDP window, ...), so a
notebook that executes is a notebook whose claims hold. The kernel is the
Python running pytest (a kernel spec pinned to ``sys.executable``), started in
the notebook's folder, with matplotlib's Agg backend available headless.
"""
import json
import sys
from pathlib import Path

import pytest

import ipykernel  # noqa: F401  (the kernel the notebooks run in; all three come with neuroai[dev])
import nbclient
import nbformat

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds per cell
PROBE = "import sys; print(sys.prefix)"


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS] and "neuroscience_basics.ipynb" in [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for k, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {k} has outputs: clear them"


@pytest.fixture
def venv_kernel(tmp_path, monkeypatch):
    """Make kernel "python3" the interpreter running the tests, whatever
    other python3 kernel specs the user or system has installed."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))  # searched before every other folder
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return "python3"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, venv_kernel):
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=venv_kernel,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails

    probe, *cells = nb.cells
    assert probe.outputs[0].text.strip() == sys.prefix, "the notebook ran in another Python"
    code = [c for c in cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # the notebook checks its own results ...
    assert sum("assert" in c.source for c in code) >= 4
    # ... and draws them
    figures = sum("image/png" in o.get("data", {}) for o in outputs)
    assert figures >= 4, f"only {figures} figures rendered"
