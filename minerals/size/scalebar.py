"""The "1 cm" bar printed on the reference cube's front face: where the cube is, and a scale of its own.

The bar is a thin dark horizontal line, exactly 1 cm long between its two short end ticks, on the
cube's uniform grey front face, a third of the way down, with the "1 cm" text below it; the grey metal
cube's 10 mm ruler is one too, 70 % of the way down with "1cm" above it (`RULER_ROW`). It is found
in the photo's dark thin strokes (black-hat transform) as a horizontal run on a grey, non-paper
surface; its length is measured between the end ticks (centroids of the ink above and below the
line) or, when the ticks are too small to see, between the half-maximum ends of the line.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from minerals.size.backdrop import brightest
from minerals.size.cards import holds
from minerals.size.cube import engraved

FACE_PER_BAR = 1.27   # cube edge / bar length (the bar is 1 cm, the edge 1.27 cm)
BAR_ROW = 0.36        # the bar's height on the face, fraction of the edge from the top (text below it)
RULER_ROW = 0.70      # the grey cube's 10 mm ruler, "1cm" above it
EDGE_BAR_RATIO = (1.1, 1.5)  # a face's lower edge over the bar printed on it (FACE_PER_BAR, with blur and shadow)
MIN_BAR_PX = 10      # px: shorter dark runs are texture (the smallest tune-half real cube, 16 px, has a 12.6 px bar)
MAX_CHROMA = 16.0
PAPER_L = 200
INK_STEP = 18.0       # black-hat depth (0-255) of the print in a well-lit photo ...
BRIGHT_REF = 230.0    # ... whose 99.5th-percentile lightness is this or more; dimmer photos scale it down


@dataclass
class Bar:
    """A scale bar: `length_px` between its ticks, `centre` `(x, y)` px, `score` in [0, 1], `ticks` seen,
    `row`: its height on the face, fraction of the edge from the top (`BAR_ROW`, or `RULER_ROW` for the
    grey cube's ruler)."""

    length_px: float
    centre: tuple[float, float]
    score: float
    ticks: bool
    row: float = BAR_ROW

    def face_box(self) -> tuple[float, float, float, float]:
        """The front face `(x0, y0, x1, y1)` predicted from the bar's place and length."""
        c = FACE_PER_BAR * self.length_px
        x, y = self.centre
        return x - c / 2, y - self.row * c, x + c / 2, y + (1 - self.row) * c


def ink_map(L: np.ndarray) -> np.ndarray:
    """`(H, W)` float32 darkness of thin strokes (black-hat of the uint8 lightness, 7x7)."""
    return cv2.morphologyEx(L, cv2.MORPH_BLACKHAT, np.ones((7, 7), np.uint8)).astype(np.float32)


def find_bars(lab: np.ndarray, exclude: list) -> list[Bar]:
    """Scale bars in an OpenCV Lab uint8 photo `(H, W, 3)`, best first; none on the label cards `exclude`."""
    L = lab[..., 0]
    H, W = L.shape
    ink = ink_map(L)
    # Under dim light the print's contrast drops with the photo's brightness (as card paper does, `cards`).
    strokes = (ink > INK_STEP * min(1.0, brightest(L) / BRIGHT_REF)).astype(np.uint8)
    runs = cv2.morphologyEx(strokes, cv2.MORPH_OPEN, np.ones((1, MIN_BAR_PX - 1), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
    grey_ok = _plain_grey_map(lab) if n > 1 else None
    bars = []
    for i in range(1, n):
        x, y, bw, bh, _ = stats[i]
        if bw < MIN_BAR_PX or bh > max(3, bw / 4) or bw > 0.3 * min(H, W):
            continue
        yb = y + bh / 2.0
        # Cheap first test: plain grey somewhere on the face between the bar and the face's top edge.
        top = int(y - BAR_ROW * FACE_PER_BAR * bw)
        if top < 0 or not grey_ok[top // 2:max(top // 2 + 1, (y - 1) // 2), (x + bw // 2) // 2].any():
            continue
        bar = _measure(ink, x, y, bw, bh)
        if bar is None:
            continue
        length, ticks, xc = bar
        best = None
        for row in (BAR_ROW, RULER_ROW):  # the printed bar has its text below, the grey cube's ruler above
            cand = _scored(Bar(length, (xc, yb), 0.0, ticks, row), lab, strokes, exclude)
            if cand is not None and (best is None or cand.score > best.score):
                best = cand
        if best is not None and best.score > 0.2:
            bars.append(best)
    # The "1 cm" text under a bar can look like a short bar: keep the longest of overlapping candidates, unless
    # the longer is the face's own lower edge (or its contact shadow): then the bar lies above it, parallel, as
    # long as the face over `FACE_PER_BAR` (`EDGE_BAR_RATIO`).
    kept: list[Bar] = []
    for bar in sorted(bars, key=lambda b: -b.length_px):
        holder = next((k for k in kept if _inside(bar.centre, k.face_box())), None)
        if holder is None:
            kept.append(bar)
        elif _under(holder, bar):
            kept[kept.index(holder)] = bar
    return sorted(kept, key=lambda b: -b.score)


def _under(edge: Bar, bar: Bar) -> bool:
    """Whether `edge` is the lower edge of the face that `bar` is printed on: longer by about `FACE_PER_BAR`
    (`EDGE_BAR_RATIO`) and at least a tenth of the face below it."""
    ratio = edge.length_px / bar.length_px
    return EDGE_BAR_RATIO[0] <= ratio <= EDGE_BAR_RATIO[1] and edge.centre[1] - bar.centre[1] >= 0.1 * edge.length_px


def _scored(cand: Bar, lab: np.ndarray, strokes: np.ndarray, exclude: list) -> Bar | None:
    """`cand` scored (its face: plain colourless grey, not paper, the text on the right side of the bar),
    or None when its face leaves the photo, lies on a card, carries bright (engraved) marks or has too few
    plain pixels."""
    H, W = strokes.shape
    fx0, fy0, fx1, fy1 = (int(round(v)) for v in cand.face_box())
    if fx0 < 0 or fy0 < 0 or fx1 > W or fy1 > H or _on_card(cand, exclude) or engraved(lab[..., 0], (fx0, fy0, fx1, fy1)):
        return None  # off the photo, on a card, or between the engraved letters of a black cube
    face = lab[fy0:fy1, fx0:fx1].reshape(-1, 3).astype(np.float32)
    plain = face[strokes[fy0:fy1, fx0:fx1].ravel() == 0]
    if len(plain) < 20:
        return None
    grey = np.median(plain, axis=0)
    chroma = float(np.hypot(grey[1] - 128, grey[2] - 128))
    if chroma > MAX_CHROMA or grey[0] > PAPER_L:
        return None
    uniform = float(np.mean(np.abs(plain[:, 0] - grey[0]) < 20))
    c, yb = fy1 - fy0, cand.centre[1]
    # The text: below the printed bar, above the grey cube's ruler.
    rows = (int(yb + 0.1 * c), int(yb + 0.4 * c)) if cand.row < 0.5 else (max(0, int(yb - 0.4 * c)), int(yb - 0.1 * c))
    text_rows = strokes[rows[0]:rows[1], fx0:fx1]
    text = text_rows.size > 0 and 0.03 <= float(text_rows.mean()) <= 0.5
    cand.score = float(min(1.0, max(0.0, (uniform - 0.5) / 0.4)) * (1.0 if cand.ticks else 0.8) * (1.0 if text else 0.7)
                       * (1.0 - 0.5 * chroma / MAX_CHROMA))
    return cand


def _on_card(bar: Bar, cards: list) -> bool:
    """Whether the bar's face lies on a label card (`cards.holds`: a near-square "card" not much larger than
    the face is the cube itself)."""
    x0, y0, x1, y1 = bar.face_box()
    return any(holds(card, bar.centre, (x1 - x0) * (y1 - y0)) for card in cards)


def _inside(pt, box) -> bool:
    return box[0] <= pt[0] <= box[2] and box[1] <= pt[1] <= box[3]


def _plain_grey_map(lab: np.ndarray) -> np.ndarray:
    """`(H/2, W/2)` bool: plain metal grey around each pixel (a 3x3 box at half resolution): colourless,
    not paper, little texture."""
    h, w = lab.shape[:2]
    half = cv2.resize(lab, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA).astype(np.float32)
    mean = cv2.blur(half, (3, 3))
    L = half[..., 0]
    std = np.sqrt(np.maximum(cv2.blur(L * L, (3, 3)) - mean[..., 0] ** 2, 0))
    return (np.hypot(mean[..., 1] - 128, mean[..., 2] - 128) <= MAX_CHROMA) & (mean[..., 0] <= PAPER_L) & (std <= 12)


def _measure(ink: np.ndarray, x: int, y: int, bw: int, bh: int) -> tuple[float, bool, float] | None:
    """(length px, ticks seen, centre x) of a horizontal run at `(x, y, bw, bh)` of the ink map."""
    H, W = ink.shape
    pad = max(3, bw // 6)
    x0, x1 = max(0, x - pad), min(W, x + bw + pad)
    band = ink[y:y + bh, x0:x1]
    line = band.max(axis=0)
    level = float(np.median(line[pad:pad + bw])) if bw > 2 else float(line.max())
    if level <= 0:
        return None
    left = _crossing(line, 0.5 * level, from_left=True)
    right = _crossing(line, 0.5 * level, from_left=False)
    if left is None or right is None or right - left < MIN_BAR_PX - 1:
        return None
    # Ticks: ink just above and below the line, near each end.
    r = max(2, int(round(0.06 * FACE_PER_BAR * (right - left))) + 1)
    above = ink[max(0, y - r):y, x0:x1].sum(axis=0) if y > 0 else np.zeros(x1 - x0)
    below = ink[y + bh:min(H, y + bh + r), x0:x1].sum(axis=0)
    off = above + below
    mid = off[int(left) + 2:int(right) - 1]
    base = float(np.median(mid)) if mid.size else 0.0
    tl, tr = _peak(off, left, base, 1), _peak(off, right, base, -1)
    if tl is not None and tr is not None and min(off[int(round(tl))], off[int(round(tr))]) > 1.5 * base + 20:
        return tr - tl, True, x0 + (tl + tr) / 2
    # No visible ticks: the half-maximum ends overshoot the ends by about half the line's thickness each.
    return max(right - left - 1.0, 1.0), False, x0 + (left + right) / 2


def _crossing(p: np.ndarray, level: float, from_left: bool) -> float | None:
    """Sub-pixel index where `p`, followed outwards from its middle, last stays at or above `level`."""
    mid = len(p) // 2
    if p[mid] < level:
        return None
    below = np.nonzero(p[:mid] < level)[0] if from_left else mid + np.nonzero(p[mid:] < level)[0]
    if not len(below):
        return 0.0 if from_left else float(len(p) - 1)
    j = below[-1] if from_left else below[0]
    k = j + 1 if from_left else j - 1
    frac = (level - p[j]) / max(p[k] - p[j], 1e-6)
    return float(j + (k - j) * frac)


def _peak(p: np.ndarray, at: float, base: float, inward: int) -> float | None:
    """Centroid (above `base`) of the strongest peak of `p` between `at` - 1 and `at` + 2 `inward` (+1 or -1)
    px, over the peak +- 1 px: a tick's centre lies just inside the line's half-maximum end."""
    ends = (int(round(at)) - inward, int(round(at)) + 2 * inward)
    lo, hi = max(0, min(ends)), min(len(p), max(ends) + 1)
    if hi <= lo:
        return None
    k = lo + int(np.argmax(p[lo:hi]))
    a, b = max(0, k - 1), min(len(p), k + 2)
    w = np.clip(p[a:b] - base, 0, None)
    if w.sum() <= 0:
        return None
    return float((np.arange(a, b) * w).sum() / w.sum())
