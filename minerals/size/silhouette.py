"""The reference cube as a whole object: its silhouette among the objects that differ from the backdrop.

The museum's cubes (black with engraved white "T.", "1 CM", "S."; grey metal printed "1cm" with a
"10mm" ruler; printed "1 cm" bar) are seen in perspective with two or three faces, so their front
face is often not a separate flat region. Their silhouette is: a compact, convex, nearly rectangular
(or hexagonal) colourless object with straight sharp outlines, flat faces and thin marks on the front one,
much smaller than the specimen and a few per cent of the photo wide. `find_silhouettes` scores every such object at work
resolution; the scores are products of soft terms, each in [0, 1], so that one bad cue lowers but does
not veto (the thresholds are module constants, chosen on the synthetic styles and the `tune` half of
`tests/data/real_photos`). The edge is measured on the silhouette's front face (`front_face`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from minerals.size import kinds
from minerals.size.baseline import box_iou
from minerals.size.cube import engraved, stroke_share

MIN_SIDE_FRAC = 0.035   # cube side >= this share of the photo's shorter side ...
MIN_SIDE_PX = 8         # ... and at least this many px
MAX_SIDE_FRAC = 0.40    # ... and at most this share
MAX_ASPECT = 1.7        # silhouette box, long / short (a cube seen from above is taller than wide)
MAX_CHROMA = 22.0       # Lab units from neutral: grey, black and metal cubes
MAX_SPECIMEN_SHARE = 0.6  # a cube's area is at most this share of the largest object's
LINE_PX = 3             # coloured or dark lines thinner than this (overlay boxes, threads) are dropped
FACE_STEP = 32.0        # Sobel response (4 x a lightness step of 8) of the edge between two of the cube's faces
SIDE_SHARE = 0.4        # a side face seen in perspective spans at most this share of the silhouette's width ...
TOP_SHARE = 0.4         # ... and the top face this share of its height
EDGE_RUN = 0.75         # the side face's edge steps by FACE_STEP / 2 along this share of the front face's rows
                        # (chosen on the tune releases' cube silhouettes: >= 0.77 where splitting off a side face
                        # was right, <= 0.72 where marks or shading were split off)
SPLIT_BELOW = 0.12      # objects scoring less are split at their own lightness (`_cores`)
FLAT_LO, FLAT_HI = 0.25, 0.6  # share of flat pixels inside (texture < 5): the flat cue runs from 0 to 1 between
                        # these (chosen on the real photos' tune half: its cubes' share is 0.37-0.70, other objects'
                        # median 0.32; small JPEG thumbnails of marked faces look textured)
MIN_STROKES = 0.05      # share of the front face's middle on thin strokes (`cube.stroke_share`: engraved or printed
                        # marks) from which it is marked; the cubes' are below it in 85 of 4,180 silhouettes on seeds
                        # 404-1616 of the tune styles and in none of the real photos' 21 (their least 0.20), the other
                        # candidates' in 1,468 of 5,380 (crystal faces of the specimen, most of them)
UNMARKED = 0.5          # score factor of an unmarked front face (a first choice, not tuned)
FLAT_FLOOR = 0.25       # `read_score`: the flat cue floored here (small JPEG thumbnails of marked faces look textured)


@dataclass
class Silhouette:
    """A cube candidate: `box` `(x0, y0, x1, y1)`, `front` (its front face, `front_face`) and `side_px`
    (the front face's width: the edge estimate) in work px,
    `score` in [0, 1], median lightness `face_l` (0-255), `marks` (share of bright or dark marks inside),
    `cut` (touches the frame), `kind` (`minerals.size.kinds`: `engraved` when its front face carries bright marks
    (`cube.engraved`), else `grey_1cm`), `cues` (the soft terms, for reasons and tests) and `read_score`: the score with the
    flat cue floored at `FLAT_FLOOR`, which ranks the candidates whose text is worth reading (`minerals.size.ocr`)."""

    box: tuple[int, int, int, int]
    side_px: float
    score: float
    face_l: float
    marks: float
    cut: bool
    kind: str
    cues: dict
    read_score: float = 0.0
    front: tuple[int, int, int, int] | None = None


def _solid_objects(lab: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """`fg` without thin strokes (drawn boxes, threads, text), holes filled: `(h, w)` uint8 0/1.

    Strokes are removed before filling, so that a drawn frame does not fill into a solid block.
    """
    chroma = np.hypot(lab[..., 1].astype(np.float32) - 128, lab[..., 2].astype(np.float32) - 128)
    coloured = (chroma > MAX_CHROMA).astype(np.uint8)
    strokes = coloured & (1 - cv2.morphologyEx(coloured, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)))
    return _opened_filled(fg.astype(np.uint8) & (1 - strokes))


def _opened_filled(mask: np.ndarray) -> np.ndarray:
    """The uint8 0/1 `mask` opened by `LINE_PX` (thin lines dropped), each outer contour filled."""
    m = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (LINE_PX, LINE_PX)))
    cnts, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(m)
    cv2.drawContours(filled, cnts, -1, 1, cv2.FILLED)
    return filled


def _hull_mask(labels: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """`(h, w)` bool: inside the convex hull of the largest object (pieces there belong to the specimen)."""
    big = 1 + int(np.argmax(stats[1:, 4]))
    pts = cv2.findNonZero((labels == big).astype(np.uint8))
    out = np.zeros(labels.shape, np.uint8)
    cv2.fillConvexPoly(out, cv2.convexHull(pts), 1)
    return out.astype(bool)


def find_silhouettes(lab: np.ndarray, fg: np.ndarray) -> list[Silhouette]:
    """Cube candidates, best first, in an OpenCV Lab uint8 photo `(h, w, 3)` with its object mask `fg` `(h, w)` bool.

    An object scoring below `SPLIT_BELOW` (a cube merged with its soft shadow, or with a touching piece) is
    split at its own lightness (`_cores`), and its parts are scored as well (the candidates of both passes
    are returned, an object's parts only where they overlap no candidate of the first pass scoring more).
    """
    objects = _solid_objects(lab, fg)
    first, elongated = _score_objects(lab, objects)
    weak = [c.box for c in first if c.score < SPLIT_BELOW] + elongated
    if not weak:
        return first
    split = _cores(lab[..., 0], objects, weak)
    extra = [c for c in _score_objects(lab, split)[0] if any(_within(c.box, b) for b in weak)
             and not any(box_iou(c.box, f.box) > 0 and f.score >= c.score for f in first)]
    return sorted(first + extra, key=lambda c: -c.score)


def _cores(L: np.ndarray, objects: np.ndarray, boxes: list) -> np.ndarray:
    """`objects` (`(h, w)` uint8 0/1) with the object in each of `boxes` replaced by its part on the other side of
    its Otsu lightness threshold (`L`, float32) from the backdrop just above and below the box: the dark cube
    without its paler soft shadow, or the pale cube without its darker one; opened by `LINE_PX` and filled."""
    out = objects.copy()
    for x0, y0, x1, y1 in boxes:
        region = objects[y0:y1, x0:x1].astype(bool)
        vals = L[y0:y1, x0:x1][region].astype(np.uint8)
        if vals.size < 16 or int(vals.max()) - int(vals.min()) < FACE_STEP:
            continue
        t, _ = cv2.threshold(vals.reshape(-1, 1), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        dark = region & (L[y0:y1, x0:x1] <= t)
        ring = np.r_[L[max(0, y0 - 2), x0:x1], L[min(len(L) - 1, y1 + 1), x0:x1]]
        core = dark if float(np.median(ring)) > t else region & ~dark  # the part unlike the backdrop around it
        out[y0:y1, x0:x1] = np.where(region, _opened_filled(core.astype(np.uint8)), out[y0:y1, x0:x1])
    return out


def _score_objects(lab: np.ndarray, objects: np.ndarray) -> tuple[list[Silhouette], list[tuple]]:
    """Every object of the `(h, w)` uint8 0/1 mask `objects` within the size and aspect limits, scored, best first;
    and the boxes of the objects within the size limits too elongated to be a cube (up to twice `MAX_ASPECT`: a
    cube merged with its shadow)."""
    h, w = objects.shape
    short = min(h, w)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(objects, connectivity=4)
    if n <= 1:
        return [], []
    largest = int(stats[1:, 4].max())
    lo, hi = max(MIN_SIDE_PX, MIN_SIDE_FRAC * short), MAX_SIDE_FRAC * short
    L = lab[..., 0].astype(np.float32)
    texture = np.abs(L - cv2.blur(L, (3, 3)))  # ~0 on flat faces, also next to an engraved stroke's inside
    specimen = _hull_mask(labels, stats)
    grad = cv2.morphologyEx(lab[..., 0], cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(np.float32)
    out, elongated = [], []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if min(bw, bh) < lo or max(bw, bh) > hi or max(bw, bh) > 2 * MAX_ASPECT * min(bw, bh):
            continue
        if max(bw, bh) > MAX_ASPECT * min(bw, bh):
            elongated.append((x, y, x + bw, y + bh))
            continue
        region = labels[y:y + bh, x:x + bw] == i
        cnts, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cnt = max(cnts, key=cv2.contourArea)
        hull = cv2.convexHull(cnt)
        hull_area = max(cv2.contourArea(hull), 1.0)
        solidity = area / hull_area
        rect_area = max(float(np.prod(cv2.minAreaRect(cnt)[1])), 1.0)
        poly = cv2.approxPolyDP(hull, 0.06 * cv2.arcLength(hull, True), True)
        pix = lab[y:y + bh, x:x + bw][region].astype(np.float32)
        chroma = float(np.median(np.hypot(pix[:, 1] - 128, pix[:, 2] - 128)))
        face_l = float(np.median(pix[:, 0]))
        inner = cv2.erode(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        Lr = L[y:y + bh, x:x + bw]
        vals = Lr[inner] if inner.sum() > 8 else Lr[region]
        flat = float(np.mean(texture[y:y + bh, x:x + bw][inner if inner.sum() > 8 else region] < 5.0))
        marks = float(np.mean(np.abs(vals - np.median(vals)) > 40))
        ring = cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~inner
        sharp = float(np.mean(grad[y:y + bh, x:x + bw][ring] > 20)) if ring.any() else 0.0
        cut = x == 0 or y == 0 or x + bw >= w or y + bh >= h
        cues = {
            "solidity": float(np.clip((solidity - 0.75) / 0.2, 0, 1)),
            "rectangular": float(np.clip((area / rect_area - 0.65) / 0.25, 0, 1)),
            "corners": 1.0 if 4 <= len(poly) <= 6 else 0.6,
            "colourless": float(np.clip(1.0 - (chroma - 8.0) / (MAX_CHROMA - 8.0), 0, 1)),
            "flat": float(np.clip((flat - FLAT_LO) / (FLAT_HI - FLAT_LO), 0, 1)),
            "sharp": float(np.clip(sharp / 0.5, 0, 1)),
            "smaller": 1.0 if area <= MAX_SPECIMEN_SHARE * largest or area == largest and n == 2 else 0.3,
            "whole": 0.7 if cut else 1.0,
            "apart": 0.3 if specimen[min(h - 1, y + bh // 2), min(w - 1, x + bw // 2)] and area < largest else 1.0,
        }
        front = front_face(L, (x, y, x + bw, y + bh))
        cues["marked"] = 1.0 if stroke_share(lab[..., 0], front) >= MIN_STROKES else UNMARKED
        rest = float(np.prod([v for k, v in cues.items() if k != "flat"]))
        score, read_score = rest * cues["flat"], rest * max(cues["flat"], FLAT_FLOOR)
        out.append(Silhouette((x, y, x + bw, y + bh), float(front[2] - front[0]), score, face_l, marks, cut,
                              kinds.ENGRAVED if engraved(L, front) else kinds.GREY, cues, read_score, front))
    return sorted(out, key=lambda c: -c.score), elongated


def front_face(L: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The front face `(x0, y0, x1, y1)` within a cube's silhouette `box` in the float32 lightness `L` (px).

    Seen in perspective, the silhouette is the front face plus a side face (left or right) and a top
    face: each meets the front along a straight inner edge, a lightness step between two flat faces.
    The strongest vertical inner edge in the outer `SIDE_SHARE` of the width (median over the lower
    half's rows, which the printed or engraved marks cross only in part) splits off the narrower part as
    the side face, when it steps by `FACE_STEP`; the strongest horizontal inner edge in the top
    `TOP_SHARE` of the height (median over the front's columns) likewise splits off the top face.
    Without such edges the silhouette is the front face. The side face's edge must run down `EDGE_RUN` of
    the front face's rows (engraved letters and a shading gradient step only in part). A thin printed line
    (the "1 cm" bar, a ruler) is not an edge between faces: it steps down and back up within `LINE_PX` + 2 px
    (`_step`).
    """
    x0, y0, x1, y1 = box
    g = cv2.GaussianBlur(L[y0:y1, x0:x1], (0, 0), 0.8)
    h, w = g.shape
    fx0, fx1, fy0 = 0, w, 0
    # Side faces are at most SIDE_SHARE of the width: the middle (the "T" stem, the bar's ticks) is not searched.
    cols = np.r_[max(2, round(0.1 * w)):round(SIDE_SHARE * w), round((1 - SIDE_SHARE) * w):w - max(2, round(0.1 * w))]
    sobel_x = np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3))  # vertical edges: the side face's
    if cols.size:
        across = np.median(sobel_x[h // 2:], axis=0)
        k = _step(across, np.median(g[h // 2:], axis=0), cols)
        if k is not None:
            fx0, fx1 = (0, k) if k >= w - k else (k, w)
    rows = np.r_[max(2, round(0.1 * h)):round(TOP_SHARE * h)]
    if rows.size and fx1 - fx0 > 4:
        front = g[:, fx0 + 2:fx1 - 2]
        k = _step(np.median(np.abs(cv2.Sobel(front, cv2.CV_32F, 0, 1, ksize=3)), axis=1), np.median(front, axis=1), rows)
        if k is not None:
            fy0 = k
    if (fx0, fx1) != (0, w):  # an edge between faces runs down the whole front face; marks and shading do not
        k = fx1 if fx0 == 0 else fx0
        run = sobel_x[fy0:, max(0, k - 1):k + 2].max(axis=1)
        if np.mean(run > FACE_STEP / 2) < EDGE_RUN:
            fx0, fx1 = 0, w
    return x0 + fx0, y0 + fy0, x0 + fx1, y1


def _step(strength: np.ndarray, level: np.ndarray, at: np.ndarray) -> int | None:
    """The index among `at` of the strongest gradient `strength` (median |Sobel| along the profile) when it is
    an edge between two faces: at least `FACE_STEP`, and the lightness `level` 2 px before it and `LINE_PX` + 2 px
    after it differs by a quarter of that (a thin printed line comes back to its face's lightness), else None."""
    k = int(at[int(np.argmax(strength[at]))])
    if strength[k] < FACE_STEP:
        return None
    before, after = level[max(0, k - 2)], level[min(len(level) - 1, k + LINE_PX + 2)]
    return k if abs(float(after) - float(before)) >= FACE_STEP / 4 else None


def _within(a, b) -> bool:
    """Whether box `a` lies within box `b`."""
    return a[0] >= b[0] and a[1] >= b[1] and a[2] <= b[2] and a[3] <= b[3]
