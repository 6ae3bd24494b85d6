"""Label cards: where a photo's paper label is, so that neither estimator measures it.

Two detectors return card boxes `(x0, y0, x1, y1)` in the pixels of the given `(H, W, 3)` uint8 photo:
`find_cards` (fast: bright, nearly colourless, rectangular regions that hold dark strokes of text,
or blocks of text strokes on a pale backdrop) and `text_boxes_craft` (the upstream CRAFT text detector
through easyocr's offline weights, merged into blocks; about 10 s per 1024-px photo on one CPU core).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from minerals.data.images import shrink
from minerals.size.backdrop import Backdrop, brightest, fit_backdrop

WORK_SIDE = 512
BRIGHT_L = 190      # OpenCV Lab lightness (0-255) of card paper (brighter than any cube face) ...
DIM_SHARE = 0.85    # ... or, in a dim photo, this share of its 99.5th-percentile lightness ...
MIN_PAPER_L = 110   # ... but at least this (chosen on the tune styles: low-key cards at exposure 0.6)
PAPER_CONTRAST = 6.0  # Lab units by which paper differs from the backdrop around it
GREY_CHROMA = 18    # max distance of a, b from neutral (128) for paper
MIN_FILL = 0.85     # card area / its minimum-area rectangle
CUBE_ASPECT = 1.6   # a "card" this close to square (long / short) and at most 4 faces large is a pale cube
MIN_CARD_SHARE = 0.006  # of the photo's area: smaller bright rectangles with strokes are lit facets of a specimen
                        # (the tune styles' cards span 1.5-5 %)


@dataclass(frozen=True)
class Card:
    """A label card: `box` in photo pixels, `text_fraction` = share of its area covered by dark strokes."""

    box: tuple[float, float, float, float]
    text_fraction: float


def text_strokes(gray: np.ndarray) -> np.ndarray:
    """`(H, W)` bool: thin dark strokes (text, printed lines) on a lighter surface (black-hat transform)."""
    k = max(3, round(min(gray.shape) / 60)) | 1
    blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    return blackhat > 40


def find_cards(rgb: np.ndarray, backdrop: Backdrop | None = None) -> list[Card]:
    """Label cards in a photo, largest first; `backdrop`: the photo's fitted backdrop (fitted here when None)."""
    small, s = shrink(rgb, WORK_SIDE)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)
    L = lab[..., 0]
    chroma = np.hypot(lab[..., 1].astype(np.int16) - 128, lab[..., 2].astype(np.int16) - 128)
    # Under dim light (a low-key photo) paper is darker: its lightness is relative to the photo's brightest.
    strokes, bright = paper_cues(lab)
    h, w = L.shape
    # Paper: light and colourless, and lighter or less coloured than the backdrop would be there.
    labf = lab.astype(np.float32)
    model = backdrop or fit_backdrop(labf)
    diff = labf - model.render((h, w))
    stands_out = (diff[..., 0] > max(PAPER_CONTRAST, 3 * float(model.sigma[0]))) | \
        (np.hypot(diff[..., 1], diff[..., 2]) > max(PAPER_CONTRAST, 3 * float(model.sigma[1:].max())))
    paper = (L >= bright) & (chroma <= GREY_CHROMA) & stands_out
    # Text strokes inside the paper are filled in first.
    k = max(3, round(min(h, w) / 50)) | 1
    filled = cv2.morphologyEx(paper.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    # An opening as wide as a third of a small card cuts off bright things that touch the card.
    big = max(5, min(h, w) // 25)
    filled = cv2.morphologyEx(filled, cv2.MORPH_OPEN, np.ones((big, big), np.uint8))
    cards = []
    n, labels, stats, _ = cv2.connectedComponentsWithStats(filled, connectivity=8)
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if area < MIN_CARD_SHARE * h * w or area > 0.25 * h * w:  # bright facets, or the pale backdrop itself
            continue
        comp = labels[y:y + bh, x:x + bw] == i
        cnts, _ = cv2.findContours(comp.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        comp = np.zeros(comp.shape, np.uint8)
        cv2.drawContours(comp, cnts, -1, 1, cv2.FILLED)  # the text inside is part of the card
        comp = comp.astype(bool)
        area = int(comp.sum())
        (_, _), (rw, rh), _ = cv2.minAreaRect(max(cnts, key=cv2.contourArea))
        if rw * rh == 0 or area / (rw * rh) < MIN_FILL or max(rw, rh) / max(1.0, min(rw, rh)) > 8:
            continue
        text = float((strokes[y:y + bh, x:x + bw] & comp).sum() / area)
        if not 0.01 <= text <= 0.5:
            continue
        cards.append(Card((x / s, y / s, (x + bw) / s, (y + bh) / s), text))
    cards.extend(_text_blocks_on_pale_backdrop(L, strokes, s, [c.box for c in cards]))
    return sorted(cards, key=lambda c: -(c.box[2] - c.box[0]) * (c.box[3] - c.box[1]))


def paper_cues(lab: np.ndarray) -> tuple[np.ndarray, float]:
    """`(strokes, paper_l)` of an OpenCV Lab uint8 photo `(h, w, 3)`: its text strokes (`text_strokes`, `(h, w)`
    bool) and the lightness (0-255) paper reaches: `BRIGHT_L`, or in a dim photo `DIM_SHARE` of its brightest (at
    least `MIN_PAPER_L`)."""
    L = lab[..., 0]
    return text_strokes(L), min(BRIGHT_L, max(MIN_PAPER_L, DIM_SHARE * brightest(L)))


def card_like(region: np.ndarray, lab: np.ndarray, cues: tuple[np.ndarray, float]) -> bool:
    """Whether an object `region` (`(h, w)` bool) of an OpenCV Lab uint8 photo `lab` (`(h, w, 3)`; `cues` its
    `paper_cues`) is a label card `find_cards` missed (paper greyer than a white backdrop): paper-light and
    colourless (medians), filling its minimum-area rectangle (`MIN_FILL`), wide (`CUBE_ASPECT` to 8 : 1) and
    holding text strokes (1-50 % of its area). A specimen seldom fills a wide rectangle."""
    strokes, paper_l = cues
    ys, xs = np.nonzero(region)
    if len(xs) < 20 or not paper(lab[ys, xs], paper_l):
        return False
    (_, _), (rw, rh), _ = cv2.minAreaRect(np.stack([xs, ys], axis=1).astype(np.float32))
    long, short = max(rw, rh), min(rw, rh)
    if short < 1 or len(xs) / (rw * rh) < MIN_FILL or not CUBE_ASPECT <= long / short <= 8:
        return False
    return 0.01 <= float(strokes[ys, xs].mean()) <= 0.5


def paper(pixels: np.ndarray, paper_l: float) -> bool:
    """Whether `(N, 3)` OpenCV Lab uint8 pixels are paper: their median lightness at least `paper_l` (`paper_cues`)
    and their median chroma at most `GREY_CHROMA`."""
    chroma = np.hypot(pixels[:, 1].astype(np.float32) - 128, pixels[:, 2].astype(np.float32) - 128)
    return bool(np.median(pixels[:, 0]) >= paper_l and np.median(chroma) <= GREY_CHROMA)


def holds(card, point, area: float) -> bool:
    """Whether the label card `card` `(x0, y0, x1, y1)` holds a cube candidate at `point` `(x, y)` (its centre,
    or a bar's) whose face spans `area` px²: the point lies on it and it is a card, not the candidate itself (a
    pale cube with its print is found as a "card" too: a near-square box, long / short <= `CUBE_ASPECT`, at
    most 4 faces large). Cards are wide (the generator's 2-3.6 : 1, the museum's labels alike), so a text
    line on a small card whose predicted face is larger than half the card is still on the card."""
    if not (card[0] <= point[0] <= card[2] and card[1] <= point[1] <= card[3]):
        return False
    cw, ch = card[2] - card[0], card[3] - card[1]
    return max(cw, ch) > CUBE_ASPECT * max(1e-6, min(cw, ch)) or cw * ch > 4 * area


def _text_blocks_on_pale_backdrop(L: np.ndarray, strokes: np.ndarray, s: float, known: list) -> list[Card]:
    """Cards whose paper does not stand out (white backdrop): blocks of at least two parallel text lines."""
    h, w = L.shape
    lines = cv2.morphologyEx(strokes.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((1, max(3, w // 60)), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
    line_boxes = [stats[i] for i in range(1, n)
                  if stats[i][2] >= 4 * stats[i][3] and stats[i][2] >= w * 0.04 and stats[i][3] <= h * 0.05]
    mask = np.zeros((h, w), np.uint8)
    for x, y, bw, bh, _ in line_boxes:
        mask[y:y + bh, x:x + bw] = 1
    gap = max(3, h // 40)
    mask = cv2.dilate(mask, np.ones((gap, gap), np.uint8))
    out = []
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    for i in range(1, n):
        x, y, bw, bh, _ = stats[i]
        inside = [b for b in line_boxes if x <= b[0] and b[0] + b[2] <= x + bw and y <= b[1] and b[1] + b[3] <= y + bh]
        box = (x / s, y / s, (x + bw) / s, (y + bh) / s)
        if len(inside) >= 2 and np.median(L[y:y + bh, x:x + bw]) >= BRIGHT_L - 10 and not _covered(box, known):
            text = float(strokes[y:y + bh, x:x + bw].mean())
            out.append(Card(box, text))
    return out


def _covered(box, known) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return any(k[0] <= cx <= k[2] and k[1] <= cy <= k[3] for k in known)


def text_boxes_craft(rgb: np.ndarray, canvas: int = 1024) -> list[tuple[float, float, float, float]]:
    """Text blocks found by CRAFT (easyocr, the reader of `minerals.size.ocr`), lines merged into blocks; boxes
    in photo pixels. Raises `ocr.OcrUnavailable` without easyocr."""
    from minerals.size.ocr import reader

    horizontal, free = reader().detect(rgb, canvas_size=canvas)
    boxes = [(b[0], b[2], b[1], b[3]) for b in horizontal[0]]
    boxes += [(min(p[0] for p in q), min(p[1] for p in q), max(p[0] for p in q), max(p[1] for p in q)) for q in free[0]]
    if not boxes:
        return []
    h, w = rgb.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    heights = [b[3] - b[1] for b in boxes]
    for x0, y0, x1, y1 in boxes:
        mask[max(0, int(y0)):int(y1) + 1, max(0, int(x0)):int(x1) + 1] = 1
    gap = max(3, int(np.median(heights)))
    mask = cv2.dilate(mask, np.ones((gap, gap), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    return [(float(x), float(y), float(x + bw), float(y + bh)) for x, y, bw, bh, _ in stats[1:n]]
