"""The Hugging Face mirror `Nech-C/mineralimage5K-98` read from a local folder of parquet files.

The mirror is a derived 98-class set (train 12,828 / validation 2,749 / test 2,749 photos), not the
paper's split. Its parquet files carry `image` (`{bytes, path}`), `name` (a class-label index or a
string), `description` and `mineral_boxes`; the split is in the file name (`train-00000-of-00008.parquet`)
or its folder. `open_hf_mirror(folder)` indexes the small columns; `HFMirrorDataset` decodes photos
one row group at a time (the last one read is kept per worker), so sequential reading is fast and
memory stays bounded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from torch.utils.data import Dataset

from minerals.data.images import decode_image
from minerals.data.layout import LayoutError, parse_boxes

REPO = "Nech-C/mineralimage5K-98"
# split names of the mirror -> ours
HF_SPLITS = {"train": "train", "validation": "val", "valid": "val", "val": "val", "test": "test"}
COLUMNS = ("name", "description", "mineral_boxes")


def _split_of(path: Path) -> str | None:
    for part in (path.name.split("-")[0].split(".")[0], path.parent.name):
        if part.lower() in HF_SPLITS:
            return HF_SPLITS[part.lower()]
    return None


def _class_names(schema) -> list[str] | None:
    """The ClassLabel names of `name` from the datasets library's schema metadata, if any."""
    meta = (schema.metadata or {}).get(b"huggingface")
    if not meta:
        return None
    feature = json.loads(meta).get("info", {}).get("features", {}).get("name", {})
    return feature.get("names") if feature.get("_type") == "ClassLabel" else None


class HFMirror:
    """The index of a local copy of the mirror: `frame` has one row per photo (no image bytes).

    `frame` columns: `id` (running number), `en_name`, `description`, `mineral_boxes` (parsed),
    `label` (classes sorted by name), `split` (train/val/test), `file`, `row_group`, `row`.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder).expanduser()
        files = sorted(self.folder.rglob("*.parquet"))
        if not files:
            raise LayoutError(f"{self.folder}: no .parquet files; download the {REPO} dataset there (for example "
                              f"`huggingface-cli download {REPO} --repo-type dataset --local-dir {self.folder}`)")
        parts = []
        for file in files:
            split = _split_of(file)
            if split is None:
                raise LayoutError(f"{file}: cannot tell its split from the name; expected train-, validation- or "
                                  "test- (or a folder of that name)")
            parts.append(self._index(file, split))
        frame = pd.concat(parts, ignore_index=True)
        frame.insert(0, "id", np.arange(len(frame)))
        self.classes = sorted(frame["en_name"].unique())
        frame["label"] = frame["en_name"].map({c: i for i, c in enumerate(self.classes)}).astype(int)
        self.frame = frame

    @staticmethod
    def _index(file: Path, split: str) -> pd.DataFrame:
        pf = pq.ParquetFile(file)
        missing = [c for c in ("image", "name") if c not in pf.schema_arrow.names]
        if missing:
            raise LayoutError(f"{file}: no column {', '.join(missing)}; columns are {', '.join(pf.schema_arrow.names)}")
        columns = [c for c in COLUMNS if c in pf.schema_arrow.names]
        table = pf.read(columns=columns).to_pandas()
        names = _class_names(pf.schema_arrow)
        if names is not None and pd.api.types.is_integer_dtype(table["name"]):
            table["name"] = [names[i] for i in table["name"]]
        groups = np.repeat(np.arange(pf.num_row_groups), [pf.metadata.row_group(g).num_rows
                                                         for g in range(pf.num_row_groups)])
        rows = np.concatenate([np.arange(pf.metadata.row_group(g).num_rows) for g in range(pf.num_row_groups)]) \
            if pf.num_row_groups else np.array([], int)
        boxes = table["mineral_boxes"] if "mineral_boxes" in table else [None] * len(table)
        return pd.DataFrame({
            "en_name": table["name"].astype(str),
            "description": table["description"].fillna("").astype(str) if "description" in table else "",
            "mineral_boxes": [parse_boxes(b.tolist() if hasattr(b, "tolist") else b) for b in boxes],
            "split": split, "file": str(file), "row_group": groups, "row": rows})

    def dataset(self, split: str, transform: Callable | None = None, max_side: int | None = None) -> HFMirrorDataset:
        return HFMirrorDataset(self, split, transform, max_side)

    def __repr__(self) -> str:
        counts = self.frame["split"].value_counts().to_dict()
        return f"HFMirror({self.folder}, {len(self.frame)} photos, {len(self.classes)} classes, {counts})"


class HFMirrorDataset(Dataset):
    """`(image, label)` of one split ("train", "val", "test" or "all") of the mirror; PIL when no transform."""

    def __init__(self, mirror: HFMirror, split: str, transform: Callable | None = None, max_side: int | None = None):
        if split not in ("train", "val", "test", "all"):
            raise ValueError(f"split must be train, val, test or all, got {split!r}")
        frame = mirror.frame
        self.frame = frame if split == "all" else frame[frame["split"] == split].reset_index(drop=True)
        self.classes = mirror.classes
        self.transform = transform
        self.max_side = max_side
        self._cached: tuple[tuple[str, int], list] | None = None

    def __getstate__(self):  # DataLoader workers start with an empty row-group cache
        return {**self.__dict__, "_cached": None}

    def __len__(self) -> int:
        return len(self.frame)

    def _image_bytes(self, file: str, group: int, row: int) -> bytes:
        if self._cached is None or self._cached[0] != (file, group):
            column = pq.ParquetFile(file).read_row_group(group, columns=["image"]).column("image")
            self._cached = ((file, group), column.to_pylist())
        cell = self._cached[1][row]
        return cell["bytes"] if isinstance(cell, dict) else cell

    def __getitem__(self, i: int):
        item = self.frame.iloc[i]
        data = self._image_bytes(item["file"], int(item["row_group"]), int(item["row"]))
        image = decode_image(data, f"{Path(item['file']).name} row {item['row_group']}:{item['row']}", self.max_side)
        if self.transform is not None:
            image = self.transform(image)
        return image, int(item["label"])


def open_hf_mirror(folder: str | os.PathLike) -> HFMirror:
    """Index the parquet files of a local copy of `Nech-C/mineralimage5K-98`."""
    return HFMirror(folder)
