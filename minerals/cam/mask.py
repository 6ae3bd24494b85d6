"""CAM -> binary mask: a threshold rule, optional GrabCut refinement seeded by the CAM, clean-up.

A rule is written as a short string, which is also its name in the `segmentation` table:

    otsu            pixels above Otsu's threshold of the CAM
    pct80           pixels above the 80th percentile (the top 20 %)
    frac0.15        pixels at or above 0.15 x the CAM's maximum (the Grad-CAM paper's 15 %)
    ...+grabcut     then GrabCut on the photo, seeded by the CAM (sure background below 0.05 x max,
                    sure foreground at 0.8 x max and above, the thresholded mask as "probable")
    ...+lcc         then keep the largest 8-connected component
    ...+fill        then fill holes

Steps apply in that order (threshold, grabcut, lcc, fill) whatever order the suffixes are written in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import binary_fill_holes
from skimage.filters import threshold_otsu

from minerals.data.images import shrink

_RULE = re.compile(r"^(otsu|pct(\d+(?:\.\d+)?)|frac(\d*\.?\d+))((?:\+(?:grabcut|lcc|fill))*)$")
GRABCUT_SIDE = 256  # GrabCut runs with the longer side at most this many pixels
GRABCUT_ITERS = 4
SURE_BACKGROUND, SURE_FOREGROUND = 0.05, 0.8  # fractions of the CAM maximum


@dataclass(frozen=True)
class MaskRule:
    """How a CAM becomes a mask: `kind` otsu / percentile / fraction with `value`, then the options."""

    kind: str
    value: float | None = None
    grabcut: bool = False
    largest: bool = False
    fill: bool = False

    @classmethod
    def parse(cls, text: str) -> "MaskRule":
        """A rule from its name (`otsu`, `pct80`, `frac0.15+lcc+fill`, ...); ValueError says the syntax."""
        match = _RULE.match(text.strip().lower())
        if not match:
            raise ValueError(f"unknown mask rule {text!r}: write otsu, pct<P> (0-100) or frac<F> (0-1), optionally "
                             "followed by +grabcut, +lcc, +fill (e.g. 'frac0.15+lcc')")
        base, pct, frac, options = match.groups()
        opts = set(options.split("+")[1:])
        if pct is not None:
            kind, value = "percentile", float(pct)
            if not 0 <= value < 100:
                raise ValueError(f"mask rule {text!r}: the percentile must be in [0, 100)")
        elif frac is not None:
            kind, value = "fraction", float(frac)
            if not 0 < value <= 1:
                raise ValueError(f"mask rule {text!r}: the fraction must be in (0, 1]")
        else:
            kind, value = "otsu", None
        return cls(kind, value, grabcut="grabcut" in opts, largest="lcc" in opts, fill="fill" in opts)

    @property
    def name(self) -> str:
        base = "otsu" if self.kind == "otsu" else f"{'pct' if self.kind == 'percentile' else 'frac'}{self.value:g}"
        return base + "".join(f"+{o}" for o, on in (("grabcut", self.grabcut), ("lcc", self.largest),
                                                     ("fill", self.fill)) if on)

    def binarize(self, cam: np.ndarray) -> np.ndarray:
        """The thresholded CAM: above Otsu's threshold or the percentile, or at least the fraction of the max."""
        if self.kind == "fraction":
            return cam >= self.value * cam.max()
        if self.kind == "percentile":
            return cam > np.percentile(cam, self.value)
        return cam > threshold_otsu(cam) if cam.max() > cam.min() else np.zeros(cam.shape, bool)


def resize_cam(cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A `(h, w)` float CAM resized (bilinear) to `shape` = `(H, W)`."""
    cam = np.asarray(cam, dtype=np.float32)
    if cam.shape == tuple(shape):
        return cam
    return cv2.resize(cam, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a boolean mask (all False stays all False)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def grabcut_refine(image: np.ndarray, cam: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """GrabCut on the RGB uint8 `image` seeded by `cam` and the thresholded `mask` (all `(H, W)`).

    Runs at most `GRABCUT_SIDE` pixels on the longer side and returns a mask of the input size. A mask
    that is all foreground or all background is returned unchanged (GrabCut needs both).
    """
    if mask.all() or not mask.any():
        return mask
    height, width = mask.shape
    small_image, _ = shrink(np.ascontiguousarray(image[..., ::-1]), GRABCUT_SIDE)
    small_cam, _ = shrink(cam, GRABCUT_SIDE)
    small_mask = shrink(mask.astype(np.uint8), GRABCUT_SIDE, cv2.INTER_NEAREST)[0].astype(bool)
    seeds = np.where(small_mask, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    peak = float(small_cam.max())
    seeds[small_cam <= SURE_BACKGROUND * peak] = cv2.GC_BGD
    seeds[small_cam >= SURE_FOREGROUND * peak] = cv2.GC_FGD
    if not np.isin(seeds, (cv2.GC_BGD, cv2.GC_PR_BGD)).any() or not np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).any():
        return mask
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means start draws from OpenCV's global RNG: same input, same mask
    cv2.grabCut(small_image, seeds, None, background, foreground, GRABCUT_ITERS, cv2.GC_INIT_WITH_MASK)
    refined = np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    return cv2.resize(refined, (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)


def cam_to_mask(cam: np.ndarray, rule: MaskRule | str, shape: tuple[int, int] | None = None,
                image: np.ndarray | None = None) -> np.ndarray:
    """Boolean `(H, W)` mask of a CAM under `rule`, at `shape` (default: the CAM's own).

    `image` (RGB uint8 `(H, W, 3)`, the photo at `shape`) is needed only for `+grabcut` rules.
    """
    rule = MaskRule.parse(rule) if isinstance(rule, str) else rule
    cam = resize_cam(cam, shape or cam.shape)
    mask = rule.binarize(cam)
    if rule.grabcut:
        if image is None or image.shape[:2] != cam.shape:
            got = "no image" if image is None else f"an image of shape {image.shape[:2]}"
            raise ValueError(f"mask rule {rule.name!r} needs the RGB photo at {cam.shape}, got {got}")
        mask = grabcut_refine(image, cam, mask)
    if rule.largest:
        mask = largest_component(mask)
    if rule.fill:
        mask = binary_fill_holes(mask)
    return mask


def overlay(image: np.ndarray, cam: np.ndarray | None = None, mask: np.ndarray | None = None,
            alpha: float = 0.45) -> np.ndarray:
    """RGB uint8 `(H, W, 3)` picture: the photo with the CAM as a jet heat map and the mask outlined."""
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    height, width = out.shape[:2]
    if cam is not None:
        heat = cv2.applyColorMap(np.uint8(255 * np.clip(resize_cam(cam, (height, width)), 0, 1)), cv2.COLORMAP_JET)
        out = cv2.addWeighted(out, 1 - alpha, heat[..., ::-1], alpha, 0)
    if mask is not None:
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), max(1, round(max(height, width) / 300)))
    return out
