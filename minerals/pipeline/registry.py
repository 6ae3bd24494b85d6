"""The notebooks of the book and the tables and figures each declares (`resources/notebooks.toml`), and
where the project lives (`resources/project.toml`)."""

from __future__ import annotations

import tomllib
from importlib import resources


def notebook_registry() -> dict[str, dict]:
    """`resources/notebooks.toml`: notebook id -> {title, tables, figures}."""
    text = resources.files("minerals").joinpath("resources/notebooks.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def project_location() -> dict[str, str]:
    """`resources/project.toml`: {repository: the project's GitHub URL, branch: the published branch}."""
    text = resources.files("minerals").joinpath("resources/project.toml").read_text(encoding="utf-8")
    location = tomllib.loads(text)
    missing = {"repository", "branch"} - set(location)
    if missing:
        raise KeyError(f"minerals/resources/project.toml lacks {', '.join(sorted(missing))}")
    return location
