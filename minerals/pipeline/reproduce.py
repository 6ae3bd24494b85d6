"""Execute the section notebooks: jupytext converts each py:percent source in memory, papermill runs it.

Executed notebooks go to `build/notebooks/<profile>/<id>.ipynb` (never into git); each notebook writes
its own tables, figures and run record under `results/<profile>/` through `minerals.pipeline.session`.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from minerals import results, runtime
from minerals.profiles import load_profile
from minerals.pipeline.registry import notebook_registry
from minerals.pipeline.session import resolve_data_root

REPO_ROOT = Path(__file__).resolve().parents[2]


class ReproduceError(RuntimeError):
    """A notebook could not be found, started or executed; the message names it (and the cell)."""


@dataclass
class NotebookRun:
    """The outcome of one executed notebook."""

    notebook: str
    output: Path
    wall_s: float


def notebooks_dir() -> Path:
    """The folder of py:percent notebook sources (`notebooks/` of the checkout, or of the cwd)."""
    for candidate in (REPO_ROOT / "notebooks", Path.cwd() / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise ReproduceError("no notebooks/ folder found: run from a checkout of the minerals repository")


def select_notebooks(only: list[str] | None = None) -> list[str]:
    """Notebook ids in order; `only` accepts ids (`02_few_shot`), names (`few_shot`) or numbers (`2`)."""
    ids = sorted(notebook_registry())
    if not only:
        return ids
    chosen = []
    for name in only:
        matches = [i for i in ids if name in (i, i.split("_", 1)[1]) or (name.isdigit() and int(i[:2]) == int(name))]
        if not matches:
            raise ReproduceError(f"unknown notebook {name!r}; choose from: {', '.join(ids)}")
        chosen.extend(m for m in matches if m not in chosen)
    return sorted(chosen)


def build_dir(profile: str, root: Path | None = None) -> Path:
    """Where executed notebooks of a profile go."""
    return (root or REPO_ROOT / "build") / "notebooks" / profile


def _describe_failure(notebook: str, exc: Exception) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        evalue = str(exc.evalue).strip().splitlines()
        return (f"notebook {notebook} failed in cell {exc.cell_index} (execution count {exc.exec_count}): "
                f"{exc.ename}: {evalue[-1] if evalue else ''}")
    return f"notebook {notebook} could not run: {type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _inline_figures():
    """Kernels inherit the environment: an `MPLBACKEND=Agg` there would keep every figure out of the notebook."""
    saved = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = saved


def execute(notebook: str, parameters: dict, output: Path, progress: bool = True,
            source_dir: Path | None = None) -> NotebookRun:
    """Convert `notebooks/<notebook>.py` in memory and execute it with papermill into `output`.

    The executed notebook appears at `output` only on success; a failed run is kept as
    `<id>.failed.ipynb` beside it for inspection.
    """
    import jupytext
    import papermill
    import papermill.parameterize

    source = (source_dir or notebooks_dir()) / f"{notebook}.py"
    if not source.exists():
        raise ReproduceError(f"notebook source {source} is missing")
    nb = jupytext.read(source)
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    # The notebooks declare their parameters on one line (`profile, data_root, ... = ...`), which papermill's
    # per-line inference cannot read: inject them here, as papermill would, without its unknown-name warnings.
    nb.metadata.setdefault("papermill", {})  # as papermill's own loader leaves the notebook
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
    nb = papermill.parameterize.parameterize_notebook(nb, parameters, kernel_name="python3")
    output.parent.mkdir(parents=True, exist_ok=True)
    failed = output.with_suffix(".failed.ipynb")
    start = time.perf_counter()
    try:
        with results.atomic_write(output) as tmp, _inline_figures():
            try:
                papermill.execute_notebook(nb, str(tmp), kernel_name="python3",
                                           progress_bar=progress, cwd=str(REPO_ROOT))
            except Exception as exc:  # papermill and the kernel raise many types; all end the same way
                if tmp.exists():
                    os.replace(tmp, failed)
                raise ReproduceError(_describe_failure(notebook, exc)) from exc
    finally:
        wall = time.perf_counter() - start
    failed.unlink(missing_ok=True)
    return NotebookRun(notebook=notebook, output=output, wall_s=wall)


def reproduce(profile: str, only: list[str] | None = None, data_root: str | None = None, device: str = "",
              seed: int = 0, results_dir: str | os.PathLike = "results", build_root: Path | None = None,
              progress: bool = True, echo=print) -> list[NotebookRun]:
    """Execute the selected notebooks of a profile in order; stop at the first failure."""
    prof = load_profile(profile)
    runtime.pin_cpu(prof.settings)  # the kernels inherit the environment: same CPU kernel class in each
    ids = select_notebooks(only)
    root = resolve_data_root(prof, data_root)  # fail fast (paper without data) and generate synthetic data once
    results_dir = Path(results_dir).expanduser().resolve()
    params = {"profile": profile, "data_root": str(root), "device": device, "seed": int(seed),
              "results_dir": str(results_dir)}
    runs = []
    for i, notebook in enumerate(ids, 1):
        echo(f"[{i}/{len(ids)}] {notebook} ({prof.name} profile)")
        run = execute(notebook, params, build_dir(profile, build_root) / f"{notebook}.ipynb", progress)
        echo(f"[{i}/{len(ids)}] {notebook} done in {run.wall_s:.1f} s")
        runs.append(run)
    record = {"profile": profile, "notebooks": {r.notebook: round(r.wall_s, 3) for r in runs},
              "total_s": round(sum(r.wall_s for r in runs), 3), "parameters": params,
              **results.provenance(device or prof.settings.get("device", "cpu"))}
    results.write_json(results_dir / profile / "runs" / "reproduce.json", record)
    return runs


def format_timings(runs: list[NotebookRun]) -> str:
    """A small plain-text table of wall times per notebook and in total."""
    width = max([len(r.notebook) for r in runs] + [5])
    lines = [f"{'notebook':<{width}}  wall (s)"]
    lines += [f"{r.notebook:<{width}}  {r.wall_s:8.1f}" for r in runs]
    lines.append(f"{'total':<{width}}  {sum(r.wall_s for r in runs):8.1f}")
    return "\n".join(lines)
