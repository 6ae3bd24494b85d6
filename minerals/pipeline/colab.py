"""The Colab twins of the notebooks: output-free `.ipynb` files in `colab/notebooks/` that the book's Colab
buttons open, made from the py:percent sources with one cell added after the parameters cell, which
installs the published branch (`resources/project.toml`) when the notebook runs in Colab.

The sources carry no install cell: papermill, the book and a local Jupyter run them in an environment that
has the package; only a Colab runtime needs it, so it lives here, once.

    python -m minerals.pipeline.colab    # rewrite colab/notebooks/*.ipynb (`make notebooks`)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jupytext
import nbformat

from minerals.pipeline.registry import notebook_registry, project_location
from minerals.pipeline.reproduce import notebooks_dir
from minerals.results import atomic_write


def install_source() -> str:
    """The code of the Colab install cell: pip-installs the published branch, only inside Colab."""
    where = project_location()
    return ("import subprocess\nimport sys\n\n"
            'if "google.colab" in sys.modules:  # install the package; its dependencies keep Colab\'s torch\n'
            '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",\n'
            f'                    "minerals @ git+{where["repository"]}@{where["branch"]}"], check=True)')


def colab_twin(source: Path) -> nbformat.NotebookNode:
    """The notebook of a py:percent `source` with the Colab install cell right after its parameters cell
    (before the first `import minerals`). ValueError names a source without exactly one parameters cell."""
    nb = jupytext.read(source)
    at = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    if len(at) != 1:
        raise ValueError(f"{source}: needs exactly one cell tagged 'parameters', found {len(at)}")
    nb.cells.insert(at[0] + 1, nbformat.v4.new_code_cell(install_source(), metadata={"tags": ["remove-cell"]}))
    for i, cell in enumerate(nb.cells):  # ids are random per conversion: from the position, so reruns are idempotent
        cell.id = f"cell-{i}"
    return nb


def twin_path(notebook: str) -> Path:
    """Where the Colab twin of notebook id `notebook` is committed."""
    return notebooks_dir().parent / "colab" / "notebooks" / f"{notebook}.ipynb"


def write_twins() -> list[Path]:
    """Rewrite every notebook's Colab twin (atomically); the paths written."""
    out = []
    for notebook in notebook_registry():
        path = twin_path(notebook)
        with atomic_write(path) as tmp:
            tmp.write_text(nbformat.writes(colab_twin(notebooks_dir() / f"{notebook}.py")) + "\n", encoding="utf-8")
        out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    for path in write_twins():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
