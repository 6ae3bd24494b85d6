"""The notebook sources: one parameters cell with the pipeline's names; committed output-free .ipynb
twins (the book's Colab buttons open them) in sync with the sources, each with the guarded Colab install
cell right after the parameters cell."""

from __future__ import annotations

import jupytext
import nbformat
import pytest

from minerals.pipeline import colab
from minerals.pipeline.reproduce import notebooks_dir
from minerals.pipeline.registry import notebook_registry

PARAMETERS = {"profile", "data_root", "device", "seed", "results_dir"}


@pytest.mark.parametrize("notebook", sorted(notebook_registry()))
def test_notebook_structure(notebook):
    nb = jupytext.read(notebooks_dir() / f"{notebook}.py")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{notebook}: exactly one cell must be tagged 'parameters'"
    defaults = {}
    exec(tagged[0].source, {}, defaults)  # what papermill overrides: plain names with default values
    assert PARAMETERS <= set(defaults), f"{notebook}: parameters cell lacks {PARAMETERS - set(defaults)}"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "google.colab" not in code, f"{notebook}: the Colab install cell belongs to the twin only"
    assert f'start("{notebook}"' in code and "s.finish()" in code
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("notebook", sorted(notebook_registry()))
def test_colab_twin_is_in_sync(notebook):
    twin = colab.twin_path(notebook)
    assert twin.exists(), f"{twin} is missing: run `make notebooks`"
    committed = nbformat.read(twin, as_version=4)
    assert all(not c.get("outputs") for c in committed.cells), f"{twin} must be output-free"
    expected = colab.colab_twin(notebooks_dir() / f"{notebook}.py")
    assert nbformat.writes(committed) == nbformat.writes(expected), f"{twin} is stale: run `make notebooks`"
    sources = [c.source for c in committed.cells]
    install = sources.index(colab.install_source())
    assert "parameters" in committed.cells[install - 1].metadata["tags"], "the install cell follows the parameters"
    assert not any("import minerals" in src or "from minerals" in src for src in sources[:install]), \
        "the install cell must come before the first import of minerals"


def test_a_source_without_a_parameters_cell_is_refused(tmp_path):
    source = tmp_path / "nb.py"
    source.write_text("# %%\nx = 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="nb.py: needs exactly one cell tagged 'parameters', found 0"):
        colab.colab_twin(source)
