"""Run an estimator over photo files: one CSV row per photo, never a crash, optional overlays.

Rows have the columns of `COLUMNS`; `cm_per_px` and `cube_side_px` are in the pixels of the original
file (photos are analysed with the longest side at most `SizeConfig.max_side`); `cube_trusted` says
whether the cube passed the estimator's checks, so that `cm_per_px` holds even where the specimen could
not be sized (cut by the frame, say): an untrusted cube's scale is shown for inspection only.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from minerals.data.images import ImageError, load_image
from minerals.results import atomic_write
from minerals.size import baseline, improved
from minerals.size.cards import find_cards, text_boxes_craft
from minerals.size.overlay import draw_overlay
from minerals.size.result import METHODS, SizeConfig, SizeEstimate

COLUMNS = ["path", "size_cm", "cm_per_px", "cube_side_px", "confidence", "status", "cube_kind", "cube_trusted"]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
MIN_SIDE_PX = 64  # smaller photos cannot show a measurable cube

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Photo:
    """One photo to measure: its file and, from the release, its detector boxes (baseline only)."""

    path: Path
    mineral_boxes: tuple = ()


def expand_inputs(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Files as given, and image files (by suffix, recursively, sorted) inside each given folder.

    Raises FileNotFoundError naming the first input that does not exist.
    """
    out: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            out.extend(sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        elif item.exists():
            out.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return out


def _expand_folders(items: Iterable) -> list:
    """Folders replaced by the image files inside them; everything else kept (a missing file gets its row)."""
    out = []
    for item in items:
        if not isinstance(item, Photo) and Path(item).is_dir():
            out.extend(expand_inputs([item]))
        else:
            out.append(item)
    return out


def measure(rgb: np.ndarray, method: str, cfg: SizeConfig, mineral_boxes: Sequence[dict] = ()) -> SizeEstimate:
    """Estimate one `(H, W, 3)` uint8 photo with `method` (`baseline` or `improved`)."""
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE_PX:
        return SizeEstimate().abstain(f"image too small ({w}x{h} px; at least {MIN_SIDE_PX} px per side)")
    if method == "improved":
        return improved.estimate(rgb, cfg)
    if method == "baseline":
        texts = text_boxes_craft(rgb) if cfg.text_detector == "craft" else [c.box for c in find_cards(rgb)]
        return baseline.estimate(rgb, list(mineral_boxes), texts, paper_faithful=cfg.paper_faithful)
    raise ValueError(f"unknown size method {method!r}; choose from {list(METHODS)}")


def measure_file(photo: Photo, method: str, cfg: SizeConfig) -> tuple[SizeEstimate, np.ndarray | None, float]:
    """`(estimate, analysed RGB array or None, original px per analysed px)`; unreadable files abstain."""
    try:
        rgb = np.asarray(load_image(photo.path, max_side=cfg.max_side))
        with warnings.catch_warnings():  # load_image has already refused decompression bombs
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(photo.path) as header:
                original_side = max(header.size)
    except ImageError as exc:
        return SizeEstimate().abstain(f"unreadable image: {exc}"), None, 1.0
    scale = original_side / max(rgb.shape[:2])
    try:
        est = measure(rgb, method, cfg, photo.mineral_boxes)
    except Exception as exc:  # noqa: BLE001 - one bad photo must not stop a batch; the row says what broke
        log.warning("size estimation failed on %s", photo.path, exc_info=True)
        est = SizeEstimate().abstain(f"estimator error: {type(exc).__name__}: {exc}")
    return est, rgb, scale


def row(path: Path, est: SizeEstimate, scale: float) -> dict:
    """One CSV row; pixel quantities converted to the original file's pixels."""
    return {"path": str(path), "size_cm": round(est.size_cm, 3) if est.ok else None,
            "cm_per_px": float(f"{est.cm_per_px / scale:.5g}") if est.cm_per_px else None,
            "cube_side_px": round(est.cube_side_px * scale, 2) if est.cube_side_px else None,
            "confidence": round(float(est.confidence), 4), "status": est.status,
            "cube_kind": est.cube_kind, "cube_trusted": bool(est.cube_trusted)}


def predict(photos: Iterable[Photo | str | os.PathLike], method: str = "improved", cfg: SizeConfig | None = None,
            overlays: str | os.PathLike | None = None, progress: bool = True) -> pd.DataFrame:
    """Estimate every photo (folders: the photos inside); a DataFrame with `COLUMNS`, one row per photo.

    With `overlays`, writes `<overlays>/<stem>.png` per readable photo (cube, outline, measured extent).
    """
    cfg = cfg or SizeConfig()
    photos = [p if isinstance(p, Photo) else Photo(Path(p)) for p in _expand_folders(photos)]
    out_dir = Path(overlays) if overlays else None
    names: set[str] = set()
    rows = []
    for photo in tqdm(photos, desc=f"size ({method})", unit="img", disable=not progress):
        est, rgb, scale = measure_file(photo, method, cfg)
        rows.append(row(photo.path, est, scale))
        if out_dir is not None and rgb is not None:
            name = _unique_name(photo.path.stem, names)
            with atomic_write(out_dir / f"{name}.png") as tmp:
                Image.fromarray(draw_overlay(rgb, est)).save(tmp, format="PNG")
    return pd.DataFrame(rows, columns=COLUMNS)


def _unique_name(stem: str, taken: set[str]) -> str:
    name, i = stem, 2
    while name in taken:
        name, i = f"{stem}-{i}", i + 1
    taken.add(name)
    return name


def write_predictions(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write predictions as CSV atomically; returns the path."""
    path = Path(path)
    with atomic_write(path) as tmp:
        df.to_csv(tmp, index=False)
    return path
