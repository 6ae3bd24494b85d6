"""A tiny release in the real layout, written with PIL for the data-layer tests (not the synthetic generator).

`make_release(root, ...)` writes mineral_images/ (nested collection folders and flat upper-case
names), minerals_full.csv, minerals_<n>.csv, minerals_size.csv and segm/{img,mask}; keyword
arguments switch on the uncertain variants of the real release.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

SPECIES = [("Quartz", "Кварц"), ("Calcite", "Кальцит"), ("Pyrite", "Пирит"), ("Fluorite", "Флюорит"),
           ("Beryl", "Берилл"), ("Galena", "Галенит")]


def write_jpeg(path: Path, size=(64, 48), colour=(120, 90, 60), seed=0) -> None:
    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(colour) + rng.normal(0, 20, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, quality=90)


def make_release(root: Path, classes: int = 4, per_class=(6, 5, 4, 3), size=(64, 48), full_name="minerals_full.csv",
                 subsets=(3,), path_base="images", split_column=False, columns=None, segm=3,
                 size_rows=5) -> Path:
    """Write a release; returns `root`. `columns` renames canonical columns (e.g. {"en_name": "name"})."""
    root = Path(root)
    images = root / "mineral_images"
    rows = []
    for c in range(classes):
        en, ru = SPECIES[c]
        for k in range(per_class[c] if not isinstance(per_class, int) else per_class):
            i = len(rows)
            rel = f"1_syst/1_{100 + i}/IMG_{i:04d}.jpg" if i % 3 else f"FMM_7_{3600 + i}.JPG"
            write_jpeg(images / rel, size, (40 + 50 * c, 200 - 40 * c, 100), seed=i)
            boxes = [{"label": "a stone", "confidence": 0.3, "box": [0.2, 0.2, 0.7, 0.8]}]
            rows.append({"id": 1000 + i, "path": rel if path_base == "images" else f"mineral_images/{rel}",
                         "en_name": en, "ru_name": ru, "height": size[1], "width": size[0],
                         "description": "12x8.5 cm." if k == 0 else "", "mineral_boxes": json.dumps(boxes),
                         "true_size_cm": 2.0 + c + k / 10})
    full = pd.DataFrame(rows)
    full.rename(columns=columns or {}).to_csv(root / full_name, index=False)
    for n in subsets:
        top = full["en_name"].value_counts().index[:n]
        sub = full[full["en_name"].isin(top)][["id", "path", "en_name", "ru_name"]].copy()
        if split_column:
            sub["split"] = ["test" if j % 4 == 0 else "train" for j in range(len(sub))]
        sub.to_csv(root / f"minerals_{n}.csv", index=False)
    if size_rows:
        size_df = full.head(size_rows)[["path", "ru_name", "true_size_cm"]].rename(
            columns={"path": "path_final"})
        size_df["SIZESM"] = size_df["true_size_cm"].round(1)
        size_df.to_csv(root / "minerals_size.csv", index=False)
    for j in range(segm):
        write_jpeg(root / "segm" / "img" / f"S_{j}.JPG", size, seed=50 + j)
        mask = np.zeros((size[1], size[0], 3), np.uint8)
        mask[10:30, 20:40] = 255
        (root / "segm" / "mask").mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask).save(root / "segm" / "mask" / f"S_{j}.JPG", quality=75)
    return root
