"""Build the Jupyter Book from the executed notebooks, with execution off (papermill already ran them).

The book is staged in `build/book/`: the root `_config.yml` (its repository URL and branch rewritten from
`resources/project.toml`, the one place that says where the project lives) and `_toc.yml`, the `book/` pages, the
executed notebooks as `notebooks/<id>.ipynb` (so each page's Colab button points at the committed,
output-free notebook of the same path), and generated pages (reproduction report, summary, provenance).
The HTML lands in `_build/html` at the repository root.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
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
    """Markdown of the generated pages: the reproduction report, the summary line, the provenance, the front page."""
    from minerals import check

    claims = check.compare(profile, results_dir)
    record_path = results_dir / profile / "runs" / "reproduce.json"
    run = {}
    if record_path.exists():
        run = json.loads(record_path.read_text(encoding="utf-8"))
    provenance = (f"Built from the **{profile}** profile on device `{run.get('device', device)}` at commit "
                  f"`{run.get('commit', results.git_commit())}`; notebooks executed in "
                  f"{run.get('total_s', float('nan')):.0f} s.")
    return {"reproduction.md": check.render_markdown(claims, profile),
            "summary.md": " ".join(filter(None, [check.summary_line(claims), check.mode_sentence(claims)])) + "\n",
            "provenance.md": provenance + "\n",
            "front.md": front_page(profile, results_dir / profile)}


# The front page: per task, the section page, the figure shown beside its headline number, and the headline.
FRONT_FIGURES = {"fewshot": ("02_few_shot", "fewshot_topk"), "zeroshot": ("03_zero_shot", "zeroshot_classes"),
                 "size": ("04_size", "size_scatter"), "segmentation": ("05_segmentation", "segmentation_methods")}
# What the paper reports for each task (where, and in which metrics); its values are not transcribed.
PAPER_STATES = {"fewshot": "Table 3: top-1/3/5/10 per model and input resolution on 10, 98 and 360 classes",
                "zeroshot": "CLIP zero-shot top-k accuracy, up to all 5,139 species",
                "size": "MAE, RMSE, R² and MAPE of the cube-based size estimate on 18,076 photos",
                "segmentation": "Grad-CAM-family masks scored against the hand-made masks (>100 photos)"}
NOT_TRANSCRIBED = ("The paper's result values are not transcribed here (they are not known to us): enter them in "
                   "`minerals/resources/ledger.csv` and `minerals check --profile paper` compares them with a "
                   "`paper` build. Its subset counts are known and stand in the table below.")


def pct(value: float) -> str:
    """A fraction in [0, 1] as a percentage with one decimal."""
    return f"{100 * value:.1f} %"


def read_table(root: Path, table_id: str) -> pd.DataFrame | None:
    """`root/tables/<id>.csv`, or None when that section has not run."""
    path = root / "tables" / f"{table_id}.csv"
    return pd.read_csv(path) if path.exists() else None


def headlines(root: Path) -> dict[str, str]:
    """One headline sentence per task, computed from the section tables under `root` (`results/<profile>`)."""
    found = {}
    fewshot = read_table(root, "fewshot")
    if fewshot is not None and len(fewshot):
        best = fewshot[fewshot["subset"] == fewshot["subset"].max()].sort_values("top1").iloc[-1]
        found["fewshot"] = (f"top-1 **{pct(best['top1'])}** (95 % CI {pct(best['top1_ci_low'])}–{pct(best['top1_ci_high'])}), "
                            f"top-5 {pct(best['top5'])} on the {best['subset']}-class subset, {best['n_test']} test "
                            f"photos ({best['model']}, {best['resolution']} px, "
                            f"{'ImageNet weights' if best['pretrained'] else 'from scratch'})")
    zeroshot = read_table(root, "zeroshot")
    if zeroshot is not None and len(zeroshot):
        largest = zeroshot[zeroshot["n_classes"] == zeroshot["n_classes"].max()].sort_values("top1").iloc[-1]
        found["zeroshot"] = (f"top-1 **{pct(largest['top1'])}** over {largest['n_classes']} species, "
                             f"{largest['n_images']} photos (chance {pct(1 / largest['n_classes'])}; "
                             f"{largest['model']} {largest['pretrained']}, {largest['templates']} prompts)")
    size = read_table(root, "size")
    if size is not None and len(size):
        best = size.set_index("method").loc["improved"] if "improved" in set(size["method"]) else size.iloc[0]
        found["size"] = (f"MAPE **{pct(best['mape'])}** (95 % CI {pct(best['mape_low'])}–{pct(best['mape_high'])}) "
                         f"on the {pct(best['coverage'])} of {int(best['n'])} photos it estimates "
                         f"({best.name if 'improved' in set(size['method']) else best['method']} estimator)")
    segmentation = read_table(root, "segmentation")
    if segmentation is not None and len(segmentation):
        best = segmentation.sort_values("miou").iloc[-1]
        found["segmentation"] = (f"mean IoU **{best['miou']:.2f}** (95 % CI {best['miou_low']:.2f}–{best['miou_high']:.2f}) "
                                 f"on {int(best['n_images'])} masks ({best['method']}, {best['threshold']}, "
                                 f"`{best['backbone']}`)")
    return found


def subsets_markdown(root: Path) -> str:
    """The subset table of the dataset page as Markdown: the paper's counts beside this build's."""
    table = read_table(root, "subsets")
    if table is None:
        return "*The dataset page has not run: no subset table.*"

    def count(value) -> str:
        return "–" if pd.isna(value) else f"{value:,.0f}" if isinstance(value, float) else str(value)

    lines = ["| subset | task | paper: classes | paper: images | this build: classes | this build: images |",
             "|---|---|---:|---:|---:|---:|"]
    for row in table.itertuples():
        lines.append(f"| {row.subset} | {row.task} | {count(row.paper_classes)} | {count(row.paper_images)} | "
                     f"{count(row.found_classes)} | {count(row.found_images)} |")
    return "\n".join(lines)


def front_page(profile: str, root: Path) -> str:
    """Markdown of the front page's results: the profile banner, the headline table, subsets, one figure per task."""
    from minerals.profiles import load_profile

    synthetic = load_profile(profile).section("data").get("source") == "synthetic"
    banner = (f"**This build is the `{profile}` profile: synthetic photos and tiny or untrained models.** Its numbers "
              "show that every step of the benchmark runs; they say nothing about real minerals."
              if synthetic else f"**This build is the `{profile}` profile, on the real release.**")
    found = headlines(root)
    tasks = {"fewshot": "Few-shot classification", "zeroshot": "Zero-shot classification (CLIP)",
             "size": "Zero-shot size from the reference cube", "segmentation": "Zero-shot segmentation (CAM)"}
    rows = ["| task | this build | the paper reports |", "|---|---|---|"]
    for task, title in tasks.items():
        page = FRONT_FIGURES[task][0]
        rows.append(f"| [{title}](../notebooks/{page}) | {found.get(task, '*not run*')} | {PAPER_STATES[task]} |")
    figures = []
    for task, (page, figure) in FRONT_FIGURES.items():
        if (root / "figures" / f"{figure}.png").exists():
            figures.append(f"```{{figure}} _generated/figures/{figure}.png\n:alt: {tasks[task]}\n\n"
                           f"**{tasks[task]}.** {found.get(task, '').replace('**', '')}. "
                           f"[The section page](../notebooks/{page}).\n```")
    strip = ((f"```{{figure}} _generated/figures/sample_strip.png\n:alt: example photos\n\n"
              f"Example photos of this build's release{' (synthetic)' if synthetic else ''}.\n```")
             if (root / "figures" / "sample_strip.png").exists() else "")
    return "\n\n".join([
        banner,
        "## What each task reaches in this build", "\n".join(rows),
        NOT_TRANSCRIBED,
        "## The benchmark: subsets", strip, subsets_markdown(root),
        "## One figure per task", *figures]) + "\n"


def staged_config(config: dict, location: dict[str, str]) -> dict:
    """The book's `_config.yml` with `repository.url` and `repository.branch` taken from `location`."""
    repository = {**config.get("repository", {}), "url": location["repository"], "branch": location["branch"]}
    return {**config, "repository": repository}


def with_extra_path(config: dict) -> dict:
    """The config with `_extra` (the linked result files, see `copy_links`) in Sphinx's `html_extra_path`."""
    sphinx = config.get("sphinx", {})
    sphinx_config = {**sphinx.get("config", {}), "html_extra_path": ["_extra"]}
    return {**config, "sphinx": {**sphinx, "config": sphinx_config}}


def stage(profile: str, results_dir: Path, device: str = "cpu", stage_dir: Path | None = None) -> Path:
    """Assemble the book sources in a clean staging folder and return it."""
    stage_dir = stage_dir or REPO_ROOT / "build" / "book"
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf-8"))
    (stage_dir / "_config.yml").write_text(yaml.safe_dump(with_extra_path(staged_config(config, project_location())), sort_keys=False),
                                           encoding="utf-8")
    shutil.copy2(REPO_ROOT / "_toc.yml", stage_dir / "_toc.yml")
    shutil.copytree(REPO_ROOT / "book", stage_dir / "book", ignore=shutil.ignore_patterns("_generated"))
    executed = build_dir(profile)
    (stage_dir / "notebooks").mkdir()
    for notebook in notebook_registry():
        source = executed / f"{notebook}.ipynb"
        if not source.exists():
            raise BookError(f"executed notebook {source} is missing: run `minerals reproduce --profile {profile}` first")
        stage_notebook(source, stage_dir / "notebooks" / source.name)
    generated = stage_dir / "book" / "_generated"
    generated.mkdir()
    for name, text in generated_pages(profile, results_dir, device).items():
        (generated / name).write_text(text, encoding="utf-8")
    figures = results_dir / profile / "figures"
    if figures.is_dir():
        shutil.copytree(figures, generated / "figures")
    copy_links(results_dir / profile, stage_dir / "_extra" / "results")
    return stage_dir


def stage_notebook(source: Path, target: Path) -> None:
    """Copy an executed notebook, with papermill's injected parameters cell (this build's values, cache paths)
    tagged `remove-cell`: the page shows the notebook's own folded parameters cell and the provenance banner."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(nb, target)


def copy_links(root: Path, extra: Path) -> None:
    """Copy the files the pages link to (`links` of each notebook run record under `root/runs/notebooks/`) to
    `extra`, which the build copies next to the pages (Sphinx `html_extra_path`)."""
    extra.mkdir(parents=True, exist_ok=True)
    for record in sorted((root / "runs" / "notebooks").glob("*.json")):
        for relative in json.loads(record.read_text(encoding="utf-8")).get("links", []):
            source = root / relative
            if not source.is_file():
                raise BookError(f"{record} links to {source}, which does not exist")
            (extra / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, extra / relative)


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
