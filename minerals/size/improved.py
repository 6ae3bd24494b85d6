"""The improved size estimator: cube by colour and shape, specimen by segmentation, longest extent in cm.

Steps on an `(H, W, 3)` uint8 photo: fit the backdrop from the frame's border (`backdrop`), find the
objects that differ from it at `SizeConfig.work_side` px, set aside label cards (`cards`) and the
cube (found and measured at full resolution by `cube`), take the largest remaining object (with its
nearby fragments) as the specimen, and report its longest extent (maximum Feret diameter) times
1.27 cm / cube side. It abstains with a reason rather than guess.
"""

from __future__ import annotations

import cv2
import numpy as np

from minerals.size import cube as cubes
from minerals.size.backdrop import clean, fit_backdrop, foreground
from minerals.size.cards import find_cards
from minerals.size.result import CUBE_EDGE_CM, SizeConfig, SizeEstimate

TWO_CUBES_SCORE = 0.6   # a second candidate this good, and nearly as good as the first, means two cubes
MIN_SPECIMEN_SHARE = 0.002  # of the image area


def estimate(rgb: np.ndarray, cfg: SizeConfig) -> SizeEstimate:
    """Estimate the specimen's longest extent in a photo; pixel quantities in `rgb`'s pixels."""
    H, W = rgb.shape[:2]
    s = min(1.0, cfg.work_side / max(H, W))
    small = cv2.resize(rgb, (round(W * s), round(H * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    h, w = small.shape[:2]
    lab_small = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)
    lab = lab_small if s == 1 else cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    cards = [tuple(v / s for v in c.box) for c in find_cards(small)]
    result = SizeEstimate(cards=cards)

    faces = cubes.find_faces(rgb, lab, cards)
    if not faces:
        return result.abstain("no cube found")
    best = cubes.measure_face(lab[..., 0], faces[0])
    result.cube_box = best.edges[0], best.edges[1], best.edges[2], best.edges[3]
    if len(faces) > 1 and faces[1].score >= TWO_CUBES_SCORE and faces[1].score >= 0.8 * best.score \
            and _similar_size(best.box, faces[1].box) and not _overlap(best.box, faces[1].box):
        return result.abstain("two cubes (cannot tell which one is the reference)")
    result.cube_side_px = best.side_px
    result.cm_per_px = CUBE_EDGE_CM / best.side_px
    if best.side_px < cfg.min_cube_px:
        return result.abstain(f"cube too small ({best.side_px:.0f} px < {cfg.min_cube_px:.0f} px)")

    labf = lab_small.astype(np.float32)
    model = fit_backdrop(labf)
    mask = foreground(labf, model)
    zone = _cube_zone(best, s, (h, w))
    mask[zone[1]:zone[3], zone[0]:zone[2]] = False
    for x0, y0, x1, y1 in cards:
        mask[int(y0 * s):int(np.ceil(y1 * s)) + 1, int(x0 * s):int(np.ceil(x1 * s)) + 1] = False
    mask = clean(mask, max(3, round(min(h, w) / 150)) | 1)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    others = [i for i in range(1, n) if stats[i][4] >= MIN_SPECIMEN_SHARE * h * w]
    if not others:
        return result.abstain("no specimen found")
    main = max(others, key=lambda i: stats[i][4])
    specimen = _with_fragments(labels, stats, main, others, gap=max(2, round(0.02 * max(h, w))))
    ys, xs = np.nonzero(specimen)
    result.specimen_box = (xs.min() / s, ys.min() / s, (xs.max() + 1) / s, (ys.max() + 1) / s)
    cnts, _ = cv2.findContours(specimen.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    result.outline = max(cnts, key=cv2.contourArea)[:, 0, :].astype(float) / s
    if xs.min() <= 0 or ys.min() <= 0 or xs.max() >= w - 1 or ys.max() >= h - 1:
        return result.abstain("specimen cut by the frame")
    length_px, ends = feret(np.stack([xs, ys], axis=1))
    result.extent = tuple((float(x) / s, float(y) / s) for x, y in ends)
    result.size_cm = (length_px + 1.0) / s * result.cm_per_px  # +1 px: extents run edge to edge, not centre to centre
    result.confidence = _confidence(best, cfg)
    return result


def _cube_zone(face: cubes.Face, s: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Work-resolution box around the cube: front face, top and side faces, contact shadow."""
    left, top, right, bottom = face.edges
    c = face.side_px
    x0, x1 = (left - 0.4 * c) * s, (right + 0.4 * c) * s
    y0, y1 = (top - 0.5 * c) * s, (bottom + 0.15 * c) * s
    h, w = shape
    return max(0, int(x0)), max(0, int(y0)), min(w, int(np.ceil(x1)) + 1), min(h, int(np.ceil(y1)) + 1)


def feret(points: np.ndarray) -> tuple[float, np.ndarray]:
    """Maximum Feret diameter of `(N, 2)` points: `(length px, (2, 2) end points)`."""
    hull = cv2.convexHull(points.astype(np.int32))[:, 0, :].astype(float)
    d = np.linalg.norm(hull[:, None, :] - hull[None, :, :], axis=-1)
    i, j = np.unravel_index(int(np.argmax(d)), d.shape)
    return float(d[i, j]), hull[[i, j]]


def _similar_size(a, b) -> bool:
    ra = (a[2] - a[0]) * (a[3] - a[1])
    rb = (b[2] - b[0]) * (b[3] - b[1])
    return 0.5 <= ra / max(rb, 1) <= 2.0


def _overlap(a, b) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def _with_fragments(labels: np.ndarray, stats: np.ndarray, main: int, others: list[int], gap: int) -> np.ndarray:
    """The main region plus other candidate regions within `gap` px of it (pieces of one specimen)."""
    region = labels == main
    near = cv2.dilate(region.astype(np.uint8), np.ones((2 * gap + 1, 2 * gap + 1), np.uint8)).astype(bool)
    for i in set(np.unique(labels[near])) & set(others):
        if i != main and stats[i][4] >= 0.02 * stats[main][4]:
            region |= labels == i
    return region


def _confidence(face: cubes.Face, cfg: SizeConfig) -> float:
    """In [0, 1]: how face-like the cube's face is, how square, how many pixels it spans."""
    square = max(0.0, 1.0 - abs(face.squareness - 1.0) / 0.5)
    pixels = min(1.0, face.side_px / (2.0 * cfg.min_cube_px))
    return float(np.clip(face.score * square * (0.5 + 0.5 * pixels), 0.0, 1.0))
