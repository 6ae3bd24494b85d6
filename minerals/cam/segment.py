"""Segment photos with a CAM: photos in, one mask PNG and one overlay PNG per photo out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from minerals.cam import DEFAULT_METHOD, DEFAULT_THRESHOLD
from minerals.cam.methods import compute_cams
from minerals.models.registry import LoadedModel
from minerals.cam.mask import MaskRule, cam_to_mask, overlay
from minerals.results import atomic_write


def segment_files(paths: Sequence[str | os.PathLike], backbone: LoadedModel, out: str | os.PathLike,
                  method: str = DEFAULT_METHOD, rule: str = DEFAULT_THRESHOLD, device: str = "cpu", max_side: int = 1024,
                  batch_size: int = 16, layer: str | None = None) -> list[dict]:
    """Write `<stem>_mask.png` (0/255) and `<stem>_overlay.png` under `out` for each photo.

    Photos are decoded with the longer side at most `max_side` px; masks have that size. Returns one
    dict per photo, in input order: `image`, `status` (`ok`), `mask`, `overlay` (paths) and `area_fraction`;
    for a file that cannot be decoded (missing, truncated, not an image, a decompression bomb) only
    `image` and `status` = "unreadable image: <the ImageError naming the file>". The batch goes on.
    """
    from tqdm.auto import tqdm

    from minerals.data import ImageError, load_image

    rule = MaskRule.parse(rule)
    paths = [Path(p) for p in paths]
    stems = [p.stem for p in paths]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise ValueError(f"several photos are named {clash[0]!r}: their outputs would overwrite each other; "
                         "segment them into separate --out folders")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[Path, dict] = {}
    for start in tqdm(range(0, len(paths), batch_size), desc="segment", unit="batch", disable=len(paths) <= batch_size):
        chunk, images = [], []
        for path in paths[start:start + batch_size]:
            try:
                images.append(np.asarray(load_image(path, max_side=max_side)))
                chunk.append(path)
            except ImageError as exc:
                results[path] = {"image": str(path), "status": f"unreadable image: {exc}"}
        if not images:
            continue
        cams = compute_cams(backbone.model, images, method, resolution=backbone.resolution, mean=backbone.mean,
                            std=backbone.std, targets=backbone.targets(len(images)), device=device, layer=layer,
                            batch_size=batch_size, progress=False)
        for path, image, cam in zip(chunk, images, cams):
            mask = cam_to_mask(cam, rule, image.shape[:2], image)
            files = {"mask": out / f"{path.stem}_mask.png", "overlay": out / f"{path.stem}_overlay.png"}
            _write_png(files["mask"], np.uint8(mask) * 255)
            _write_png(files["overlay"], overlay(image, cam, mask))
            results[path] = {"image": str(path), "status": "ok", **{k: str(v) for k, v in files.items()},
                             "area_fraction": float(mask.mean())}
    return [results[p] for p in paths]


def _write_png(path: Path, array: np.ndarray) -> None:
    with atomic_write(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
