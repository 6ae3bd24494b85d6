"""Result files: atomic writes, run records that make reruns resume, tables and figures.

Layout under a results folder (default `results/`)::

    <profile>/runs/<section>/<key-hash>.json   one record per computed run (resume)
    <profile>/runs/notebooks/<notebook>.json   one record per executed notebook
    <profile>/tables/<id>.csv                  tables gathered from run records
    <profile>/figures/<id>.png                 figures
    <profile>/artifacts/<section>/...          checkpoints, feature caches
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

TRACKED_PACKAGES = (
    "minerals", "torch", "torchvision", "timm", "open_clip_torch", "grad-cam", "numpy", "pandas",
    "scikit-learn", "scikit-image", "opencv-python-headless", "pillow",
)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A reader never sees a half-written file: either the old content or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n", encoding="utf-8")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def key_hash(key: dict) -> str:
    """A short stable hash of a JSON-able dict (sorted keys)."""
    text = json.dumps(key, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the results."""
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """The current commit (with `+dirty` when the tree has changes), or `unknown` outside git."""
    cwd = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def provenance(device: str) -> dict:
    """Versions, commit, device, host and machine class (`runtime.machine_class`) of this process."""
    from minerals.runtime import machine_class

    return {"versions": package_versions(), "commit": git_commit(), "device": device,
            "host": platform.node(), "platform": platform.platform(), "machine": machine_class(device)}


class RunStore:
    """Run records of one section: `run(key, fn)` computes once, then returns the stored metrics."""

    def __init__(self, folder: str | os.PathLike, device: str = "cpu"):
        self.folder = Path(folder)
        self.device = device

    def path(self, key: dict) -> Path:
        return self.folder / f"{key_hash(key)}.json"

    def get(self, key: dict) -> dict | None:
        """The stored record for `key`, or None."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: corrupt run record ({exc}); delete it to recompute") from exc
        return record

    def run(self, key: dict, fn: Callable[[], dict], force: bool = False) -> dict:
        """Return the metrics of `key`, computing them with `fn()` only when no record exists."""
        record = None if force else self.get(key)
        if record is not None:
            return record["metrics"]
        start = time.perf_counter()
        metrics = fn()
        record = {"key": key, "metrics": metrics, "wall_s": round(time.perf_counter() - start, 3),
                  "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **provenance(self.device)}
        write_json(self.path(key), record)
        return metrics

    def records(self) -> list[dict]:
        """All records of this section, sorted by file name."""
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(self.folder.glob("*.json"))]
