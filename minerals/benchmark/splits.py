"""The official photos of each task as a table, identical for every user (`minerals data split`).

- classification: a numbered subset's `train`/`val`/`test` split (the seeded manifests of
  `minerals.data.splits`, via `Release.subset`) or `full` (every photo, the zero-shot set):
  `id, path, en_name, label` (labels over the subset's classes sorted by English name);
- size: the photos of `minerals_size.csv`: `id, path, en_name`;
- segmentation: the `segm` photos the section scores (the first `max_images` by name, 0 = all): `id, path`,
  the id being the photo's file stem (a mask PNG is named after it).

Paths are relative to the release folder, so a split's content hash (sha256 of its CSV) is the same
on every machine.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

TASKS = ("classification", "size", "segmentation")
SPLITS = ("train", "val", "test", "all")


def _relative(release, paths) -> list[str]:
    root = Path(release.root).resolve()
    return [Path(os.path.relpath(Path(p).resolve(), root)).as_posix() for p in paths]


def classification_frame(release, subset: int | str, split: str = "test", seed: int = 0) -> pd.DataFrame:
    """`id, path, en_name, label` of `split` of the `subset`-class subset; `subset="full"`: every photo
    (labels over every species, sorted), `split` ignored. Rows in the subset's own order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if str(subset) == "full":
        frame = release.full
        classes = sorted(frame["en_name"].unique())
        frame = frame.assign(label=frame["en_name"].map({c: i for i, c in enumerate(classes)}).astype(int))
    else:
        frame = release.subset(int(subset), seed=seed)
        if split != "all":
            frame = frame[frame["split"] == split]
    return pd.DataFrame({"id": frame["id"].astype(str).to_numpy(), "path": _relative(release, frame["path"]),
                         "en_name": frame["en_name"].to_numpy(), "label": frame["label"].to_numpy(dtype=int)})


def size_frame(release) -> pd.DataFrame:
    """`id, path, en_name` of the size photos; a photo absent from the full table is named by its path."""
    table = release.size_table()
    paths = _relative(release, table["path"])
    ids = [p if pd.isna(i) else str(int(i)) if isinstance(i, float) else str(i) for i, p in zip(table["id"], paths)]
    return pd.DataFrame({"id": ids, "path": paths, "en_name": table["en_name"].to_numpy()})


def segmentation_pairs(release, max_images: int = 0) -> list[tuple[Path, Path]]:
    """The `(photo, mask)` pairs the segmentation section scores: the first `max_images` (0 = all)."""
    return release.segmentation()[:max_images or None]


def segmentation_frame(release, max_images: int = 0) -> pd.DataFrame:
    """`id, path` of the scored `segm` photos; the id is the photo's file stem."""
    pairs = segmentation_pairs(release, max_images)
    return pd.DataFrame({"id": [Path(p).stem for p, _ in pairs], "path": _relative(release, [p for p, _ in pairs])})


def split_frame(release, task: str = "classification", subset: int | str | None = None, split: str = "test",
                seed: int = 0, max_images: int = 0) -> pd.DataFrame:
    """The official table of `task` (see the module docstring)."""
    if task == "classification":
        if subset is None:
            raise ValueError("the classification split needs a subset: a class count (10, 30, ...) or 'full'")
        return classification_frame(release, subset, split, seed)
    if task == "size":
        return size_frame(release)
    if task == "segmentation":
        return segmentation_frame(release, max_images)
    raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The split's CSV exactly as `minerals data split` writes it."""
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def split_hash(frame: pd.DataFrame) -> str:
    """sha256 (hex) of the split's CSV bytes: `sha256sum` of the written file gives the same."""
    return hashlib.sha256(csv_bytes(frame)).hexdigest()


def write_split(frame: pd.DataFrame, path: str | os.PathLike) -> str:
    """Write the split CSV atomically; returns its sha256."""
    from minerals.results import atomic_write

    data = csv_bytes(frame)
    with atomic_write(Path(path)) as tmp:
        Path(tmp).write_bytes(data)
    return hashlib.sha256(data).hexdigest()
