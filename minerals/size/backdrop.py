"""The backdrop of a museum photo: a smooth colour surface, and what differs from it.

Colours are OpenCV Lab as float32 (L, a, b in 0-255). A smooth (cubic) surface per channel is fitted
robustly, so that gradients, vignetting and uneven light on the backdrop are not taken for objects;
what differs from it (colour, lightness, texture) is an object, except soft-edged shadows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

BORDER = 0.04        # border strip width, fraction of the shorter side
STEP = 8             # px between evaluations of the backdrop surface
NOISE_FLOOR = 2.0    # Lab units: minimum noise level, for clean (synthetic or studio) backdrops
MIN_CONTRAST = 9.0   # Lab units: minimum colour distance of an object from the backdrop
SHADOW_MIN_RATIO = 0.45  # shadows keep at least this share of the backdrop's lightness
SHARP_OUTLINE = 0.6      # share of a region's outline that must be a sharp edge for it to be an object


@dataclass
class Backdrop:
    """`coef`: `(10, 3)` cubic coefficients per Lab channel over normalised (x, y); `sigma`: `(3,)` pixel noise."""

    coef: np.ndarray
    sigma: np.ndarray
    _frames: dict = field(default_factory=dict, repr=False, compare=False)  # whole-frame renders by shape

    def render(self, shape: tuple[int, int], box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """`(h, w, 3)` backdrop colour of `box` = `(x0, y0, x1, y1)` in a copy of the photo of `shape` `(H, W)`.

        The surface is over normalised coordinates, so any resolution of the same photo works.
        """
        H, W = shape
        if box is None and (H, W) in self._frames:
            return self._frames[(H, W)]
        x0, y0, x1, y1 = box or (0, 0, W, H)
        # The surface is smooth: evaluate it on a grid every STEP px and interpolate bilinearly.
        # Nodes at the centres of cells, where cv2.resize's bilinear interpolation expects its samples.
        w, h = x1 - x0, y1 - y0
        gw, gh = max(2, -(-w // STEP)), max(2, -(-h // STEP))
        gx = x0 + (np.arange(gw, dtype=np.float32) + 0.5) * w / gw - 0.5
        gy = y0 + (np.arange(gh, dtype=np.float32) + 0.5) * h / gh - 0.5
        xs, ys = np.meshgrid(gx, gy)
        grid = (_design(xs, ys, (H, W)) @ self.coef).reshape(gh, gw, 3).astype(np.float32)
        out = cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, 3)
        if box is None:
            out.flags.writeable = False
            self._frames[(H, W)] = out
        return out


def _design(xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int], degree: int = 3) -> np.ndarray:
    h, w = shape
    x = xs.ravel() / w - 0.5
    y = ys.ravel() / h - 0.5
    cols = [np.ones_like(x), x, y, x * x, x * y, y * y]
    if degree == 3:
        cols += [x ** 3, x * x * y, x * y * y, y ** 3]
    return np.stack(cols, axis=1)


def fit_backdrop(lab: np.ndarray) -> Backdrop:
    """Fit the backdrop of an `(H, W, 3)` float32 Lab image.

    A quadratic fitted to the frame's border (robustly: objects may touch it) seeds a cubic fitted to
    a grid of cell means over the whole photo, refitted three times without the cells that differ from
    it (objects): backdrops are brighter in the middle than their border predicts (vignetting, lights).
    """
    h, w = lab.shape[:2]
    gh, gw = max(6, min(32, h // 8)), max(6, min(32, w // 8))
    cells = cv2.resize(lab, (gw, gh), interpolation=cv2.INTER_AREA).reshape(-1, 3)
    cy, cx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    cx, cy = (cx + 0.5) * w / gw - 0.5, (cy + 0.5) * h / gh - 0.5
    ring = np.zeros((gh, gw), bool)
    ring[0], ring[-1], ring[:, 0], ring[:, -1] = True, True, True, True
    ring = ring.ravel()
    A2, A3 = _design(cx, cy, (h, w), 2), _design(cx, cy, (h, w), 3)
    coef2 = _robust_fit(A2[ring], cells[ring])
    pred = A2 @ coef2
    coef = np.vstack([coef2, np.zeros((4, 3), np.float32)])
    for _ in range(3):
        resid = np.abs(cells - pred)
        # Spread from the border cells: a specimen may cover most of the photo, never most of its border.
        spread = np.maximum(np.median(resid[ring], axis=0) * 1.4826, 1.0)
        keep = (resid <= np.maximum(3.0 * spread, MIN_CONTRAST)).all(axis=1)
        if keep.sum() < 20:
            break
        coef, *_ = np.linalg.lstsq(A3[keep], cells[keep], rcond=None)
        pred = A3 @ coef
    model = Backdrop(coef=coef.astype(np.float32), sigma=np.zeros(3, np.float32))
    model.sigma = _border_noise(lab, model)
    return model


def _robust_fit(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    keep = np.ones(len(v), bool)
    for _ in range(3):
        coef, *_ = np.linalg.lstsq(A[keep], v[keep], rcond=None)
        resid = np.abs(v - A @ coef)
        mad = np.median(resid[keep], axis=0) * 1.4826 + 1e-3
        new = (resid <= 3.0 * np.maximum(mad, NOISE_FLOOR)).all(axis=1)
        if new.sum() < A.shape[1] + 2:
            break
        keep = new
    return coef


def _border_noise(lab: np.ndarray, model: Backdrop) -> np.ndarray:
    """Pixel noise per channel: robust spread of the residuals in the border strip (at least NOISE_FLOOR)."""
    h, w = lab.shape[:2]
    b = max(2, round(BORDER * min(h, w)))
    diff = lab - model.render((h, w))
    resid = np.concatenate([diff[:b].reshape(-1, 3), diff[-b:].reshape(-1, 3), diff[b:-b, :b].reshape(-1, 3),
                            diff[b:-b, -b:].reshape(-1, 3)])
    mad = np.median(np.abs(resid - np.median(resid, axis=0)), axis=0) * 1.4826
    return np.maximum(mad, NOISE_FLOOR).astype(np.float32)


def foreground(lab: np.ndarray, model: Backdrop) -> tuple[np.ndarray, np.ndarray]:
    """`(objects, plain)`, `(H, W)` bool each: pixels that differ from the backdrop, shadows (darker, same hue,
    smooth) excluded unless sharply outlined; and the object pixels that differ from it in lightness only, as
    smooth as it (a grey cube's face, or the backdrop itself where its fitted surface misses a sweep's bend)."""
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
    # Texture = local mean of the high-pass residual, which is ~0 on smooth ramps such as penumbras.
    L = lab[..., 0]
    texture = cv2.blur(np.abs(L - cv2.GaussianBlur(L, (0, 0), 1.5)), (5, 5))
    smooth = texture < 3.0 * float(np.median(texture)) + 1.0  # most of a photo is smooth backdrop
    shadowish = darker & ~coloured & smooth & (L > SHADOW_MIN_RATIO * bg[..., 0])
    objects = coloured | brighter | (darker & ~shadowish)
    objects |= _sharp_regions(shadowish, objects, L, thr_l)
    return objects, objects & ~coloured & smooth


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


def brightest(L: np.ndarray, q: float = 99.5) -> float:
    """The `q`-th percentile of a uint8 lightness image `L` (numpy's linear rule, the same value as
    `np.percentile`), from its histogram: a photo's brightest paper or highlight, which dim light lowers
    (`cards`, `scalebar`); several times faster than sorting a 1024-px photo."""
    counts = np.cumsum(np.bincount(L.ravel(), minlength=256))
    pos = q / 100.0 * (counts[-1] - 1)
    lo = int(np.floor(pos))
    a, b = (float(np.searchsorted(counts, k, side="right")) for k in (lo, min(lo + 1, counts[-1] - 1)))
    t = pos - lo  # numpy's interpolation, written the way it rounds
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t
