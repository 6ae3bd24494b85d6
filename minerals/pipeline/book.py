"""Build the Jupyter Book from the executed notebooks, with execution off (papermill already ran them).

The book is staged in `build/book/`: the root `_config.yml` (its repository URL and branch rewritten from
`resources/project.toml`, the one place that says where the project lives) and `_toc.yml`, the `book/` pages, the
executed notebooks as `notebooks/<id>.ipynb` (so each page's Colab button points at the committed,
output-free notebook of the same path), and generated pages (reproduction report, summary, provenance).
The HTML lands in `_build/html` at the repository root.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from minerals import results
from minerals.pipeline.reproduce import REPO_ROOT, build_dir
from minerals.pipeline.registry import notebook_registry, project_location


class BookError(RuntimeError):
    """The book could not be staged or built; the message says which page or step."""


def toc_files(toc_path: Path) -> list[str]:
    """Every `file:` entry of a Jupyter Book `_toc.yml` (root first), without extension."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return files


def generated_pages(profile: str, results_dir: Path, device: str) -> dict[str, str]:
    """Markdown of the generated pages: the reproduction report, the summary line, the provenance."""
    from minerals import check

    claims = check.compare(profile, results_dir)
    record_path = results_dir / profile / "runs" / "reproduce.json"
    run = {}
    if record_path.exists():
        import json

        run = json.loads(record_path.read_text(encoding="utf-8"))
    provenance = (f"Built from the **{profile}** profile on device `{run.get('device', device)}` at commit "
                  f"`{run.get('commit', results.git_commit())}`; notebooks executed in "
                  f"{run.get('total_s', float('nan')):.0f} s.")
    return {"reproduction.md": check.render_markdown(claims, profile),
            "summary.md": " ".join(filter(None, [check.summary_line(claims), check.mode_sentence(claims)])) + "\n",
            "provenance.md": provenance + "\n"}


def staged_config(config: dict, location: dict[str, str]) -> dict:
    """The book's `_config.yml` with `repository.url` and `repository.branch` taken from `location`."""
    repository = {**config.get("repository", {}), "url": location["repository"], "branch": location["branch"]}
    return {**config, "repository": repository}


def stage(profile: str, results_dir: Path, device: str = "cpu", stage_dir: Path | None = None) -> Path:
    """Assemble the book sources in a clean staging folder and return it."""
    stage_dir = stage_dir or REPO_ROOT / "build" / "book"
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf-8"))
    (stage_dir / "_config.yml").write_text(yaml.safe_dump(staged_config(config, project_location()), sort_keys=False),
                                           encoding="utf-8")
    shutil.copy2(REPO_ROOT / "_toc.yml", stage_dir / "_toc.yml")
    shutil.copytree(REPO_ROOT / "book", stage_dir / "book", ignore=shutil.ignore_patterns("_generated"))
    executed = build_dir(profile)
    (stage_dir / "notebooks").mkdir()
    for notebook in notebook_registry():
        source = executed / f"{notebook}.ipynb"
        if not source.exists():
            raise BookError(f"executed notebook {source} is missing: run `minerals reproduce --profile {profile}` first")
        shutil.copy2(source, stage_dir / "notebooks" / source.name)
    generated = stage_dir / "book" / "_generated"
    generated.mkdir()
    for name, text in generated_pages(profile, results_dir, device).items():
        (generated / name).write_text(text, encoding="utf-8")
    return stage_dir


def build(profile: str = "smoke", results_dir: str | Path = "results", device: str = "cpu",
          html_root: Path | None = None) -> Path:
    """Stage and build the book; check that every page of the table of contents has its HTML."""
    results_dir = Path(results_dir).expanduser().resolve()
    html_root = html_root or REPO_ROOT
    staged = stage(profile, results_dir, device)
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(staged), "--path-output", str(html_root),
           "--warningiserror", "--keep-going", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BookError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    html = html_root / "_build" / "html"
    missing = [f for f in toc_files(staged / "_toc.yml") if not (html / f"{f}.html").exists()]
    if missing:
        raise BookError(f"the build wrote no HTML for: {', '.join(missing)} (is jupyter-book 1.x installed?)")
    return html
