"""The upstream size estimator (ai-forever/mineral-recognition), written fresh without its defects.

Cube: grey -> adaptive mean threshold (block 127, C 40) -> open 11x11 / close 9x9 ellipse -> contours;
a candidate has perimeter 150-350 px, perimeter^2/area <= 17, a bounding box 50-100 px on both sides,
at most 4 contours inside its crop, and exactly two pairs of near-parallel Hough lines (within 7 deg).
cm per px = 1.27 / cube box width. Specimen: the widest-area mineral box whose IoU with every text
box is below 0.10; size = cm per px x box width. These pixel windows assume the release's 1024-px
photos, so the image is first resized to a longest side of 1024 px.

Fixed upstream defects: every failure is a status (no bare except), no plotting, Hough angles in
degrees with wrap-around at 180, candidates filtered by all the published tests.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.feature import canny
from skimage.transform import hough_line, hough_line_peaks

from minerals.size.result import CUBE_EDGE_CM, SizeEstimate

REFERENCE_SIDE = 1024  # the release's longest side, for which the pixel windows were chosen
IOU_MAX = 0.10
PARALLEL_DEG = 7.0


def threshold_contours(gray: np.ndarray) -> list[np.ndarray]:
    """Contours of the upstream binarisation of a `(H, W)` uint8 grey image."""
    binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 127, 40)
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11)))
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
    contours, _ = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    return list(contours)


def parallel_pairs(gray_crop: np.ndarray) -> tuple[int, int]:
    """(pairs of near-parallel Hough lines, number of lines) in a grey crop."""
    edges = canny(gray_crop.astype(float) / 255.0, sigma=1)
    h, theta, d = hough_line(edges, theta=np.linspace(-np.pi / 2, np.pi / 2, 360, endpoint=False))
    _, angles, _ = hough_line_peaks(h, theta, d)
    deg = np.sort(np.mod(np.rad2deg(angles), 180.0))
    if len(deg) < 2:
        return 0, len(deg)
    gaps = np.diff(np.append(deg, deg[0] + 180.0))  # circular: 179 deg and 1 deg are parallel
    close = gaps < PARALLEL_DEG
    # Count runs of consecutive close gaps (a run of near-parallel lines is one pair, as upstream).
    runs = int(np.sum(close & ~np.roll(close, 1))) if not close.all() else 1
    return runs, len(deg)


def find_cube(gray: np.ndarray) -> tuple[float, tuple[int, int, int, int]] | None:
    """`(cube width px, (x0, y0, x1, y1))` of the largest contour passing every upstream test, or None."""
    candidates = []
    for c in threshold_contours(gray):
        perimeter = cv2.arcLength(c, True)
        area = cv2.contourArea(c)
        if not 150.0 < perimeter < 350.0 or area <= 0 or perimeter ** 2 / area > 17.0:
            continue
        x, y, w, h = cv2.boundingRect(c)
        if 50 < w < 100 and 50 < h < 100:
            candidates.append((area, x, y, w, h))
    for _, x, y, w, h in sorted(candidates, reverse=True):
        crop = gray[y:y + h, x:x + w]
        if len(threshold_contours(crop)) > 4:
            continue
        pairs, lines = parallel_pairs(crop)
        if pairs == 2 and lines <= 15:
            return float(w), (x, y, x + w, y + h)
    return None


def box_iou(a, b) -> float:
    """IoU of two `(x0, y0, x1, y1)` boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def estimate(rgb: np.ndarray, mineral_boxes: list[dict] | None, text_boxes: list,
             paper_faithful: bool = False) -> SizeEstimate:
    """Upstream estimate for an `(H, W, 3)` uint8 photo.

    `mineral_boxes`: the release's detector hits (`box` normalised to 0-1); `text_boxes`: label-card or
    text boxes `(x0, y0, x1, y1)` in pixels of `rgb`. Pixel quantities are returned in `rgb`'s pixels.
    """
    if not mineral_boxes:
        return SizeEstimate().abstain("no mineral boxes (the baseline needs the release's mineral_boxes; "
                                      "use --method improved for other photos)")
    h, w = rgb.shape[:2]
    scale = REFERENCE_SIDE / max(h, w)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        gray = cv2.resize(gray, (round(w * scale), round(h * scale)),
                          interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    cards = [tuple(map(float, b)) for b in text_boxes]
    boxes = [(b[0] * w, b[1] * h, b[2] * w, b[3] * h) for b in (m["box"] for m in mineral_boxes)]
    kept = [b for b in boxes if all(box_iou(b, t) < IOU_MAX for t in cards)]
    result = SizeEstimate(cards=cards)
    if not kept:
        return result.abstain("every mineral box overlaps a label card")
    specimen = max(kept, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    result.specimen_box = specimen
    result.extent = ((specimen[0], (specimen[1] + specimen[3]) / 2), (specimen[2], (specimen[1] + specimen[3]) / 2))
    cube = find_cube(gray)
    if cube is None:
        return result.abstain("no cube found (no contour passed the upstream tests)")
    width, (x0, y0, x1, y1) = cube
    result.cube_side_px = width / scale
    result.cube_box = (x0 / scale, y0 / scale, x1 / scale, y1 / scale)
    result.cm_per_px = CUBE_EDGE_CM / result.cube_side_px
    result.cube_trusted = True  # upstream takes every cube it finds
    size = result.cm_per_px * (specimen[2] - specimen[0])
    result.size_cm = float(int(size)) if paper_faithful else float(size)
    result.confidence = 1.0  # the upstream method has no notion of confidence
    return result
