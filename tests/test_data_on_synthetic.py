"""The loaders on the synthetic generator's release (the shared `tiny_release` fixture of conftest)."""

from __future__ import annotations

import numpy as np

from minerals.data import ClassificationDataset, ZeroShotDataset, load_image, load_mask
from minerals.data.verify import verify


def test_layout_detected(tiny_release):
    report = tiny_release.report
    assert report["synthetic"] and report["problems"] == []
    assert report["files"]["full"] == "minerals_full.csv"
    assert report["path_base"]["minerals_full.csv"] == "mineral_images"
    assert tiny_release.available_subsets() == [10]
    boxes = tiny_release.full["mineral_boxes"]
    assert boxes.map(len).gt(0).mean() > 0.8  # like OWL-ViT, the detector misses a few photos
    coords = np.array([b["box"] for row in boxes for b in row])
    assert coords.shape[1] == 4 and coords.min() >= 0 and coords.max() <= 1


def test_datasets_on_synthetic(tiny_release):
    train = ClassificationDataset(tiny_release, 10, "train", max_side=64)
    test = ClassificationDataset(tiny_release, 10, "test")
    assert len(train) and len(test) and set(test.labels) == set(range(len(test.classes)))
    assert max(train[0][0].size) == 64
    zs = ZeroShotDataset(tiny_release)
    assert len(zs) == len(tiny_release.full) and len(zs.classes) == tiny_release.full["en_name"].nunique()
    assert (tiny_release.size_table()["size_cm"] > 0).all()
    image_path, mask_path = tiny_release.segmentation()[0]
    image = load_image(image_path)
    mask = load_mask(mask_path, (image.height, image.width))
    assert mask.shape == (image.height, image.width) and 0.02 < mask.mean() < 0.9


def test_size_column_agrees_with_truth(tiny_release):
    size = tiny_release.size_table()
    assert np.allclose(size["size_cm"], size["true_size_cm"], atol=0.051)


def test_verify_synthetic_clean(tiny_release_root):
    report = verify(tiny_release_root, workers=1, progress=False)
    assert report["problems"] == [] and report["images"] > 0 and report["subsets"]["10"]["classes"] == 6
