"""The notebooks of the book and the tables and figures each declares (`resources/notebooks.toml`)."""

from __future__ import annotations

import tomllib
from importlib import resources


def notebook_registry() -> dict[str, dict]:
    """`resources/notebooks.toml`: notebook id -> {title, tables, figures}."""
    text = resources.files("minerals").joinpath("resources/notebooks.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)
