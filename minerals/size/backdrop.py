"""The backdrop of a museum photo: a smooth colour surface fitted to the frame's border, and what differs from it.

Colours are OpenCV Lab as float32 (L, a, b in 0-255). A quadratic surface per channel is fitted by
least squares to a strip along the border, refitted without outliers (objects touching the frame),
so that gradients and vignetting of the backdrop are not taken for objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BORDER = 0.04        # border strip width, fraction of the shorter side
NOISE_FLOOR = 2.0    # Lab units: minimum noise level, for clean (synthetic or studio) backdrops
MIN_CONTRAST = 9.0   # Lab units: minimum colour distance of an object from the backdrop
SHADOW_MIN_RATIO = 0.45  # shadows keep at least this share of the backdrop's lightness
SHARP_OUTLINE = 0.6      # share of a region's outline that must be a sharp edge for it to be an object


@dataclass
class Backdrop:
    """`coef`: `(6, 3)` quadratic coefficients per Lab channel over normalised (x, y); `sigma`: `(3,)` noise."""

    coef: np.ndarray
    sigma: np.ndarray

    def render(self, shape: tuple[int, int], box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """`(h, w, 3)` backdrop colour of `box` = `(x0, y0, x1, y1)` in a copy of the photo of `shape` `(H, W)`.

        The surface is over normalised coordinates, so any resolution of the same photo works.
        """
        H, W = shape
        x0, y0, x1, y1 = box or (0, 0, W, H)
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        return (_design(xs, ys, (H, W)) @ self.coef).reshape(y1 - y0, x1 - x0, 3)


def _design(xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    x = xs.ravel() / w - 0.5
    y = ys.ravel() / h - 0.5
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)


def fit_backdrop(lab: np.ndarray) -> Backdrop:
    """Fit the backdrop of an `(H, W, 3)` float32 Lab image from its border strip."""
    h, w = lab.shape[:2]
    b = max(2, round(BORDER * min(h, w)))
    strip = np.zeros((h, w), bool)
    strip[:b], strip[-b:], strip[:, :b], strip[:, -b:] = True, True, True, True
    ys, xs = np.nonzero(strip)
    step = max(1, len(xs) // 4000)
    ys, xs = ys[::step], xs[::step]
    A = _design(xs.astype(np.float32), ys.astype(np.float32), (h, w))
    v = lab[ys, xs]
    keep = np.ones(len(v), bool)
    for _ in range(3):
        coef, *_ = np.linalg.lstsq(A[keep], v[keep], rcond=None)
        resid = np.abs(v - A @ coef)
        mad = np.median(resid[keep], axis=0) * 1.4826 + 1e-3
        keep = (resid <= 3.0 * np.maximum(mad, NOISE_FLOOR)).all(axis=1)
        if keep.sum() < 12:
            break
    return Backdrop(coef=coef.astype(np.float32), sigma=np.maximum(mad, NOISE_FLOOR).astype(np.float32))


def foreground(lab: np.ndarray, model: Backdrop) -> np.ndarray:
    """`(H, W)` bool: pixels that differ from the backdrop, shadows (darker, same hue, smooth) excluded."""
    bg = model.render(lab.shape[:2])
    diff = lab - bg
    sig = model.sigma
    chroma = np.hypot(diff[..., 1], diff[..., 2])
    dL = diff[..., 0]
    thr_c = max(MIN_CONTRAST, 4.0 * float(max(sig[1], sig[2])))
    thr_l = max(MIN_CONTRAST * 1.5, 4.0 * float(sig[0]))
    coloured = chroma > thr_c
    brighter = dL > thr_l
    darker = dL < -thr_l
    # Shadow-like: darker, same hue, as smooth as the backdrop. Such a region is a shadow when its
    # outline is soft; a sharp outline makes it an object (a grey cube on a pale backdrop looks the same inside).
    L = lab[..., 0]
    mean = cv2.blur(L, (5, 5))
    std = np.sqrt(np.maximum(cv2.blur(L * L, (5, 5)) - mean * mean, 0))
    smooth = std < max(3.0 * float(sig[0]), 4.0)
    shadowish = darker & ~coloured & smooth & (L > SHADOW_MIN_RATIO * bg[..., 0])
    objects = coloured | brighter | (darker & ~shadowish)
    return objects | _sharp_regions(shadowish, objects, L, thr_l)


def _sharp_regions(candidate: np.ndarray, objects: np.ndarray, L: np.ndarray, contrast: float) -> np.ndarray:
    """The connected regions of `candidate` whose outline against the backdrop (not against `objects`) is
    mostly a sharp edge (a step of `contrast` within 2 px)."""
    m = candidate.astype(np.uint8)
    n, labels = cv2.connectedComponents(m, connectivity=8)
    if n <= 1:
        return np.zeros_like(candidate)
    ring = (cv2.dilate(m, np.ones((3, 3), np.uint8)) > 0) & ~candidate & ~objects
    grad = cv2.dilate(L, np.ones((5, 5), np.uint8)) - cv2.erode(L, np.ones((5, 5), np.uint8))
    owner = cv2.dilate(labels.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.int32)[ring]
    sharp = np.bincount(owner, weights=(grad[ring] > contrast), minlength=n)
    total = np.bincount(owner, minlength=n)
    keep = np.zeros(n, bool)
    keep[1:] = sharp[1:] >= SHARP_OUTLINE * np.maximum(total[1:], 1)
    return keep[labels]


def clean(mask: np.ndarray, k: int) -> np.ndarray:
    """Open then close with a `k`-px ellipse and fill holes; `(H, W)` bool in, bool out."""
    ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, ker)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, ker)
    cnts, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(m)
    cv2.drawContours(filled, cnts, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)
