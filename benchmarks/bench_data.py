"""Data-layer throughput: decoding 1024-px JPEGs to 224 px, the DataLoader with 2 workers, and `verify`.

Writes a small release of photo-like 1024x768 JPEGs (smooth backdrop, a textured blob, sensor noise,
quality 90) to a temporary folder and prints medians of `--repeats` runs:

- `load_image(path, 224)` (draft mode) against the naive reference `Image.open().convert("RGB").resize()`;
- `ClassificationDataset` at 224 px through a DataLoader with 2 workers, against the target 150 images/s;
- `verify`'s decode rate with 2 worker processes;
- `open_release` and `subset(360)` on a table the size of the real one (44,784 rows; no photos).

Run: `OMP_NUM_THREADS=1 python benchmarks/bench_data.py [--photos 240] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader

from minerals.data import ClassificationDataset, load_image, open_release
from minerals.data.verify import verify

TARGET_LOADER = 150.0  # images/s at 224 px with 2 workers (issue 3)


def write_release(root: Path, photos: int, classes: int = 10, seed: int = 0) -> Path:
    """A release of `photos` 1024x768 JPEGs in `classes` species, with minerals_full.csv and minerals_10.csv."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:768, 0:1024].astype(np.float32)
    rows = []
    for i in range(photos):
        backdrop = 150 + 40 * (yy / 768) + rng.normal(0, 6, (768, 1024)).astype(np.float32)
        cx, cy, r = rng.uniform(300, 700), rng.uniform(250, 500), rng.uniform(120, 220)
        blob = ((xx - cx) ** 2 + (yy - cy) ** 2) < r ** 2
        texture = 60 * np.sin(xx / rng.uniform(3, 12)) * np.cos(yy / rng.uniform(3, 12))
        img = np.repeat(backdrop[..., None], 3, axis=2)
        img[blob] = (np.array(rng.uniform(40, 200, 3), np.float32) + texture[blob][:, None])
        rel = f"1_syst/1_{i}/IMG_{i:04d}.jpg"
        (root / "mineral_images" / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / "mineral_images" / rel, quality=90)
        rows.append({"id": i, "path": rel, "en_name": f"species_{i % classes:02d}", "ru_name": ""})
    full = pd.DataFrame(rows)
    full.to_csv(root / "minerals_full.csv", index=False)
    full[["id", "path"]].to_csv(root / "minerals_10.csv", index=False)
    return root


def write_table_only(root: Path, rows: int = 44784, species: int = 5139, seed: int = 0) -> Path:
    """minerals_full.csv and minerals_360.csv of the real release's size (photos absent: paths are not opened)."""
    rng = np.random.default_rng(seed)
    names = [f"species_{i:04d}" for i in rng.zipf(1.3, rows) % species]
    box = '[{"label": "a stone", "confidence": 0.31, "box": [0.21, 0.18, 0.66, 0.71]}]'
    full = pd.DataFrame({"id": np.arange(rows), "path": [f"1_syst/1_{i}/IMG_{i:05d}.jpg" for i in range(rows)],
                         "en_name": names, "ru_name": "", "height": 768, "width": 1024, "description": "",
                         "mineral_boxes": box})
    (root / "mineral_images").mkdir(parents=True, exist_ok=True)
    full.to_csv(root / "minerals_full.csv", index=False)
    top = full["en_name"].value_counts().index[:360]
    full[full["en_name"].isin(top)][["id", "path"]].to_csv(root / "minerals_360.csv", index=False)
    return root


def rate(fn, count: int, repeats: int) -> tuple[float, float]:
    """Median items per wall second and per CPU second (this process and its finished children) of `fn()`.

    The CPU rate does not drop when other programs share the machine; 2 x the CPU rate bounds what
    2 dedicated cores would reach.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(_cpu_seconds() - cpu_start)
    return count / statistics.median(wall), count / statistics.median(cpu)


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def to_tensor_224(img: Image.Image) -> torch.Tensor:
    """Resize the short side to 224, centre-crop 224x224, to a float tensor (3, 224, 224)."""
    scale = 224 / min(img.size)
    img = img.resize((max(224, round(img.width * scale)), max(224, round(img.height * scale))), Image.BILINEAR)
    left, top = (img.width - 224) // 2, (img.height - 224) // 2
    arr = np.asarray(img.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=240)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = write_release(Path(tmp), args.photos)
        release = open_release(root)
        paths = list(release.full["path"])
        sample = paths[: min(80, len(paths))]

        size_kb = statistics.median(Path(p).stat().st_size for p in paths) / 1024
        print(f"{len(paths)} photos 1024x768, median {size_kb:.0f} KiB; rates are medians of {args.repeats} runs, "
              "per wall second and per CPU second")
        naive = rate(lambda: [Image.open(p).convert("RGB").resize((224, 168)) for p in sample], len(sample),
                     args.repeats)
        draft = rate(lambda: [load_image(p, 224) for p in sample], len(sample), args.repeats)
        print(f"decode -> 224 px, one process: load_image {draft[0]:.0f}/s ({draft[1]:.0f}/CPU-s), naive PIL "
              f"{naive[0]:.0f}/s ({naive[1]:.0f}/CPU-s); ratio {draft[1] / naive[1]:.2f}x per CPU-s")

        ds = ClassificationDataset(release, 10, "all", transform=to_tensor_224, max_side=256)

        def epoch():
            for _ in DataLoader(ds, batch_size=32, num_workers=2, persistent_workers=False):
                pass

        loader = rate(epoch, len(ds), args.repeats)
        print(f"DataLoader, 2 workers, 224 px tensors: {loader[0]:.0f} images/s ({loader[1]:.0f}/CPU-s, so about "
              f"{2 * loader[1]:.0f}/s on 2 free cores) vs target {TARGET_LOADER:.0f}: ratio "
              f"{loader[0] / TARGET_LOADER:.2f}x measured, {2 * loader[1] / TARGET_LOADER:.2f}x on free cores "
              "(worker start-up included)")

        ver = rate(lambda: verify(root, workers=2, progress=False), len(paths), args.repeats)
        print(f"verify, 2 processes (draft decode of every photo, counts, paper table): {ver[0]:.0f} photos/s "
              f"({ver[1]:.0f}/CPU-s)")

    with tempfile.TemporaryDirectory() as tmp:
        root = write_table_only(Path(tmp))
        opened = rate(lambda: open_release(root).subset(360), 1, args.repeats)
        print(f"open_release + subset(360) on 44,784 rows: {1 / opened[0]:.2f} s wall ({1 / opened[1]:.2f} CPU-s)")


if __name__ == "__main__":
    main()
