"""One fingerprint of the data a run learns from, for every section's run keys.

A fingerprint hashes, per row, the photo's path relative to the release root, its size in bytes and
the given columns (labels, splits, measured sizes). It is the same for a copy of the release on any
machine or in any folder, so stored runs carry across; regenerated or edited data gives a new one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path


def fingerprint(root: str | os.PathLike, paths: Sequence[str | os.PathLike],
                columns: Iterable[Sequence] = ()) -> str:
    """16 hex digits over `paths` (relative to `root`, with their byte sizes) and the parallel `columns`.

    Raises FileNotFoundError naming a photo that is missing.
    """
    root = Path(root).resolve()
    values = [list(c) for c in columns]
    for column in values:
        if len(column) != len(paths):
            raise ValueError(f"fingerprint: a column of {len(column)} values for {len(paths)} photos")
    digest = hashlib.sha256()
    for i, path in enumerate(paths):
        path = Path(path)
        rel = os.path.relpath(path.resolve(), root)
        extra = "|".join(str(c[i]) for c in values)
        digest.update(f"{Path(rel).as_posix()}|{path.stat().st_size}|{extra}\n".encode())
    return digest.hexdigest()[:16]


def frame_fingerprint(release, frame, columns: Sequence[str] = ()) -> str:
    """`fingerprint` of a release table (`path` plus `columns` of `frame`), relative to `release.root`."""
    return fingerprint(release.root, frame["path"].tolist(), [frame[c].tolist() for c in columns])


def files_fingerprint(paths: Sequence[str | os.PathLike], columns: Iterable[Sequence] = ()) -> str:
    """`fingerprint` of files relative to the deepest folder they share (for files outside a release table)."""
    root = os.path.commonpath([Path(p).resolve().parent for p in paths]) if paths else "."
    return fingerprint(root, paths, columns)
