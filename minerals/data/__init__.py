"""The MineralImage5k data: the release on disk, image decoding, splits and PyTorch datasets.

`open_release(root)` is the entry point; see CONTRIBUTING.md for the contract. The datasets (which
import torch) load on first use, so that `minerals data ...` starts quickly.
"""

from minerals.data.images import ImageError, load_image, load_mask
from minerals.data.layout import LayoutError, Release, open_release

_DATASETS = ("ClassificationDataset", "ZeroShotDataset", "Photos")

__all__ = ["open_release", "Release", "LayoutError", "ImageError", "load_image", "load_mask", *_DATASETS]


def __getattr__(name: str):
    if name in _DATASETS:
        from minerals.data import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module 'minerals.data' has no attribute {name!r}")
