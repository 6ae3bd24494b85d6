"""One place says where the project lives (minerals/resources/project.toml); everything that links to
the repository agrees with it: the book's config, the Colab install cell of every notebook and its
Colab twin (the sources carry no link), pyproject.toml's [project.urls], the README and the book's How-to page."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from minerals.pipeline import book, colab
from minerals.pipeline.registry import notebook_registry, project_location

REPO = Path(__file__).resolve().parents[1]
GITHUB_URL = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+")


def project_urls(text: str) -> set[str]:
    """The github.com URLs of a text that point at a repository named `minerals` (not cited libraries)."""
    return {u.removesuffix(".git") for u in GITHUB_URL.findall(text) if u.rstrip("/").endswith("/minerals")}


def test_the_location_is_a_github_repository_and_a_branch():
    where = project_location()
    assert GITHUB_URL.fullmatch(where["repository"]), where
    assert re.fullmatch(r"[\w./-]+", where["branch"]), where


@pytest.mark.parametrize("path", ["_config.yml", "README.md", "book/reproduce.md",
                                  *(f"colab/notebooks/{nb}.ipynb" for nb in notebook_registry())])
def test_every_link_to_the_repository_agrees(path):
    text = (REPO / path).read_text(encoding="utf-8")
    assert project_urls(text) == {project_location()["repository"]}, f"{path} links to {project_urls(text)}"


@pytest.mark.parametrize("notebook", notebook_registry())
def test_the_colab_cell_installs_the_published_branch(notebook):
    where = project_location()
    text = colab.twin_path(notebook).read_text(encoding="utf-8")
    assert f'minerals @ git+{where["repository"]}@{where["branch"]}' in text, f"{notebook}: Colab cell installs another ref"


def test_pyproject_and_config_agree():
    where = project_location()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["urls"]["Repository"] == where["repository"]
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert (config["repository"]["url"], config["repository"]["branch"]) == (where["repository"], where["branch"])


def test_staging_writes_the_config_from_the_location(tmp_path):
    config = book.staged_config({"repository": {"url": "https://github.com/old/minerals", "branch": "dev",
                                                "path_to_book": "colab"}, "title": "t"},
                                {"repository": "https://github.com/new/minerals", "branch": "trunk"})
    assert config["repository"] == {"url": "https://github.com/new/minerals", "branch": "trunk", "path_to_book": "colab"}
    assert config["title"] == "t"
