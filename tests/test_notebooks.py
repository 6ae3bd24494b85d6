"""The notebook sources: one parameters cell with the pipeline's names, a guarded Colab cell, and
committed output-free .ipynb twins (the book's Colab buttons open them) in sync with the sources."""

from __future__ import annotations

import jupytext
import nbformat
import pytest

from minerals.pipeline.reproduce import notebooks_dir
from minerals.pipeline.registry import notebook_registry

PARAMETERS = {"profile", "data_root", "device", "seed", "results_dir"}


@pytest.mark.parametrize("notebook", sorted(notebook_registry()))
def test_notebook_structure(notebook):
    nb = jupytext.read(notebooks_dir() / f"{notebook}.py")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{notebook}: exactly one cell must be tagged 'parameters'"
    names = {line.split("=")[0].strip() for line in tagged[0].source.splitlines() if "=" in line}
    assert PARAMETERS <= names, f"{notebook}: parameters cell lacks {PARAMETERS - names}"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert '"google.colab" in sys.modules' in code, f"{notebook}: no guarded Colab install cell"
    assert f'start("{notebook}"' in code and "s.finish()" in code
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("notebook", sorted(notebook_registry()))
def test_colab_twin_is_in_sync(notebook):
    source = notebooks_dir() / f"{notebook}.py"
    twin = source.parents[1] / "colab" / "notebooks" / f"{notebook}.ipynb"
    assert twin.exists(), f"{twin} is missing: run `make notebooks`"
    def cells(nb):  # cell ids are random per conversion; compare what a reader sees
        return [(c.cell_type, c.source, dict(c.metadata)) for c in nb.cells]

    committed = nbformat.read(twin, as_version=4)
    assert all(not c.get("outputs") for c in committed.cells), f"{twin} must be output-free"
    assert cells(committed) == cells(jupytext.read(source)), f"{twin} is stale: run `make notebooks`"
