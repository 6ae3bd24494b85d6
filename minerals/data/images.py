"""Image decoding: any file of the release to an RGB `PIL.Image`, fast and with errors that name the file.

JPEGs are decoded in draft mode (libjpeg's DCT scaling) when a smaller size is asked for, EXIF
orientation is applied, every mode (L, LA, P, RGBA, CMYK, I;16, I, F) becomes 8-bit RGB, and
decompression bombs are refused.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Transparent pixels are composited onto this colour (white, like a paper backdrop).
ALPHA_BACKGROUND = (255, 255, 255)


class ImageError(ValueError):
    """An image or mask file that cannot be used: missing, empty, truncated, not an image, too large."""


def load_image(path: str | os.PathLike, max_side: int | None = None) -> Image.Image:
    """Decode `path` to an RGB image, EXIF-oriented; longest side at most `max_side` px when given.

    Raises ImageError naming the file when it is missing, empty, truncated, not an image or a
    decompression bomb (more than `PIL.Image.MAX_IMAGE_PIXELS` pixels).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fp:
            return decode_image(fp, str(path), max_side)
    except FileNotFoundError as exc:
        raise ImageError(f"{path}: file not found") from exc
    except IsADirectoryError as exc:
        raise ImageError(f"{path}: is a folder, not an image file") from exc


def decode_image(fp: BinaryIO | bytes, name: str, max_side: int | None = None) -> Image.Image:
    """Decode an open binary file (or bytes) to RGB like `load_image`; `name` is used in errors."""
    if isinstance(fp, (bytes, bytearray)):
        fp = io.BytesIO(fp)
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels, got {max_side}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fp)
            if max_side and img.format == "JPEG":
                img.draft("RGB", _draft_request(img.size, max_side))
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name}: refused as a possible decompression bomb ({exc}); raise "
                         "PIL.Image.MAX_IMAGE_PIXELS if the file is trusted") from exc
    except UnidentifiedImageError as exc:
        empty = " (empty file)" if _is_empty(fp) else ""
        raise ImageError(f"{name}: not a readable image{empty}; replace the file or drop its row") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # truncated data, broken headers
        raise ImageError(f"{name}: corrupt or truncated image ({exc}); replace the file or drop its row") from exc
    img = ImageOps.exif_transpose(img)
    img = to_rgb(img)
    if max_side and max(img.size) > max_side:
        scale = max_side / max(img.size)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return img


def shrink(rgb: np.ndarray, side: int, interpolation: int | None = None) -> tuple[np.ndarray, float]:
    """`(H, W[, C])` array resized so that its longer side is at most `side` px, and the scale (<= 1).

    Never enlarges (scale 1 returns `rgb` itself); area averaging by default (cv2 `INTER_AREA`).
    """
    h, w = rgb.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale >= 1.0:
        return rgb, 1.0
    import cv2

    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if interpolation is None else interpolation), scale


def _draft_request(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The draft size whose longest side is `max_side`: libjpeg keeps both sides at least this large."""
    w, h = size
    scale = max_side / max(w, h)
    return max(1, int(w * scale)), max(1, int(h * scale))


def _is_empty(fp: BinaryIO) -> bool:
    try:
        fp.seek(0, io.SEEK_END)
        return fp.tell() == 0
    except (OSError, ValueError):
        return False


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: high-bit-depth grey is rescaled, transparency composited on white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def load_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A segmentation mask as a bool array `(H, W)`: True where the (noisy JPEG) mask is >= 128.

    `shape` is the `(H, W)` of the matching photo; a mask of another size raises ImageError.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img = ImageOps.exif_transpose(img)
                grey = np.asarray(to_rgb(img).convert("L"))
    except FileNotFoundError as exc:
        raise ImageError(f"{path}: mask file not found") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{path}: mask refused as a possible decompression bomb ({exc})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: corrupt or unreadable mask ({exc}); replace the file") from exc
    if shape is not None and tuple(grey.shape) != tuple(shape):
        raise ImageError(f"{path}: mask is {grey.shape[1]}x{grey.shape[0]} px but its photo is "
                         f"{shape[1]}x{shape[0]} px; masks must match their photo")
    return grey >= 128
