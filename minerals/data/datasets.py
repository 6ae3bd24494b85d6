"""PyTorch datasets over a release: a classification subset and split, and the zero-shot set.

Items are PIL images when `transform` is None, else whatever `transform(image)` returns. `max_side`
(px) decodes JPEGs in draft mode to about that size first, which makes small-resolution training
several times faster; leave it None for full-resolution photos.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from torch.utils.data import Dataset

from minerals.data.images import load_image
from minerals.data.layout import Release
from minerals.data.splits import SPLITS


class Photos(Dataset):
    """Image files as a dataset: item `i` is `transform(load_image(paths[i], max_side))` (a PIL image without)."""

    def __init__(self, paths, transform: Callable | None = None, max_side: int | None = None):
        self.paths = [str(p) for p in paths]
        self.transform = transform
        self.max_side = max_side

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        image = load_image(self.paths[i], self.max_side)
        return image if self.transform is None else self.transform(image)


class _PhotoDataset(Photos):
    """Photos with integer labels over `classes`: items `(image, label)`."""

    def __init__(self, paths: list[str], labels: np.ndarray, classes: list[str], ru_classes: list[str],
                 transform: Callable | None, max_side: int | None):
        super().__init__(paths, transform, max_side)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = classes
        self.ru_classes = ru_classes

    def __getitem__(self, i: int):
        return super().__getitem__(i), int(self.labels[i])


class ClassificationDataset(_PhotoDataset):
    """Photos of the `n`-class subset in one split ("train", "val", "test" or "all"): `(image, label)`.

    `classes` / `ru_classes` are the English / Russian names in label order; `frame` is the subset rows.
    """

    def __init__(self, release: Release, n: int, split: str, transform: Callable | None = None,
                 max_side: int | None = None, seed: int = 0):
        if split not in SPLITS + ("all",):
            raise ValueError(f"split must be one of {', '.join(SPLITS)} or all, got {split!r}")
        df = release.subset(n, seed=seed)
        self.frame = df if split == "all" else df[df["split"] == split].reset_index(drop=True)
        super().__init__(self.frame["path"].tolist(), self.frame["label"].to_numpy(), release.classes(n),
                         release.classes(n, lang="ru"), transform, max_side)


class ZeroShotDataset(_PhotoDataset):
    """Every photo of the full table, labelled over all its species (sorted English names)."""

    def __init__(self, release: Release, transform: Callable | None = None, max_side: int | None = None):
        self.frame = release.full
        classes = release.classes(None)
        index = {c: i for i, c in enumerate(classes)}
        super().__init__(self.frame["path"].tolist(), self.frame["en_name"].map(index).to_numpy(), classes,
                         release.classes(None, lang="ru"), transform, max_side)
