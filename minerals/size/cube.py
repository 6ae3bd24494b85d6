"""The reference cube's front face: found as a flat square region (the fallback when no "1 cm" bar is
readable), and measured with sub-pixel edges.

Edges (Canny, thresholds set from the photo's own noise, after a grey closing that removes the printed
marks) cut the photo into flat regions. The cube's front face is one of them: nearly colourless, not
paper-white, filling an upright square, usually with the printed "1 cm" and its bar as marks inside and
the brighter top face just above it (the cube is seen slightly from above, so the silhouette, top face
included, is taller than the edge). A face is measured at the peaks of the lightness gradient across
its edges (median over its middle rows or columns, so the printed marks do not count).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from minerals.size import kinds

MAX_CHROMA = 16.0     # Lab units from neutral: metal grey
PAPER_L = 200         # median lightness of paper: brighter regions are cards, not the cube
MIN_FILL = 0.80       # face area (holes filled) / its bounding box
MAX_ASPECT = 1.4      # face bounding box, long / short
MAX_SHARE = 0.05      # of the image area: larger regions are not the cube's face
MIN_SIDE = 8          # px: smaller regions are noise (the estimator abstains below min_cube_px anyway)
MARK_STEP = 30        # lightness (0-255) from the face's median at which a pixel is a mark (engraved or printed)
STROKE_STEP = 18     # top-hat or black-hat depth (0-255) of a thin stroke: engraved letters, printed text, a ruler
MIN_BRIGHT_MARKS = 0.03  # share of bright marks from which a face is engraved (chosen on the tune styles'
                         # true front faces: engraved >= 0.08 with dark marks <= 0.03, grey and printed 0.00)


@dataclass
class Face:
    """A candidate front face: `box` `(x0, y0, x1, y1)` of its flat region (px), `score` in [0, 1], and,
    once measured, `side_px` (sub-pixel edge, `measure_face`), `width_px`, `height_px` and `edges`
    `(left, top, right, bottom)`; `squareness` = width / height (a face measured wider than tall includes a side face);
    `kind` is the cube kind of `minerals.size.kinds` (its edge length gives the scale): `engraved` for a
    face with bright (engraved) marks (`engraved`), else `grey_1cm`."""

    box: tuple[int, int, int, int]
    score: float
    side_px: float = 0.0
    height_px: float = 0.0
    width_px: float = 0.0
    edges: tuple[float, float, float, float] | None = None
    kind: str = kinds.GREY

    @property
    def squareness(self) -> float:
        return self.width_px / self.height_px if self.height_px > 0 else 0.0


def edge_map(L: np.ndarray) -> np.ndarray:
    """`(H, W)` bool Canny edges of a uint8 lightness image, thresholds scaled to its noise."""
    # A grey closing first removes thin dark marks (the printed "1 cm" and its bar) that would split the face.
    blur = cv2.GaussianBlur(cv2.morphologyEx(L, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)), (0, 0), 0.8)
    gx = cv2.Sobel(blur, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(blur, cv2.CV_32F, 0, 1)
    mag = np.hypot(gx, gy)
    noise = float(np.median(mag)) * 1.5 + 1.0  # most pixels are flat backdrop: the median is noise
    hi = max(24.0, 4.0 * noise)
    return cv2.Canny(blur, hi / 2, hi, L2gradient=True) > 0


def find_faces(lab: np.ndarray, exclude: list) -> list[Face]:
    """Front-face candidates in an OpenCV Lab uint8 photo `(H, W, 3)`, best first.

    `exclude`: boxes `(x0, y0, x1, y1)` (label cards) whose regions are not considered.
    """
    H, W = lab.shape[:2]
    L = lab[..., 0]
    edges = cv2.dilate(edge_map(L).astype(np.uint8), np.ones((2, 2), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats((edges == 0).astype(np.uint8), connectivity=4)
    faces = []
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if min(bw, bh) < MIN_SIDE or bw * bh > MAX_SHARE * H * W or max(bw, bh) > MAX_ASPECT * min(bw, bh):
            continue
        if x == 0 or y == 0 or x + bw >= W or y + bh >= H or _centre_in(x, y, bw, bh, exclude):
            continue
        region = (labels[y:y + bh, x:x + bw] == i).astype(np.uint8)
        cnts, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        filled = np.zeros_like(region)
        cv2.drawContours(filled, cnts, -1, 1, cv2.FILLED)
        fill = filled.sum() / float(bw * bh)
        if fill < MIN_FILL:
            continue
        pix = lab[y:y + bh, x:x + bw][region.astype(bool)].astype(np.float32)
        chroma = float(np.median(np.hypot(pix[:, 1] - 128, pix[:, 2] - 128)))
        face_l = float(np.median(pix[:, 0]))
        if chroma > MAX_CHROMA or face_l > PAPER_L:
            continue
        marks = 1.0 - region.sum() / max(filled.sum(), 1)  # printed "1 cm", bar: holes in the face
        above = L[max(0, y - max(2, bh // 5)):max(0, y - 1), x + bw // 4:x + bw - bw // 4]
        lid = above.size > 0 and float(np.median(above)) > face_l + 8  # a brighter top face above
        aspect = max(bw, bh) / min(bw, bh)
        score = (min(1.0, (fill - MIN_FILL) / 0.15) * (1.0 - 0.5 * (aspect - 1) / (MAX_ASPECT - 1))
                 * (1.0 - 0.5 * chroma / MAX_CHROMA) * (1.0 if 0.01 <= marks <= 0.35 else 0.7) * (1.0 if lid else 0.8))
        box = (int(x), int(y), int(x + bw), int(y + bh))
        faces.append(Face(box, float(score), kind=kinds.ENGRAVED if engraved(L, box) else kinds.GREY))
    return sorted(faces, key=lambda f: -f.score)


def engraved(L: np.ndarray, box) -> bool:
    """Whether the face `box` `(x0, y0, x1, y1)` px of the uint8 lightness `L` carries bright marks on a darker
    face (the black cube's engraved white letters) rather than dark print (the grey and printed cubes): its
    middle (15 % in from each side) has at least `MIN_BRIGHT_MARKS` pixels `MARK_STEP` above its median, and
    more of them than `MARK_STEP` below. One rule for every finder (faces, silhouettes, bars)."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    mx, my = round(0.15 * (x1 - x0)), round(0.15 * (y1 - y0))
    patch = L[max(0, y0 + my):max(0, y1 - my), max(0, x0 + mx):max(0, x1 - mx)].astype(np.float32)
    if patch.size < 9:
        return False
    med = float(np.median(patch))
    bright, dark = float(np.mean(patch > med + MARK_STEP)), float(np.mean(patch < med - MARK_STEP))
    return bright >= MIN_BRIGHT_MARKS and bright > dark


def stroke_share(L: np.ndarray, box) -> float:
    """Share of the middle (15 % in from each side) of the face `box` `(x0, y0, x1, y1)` px of the uint8 lightness
    `L` on thin strokes, bright or dark (white or black top-hat deeper than `STROKE_STEP`, square kernel a fifth of
    the box's shorter side, at least 5 px): the cube's engraved or printed marks; a crystal face has few. 0 for a
    middle under 9 px."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    k = max(5, round(min(x1 - x0, y1 - y0) / 5)) | 1
    H, W = L.shape
    patch = L[max(0, y0 - k):min(H, y1 + k), max(0, x0 - k):min(W, x1 + k)]
    if patch.size == 0:
        return 0.0
    kernel = np.ones((k, k), np.uint8)
    thin = np.maximum(cv2.morphologyEx(patch, cv2.MORPH_TOPHAT, kernel), cv2.morphologyEx(patch, cv2.MORPH_BLACKHAT, kernel))
    mx, my = round(0.15 * (x1 - x0)), round(0.15 * (y1 - y0))
    ox, oy = max(0, x0 - k), max(0, y0 - k)
    middle = thin[max(0, y0 + my) - oy:max(0, y1 - my) - oy, max(0, x0 + mx) - ox:max(0, x1 - mx) - ox]
    return float(np.mean(middle > STROKE_STEP)) if middle.size >= 9 else 0.0


def _centre_in(x, y, bw, bh, boxes) -> bool:
    cx, cy = x + bw / 2, y + bh / 2
    return any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in boxes)


def measure_face(L: np.ndarray, face: Face, predicted: bool = False) -> Face:
    """Sub-pixel edges of a face candidate in the uint8 lightness image `L` it was found in.

    Each edge is the peak of the median lightness gradient across it (parabolic interpolation), searched
    from the flat region's border outwards, or, for a `predicted` box, within 10 % of the edge either
    side of it; height = bottom - top, and the edge `side_px` = min(right - left, height): a face measured
    wider than tall includes a side face seen in perspective (the black cube's is nearly as dark as its front).
    """
    x0, y0, x1, y1 = face.box
    bw, bh = x1 - x0, y1 - y0
    m = max(2, round(0.1 * max(bw, bh))) if predicted else max(3, round(0.12 * max(bw, bh)))
    H, W = L.shape
    g = cv2.GaussianBlur(L, (0, 0), 0.7).astype(np.float32)
    rows = slice(y0 + bh // 5, max(y0 + bh // 5 + 1, y1 - bh // 5))
    cols = slice(x0 + bw // 5, max(x0 + bw // 5 + 1, x1 - bw // 5))
    # Medians over rows (columns) ignore the printed marks, which cross only a few of them.
    across_x = np.median(g[rows, max(0, x0 - m):min(W, x1 + m)], axis=0)
    across_y = np.median(g[max(0, y0 - m):min(H, y1 + m), cols], axis=1)
    ox, oy = max(0, x0 - m), max(0, y0 - m)
    if predicted:
        left = ox + _edge(across_x, x0 - ox - m, 2 * m)
        right = ox + _edge(across_x, x1 - ox - m, 2 * m)
        top = oy + _edge(across_y, y0 - oy - m, 2 * m)
        bottom = oy + _edge(across_y, y1 - oy - m, 2 * m)
    else:
        left = ox + _edge(across_x, x0 - ox, -m)
        right = ox + _edge(across_x, x1 - 1 - ox, m)
        top = oy + _edge(across_y, y0 - oy, -m)
        bottom = oy + _edge(across_y, y1 - 1 - oy, m)
    face.edges = (left, top, right, bottom)
    face.width_px, face.height_px = float(right - left), float(bottom - top)
    face.side_px = min(face.width_px, face.height_px)
    return face


def _edge(profile: np.ndarray, at: int, m: int) -> float:
    """Sub-pixel position of the strongest gradient of `profile` from index `at` outwards by `m` px
    (negative: towards lower indices); the flat region ends at or inside the true edge."""
    d = np.abs(np.gradient(profile))
    lo, hi = (at + m, at + 2) if m < 0 else (at - 1, at + m + 1)
    lo, hi = max(1, lo), min(len(d) - 1, hi)
    k = lo + int(np.argmax(d[lo:hi]))
    if 0 < k < len(d) - 1:
        a, b, c = d[k - 1], d[k], d[k + 1]
        den = a - 2 * b + c
        if den < 0:
            return k + 0.5 * (a - c) / den
    return float(k)
