"""Shared fixtures: a tiny synthetic release in the real layout, generated once per test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def tiny_release_root(tmp_path_factory):
    """A synthetic release: 6 species, 8 photos each, 256 px; seed 0."""
    from minerals.data.synth import generate

    return generate(tmp_path_factory.mktemp("synthetic") / "root", classes=6, per_class=8, image_size=256, seed=0)


@pytest.fixture(scope="session")
def tiny_release(tiny_release_root):
    from minerals.data import open_release

    return open_release(tiny_release_root)
