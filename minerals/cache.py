"""The cache folder (generated data, split manifests, downloaded weights): importable by every layer."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where generated data and downloaded weights are cached (`$MINERALS_CACHE`, default ~/.cache/minerals)."""
    return Path(os.environ.get("MINERALS_CACHE", Path.home() / ".cache" / "minerals")).expanduser()
