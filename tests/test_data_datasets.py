"""The torch datasets: items, labels, transforms, DataLoader workers and bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from data_fixture import make_release
from minerals.data import ClassificationDataset, ImageError, ZeroShotDataset, open_release


@pytest.fixture
def release(tmp_path):
    return open_release(make_release(tmp_path))


def test_classification_splits_partition_subset(release):
    parts = {s: ClassificationDataset(release, 3, s) for s in ("train", "val", "test")}
    assert sum(map(len, parts.values())) == len(ClassificationDataset(release, 3, "all")) == 15
    assert set(parts["train"].paths).isdisjoint(parts["test"].paths)
    image, label = parts["train"][0]
    assert image.mode == "RGB" and 0 <= label < 3
    assert parts["test"].classes == ["Calcite", "Pyrite", "Quartz"] and parts["test"].ru_classes[0] == "Кальцит"
    with pytest.raises(ValueError, match="split must be"):
        ClassificationDataset(release, 3, "training")


def test_transform_and_dataloader_workers(release):
    def to_tensor(img):
        return torch.from_numpy(np.asarray(img.resize((32, 32)))).permute(2, 0, 1)

    ds = ClassificationDataset(release, 3, "all", transform=to_tensor, max_side=40)
    batches = list(DataLoader(ds, batch_size=8, num_workers=2))
    assert batches[0][0].shape == (8, 3, 32, 32) and batches[0][1].dtype == torch.int64
    assert sum(len(b[1]) for b in batches) == 15


def test_zero_shot_labels_over_all_species(release):
    ds = ZeroShotDataset(release, max_side=32)
    assert len(ds) == 18 and ds.classes == ["Calcite", "Fluorite", "Pyrite", "Quartz"]
    assert sorted(set(ds.labels.tolist())) == [0, 1, 2, 3] and max(ds[0][0].size) == 32


def test_corrupt_photo_names_the_file_through_workers(release):
    ds = ClassificationDataset(release, 3, "all")
    with open(ds.paths[2], "r+b") as fp:
        fp.truncate(100)
    with pytest.raises(ImageError, match=ds.paths[2].split("/")[-1]):
        ds[2]
    with pytest.raises(ImageError, match="truncated"):
        list(DataLoader(ds, batch_size=4, num_workers=1, collate_fn=list))
