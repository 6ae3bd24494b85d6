"""The improved size estimator: the reference cube for the scale, the specimen by segmentation.

Steps on an `(H, W, 3)` uint8 photo: fit a smooth backdrop surface (`backdrop`) and find the objects
that differ from it at `SizeConfig.work_side` px; find label cards (`cards`); find the cube at full
resolution, by its printed 1 cm bar or the grey cube's 10 mm ruler (`scalebar`; edge = 1.27 x bar),
else by its flat square front face (`cube`) or its silhouette's front face (`silhouette`); bars and faces
on a much larger object (marks on the specimen, or a cube merged with it) need their text; only when these
cheap cues leave the cube open (none, two, or one below `READ_BELOW`) read the text on the best few candidates (`ocr`:
"1 cm", "10 mm" or "T." confirm one, and its kind, whose edge gives the scale: `kinds`);
mask out the cube and the cards, take the largest remaining object with its nearby pieces, completed
by what its closed outline encloses, as the specimen, and report its longest extent (maximum Feret diameter) in cm. It abstains with a reason
(no cube, two cubes, cube too small or uncertain, text on a face too small, no specimen, specimen cut
by the frame) rather than guess. The confidence describes the cube (how bar- and face-like or
text-confirmed, how square, how many pixels) and the specimen's outline (a sliver filling little of
the square on its length is likely an edge or a highlight of a specimen the backdrop model only
partly found); below `SizeConfig.min_confidence` it abstains.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import zip_longest

import cv2
import numpy as np

from minerals.data.images import shrink
from minerals.size import cube as cubes
from minerals.size import kinds, ocr, scalebar
from minerals.size.silhouette import find_silhouettes
from minerals.size.backdrop import clean, fit_backdrop, foreground
from minerals.size.baseline import box_iou
from minerals.size.cards import card_like, find_cards, holds, paper, paper_cues
from minerals.size.result import SizeConfig, SizeEstimate

EDGE_AGREEMENT = 0.08  # face width from edges vs 1.27 x bar length
TWO_CUBES_SCORE = 0.6   # a second candidate this good, and nearly as good as the first, means two cubes
MIN_SPECIMEN_SHARE = 0.002  # of the image area
CARD_MARGIN = 0.15  # card boxes are widened by this fraction of their size before masking
CARD_SURROUND = 0.6  # an object lying mostly within a card box widened this much is the rest of the card ...
SPECIMEN_NEAR_CARD = 0.01  # ... unless it is not paper and spans this share of the photo: the specimen just above the
                           # card (seen on fresh seeds of the tune styles; smaller pieces there are slivers of a
                           # specimen the backdrop model only partly found)
FRAGMENT_SHARE = 0.1  # pieces at least this share of the main region ...
FRAGMENT_GAP = 0.06   # ... and this close to it (fraction of the longer side) belong to the specimen
PLAIN_PIECE = 0.8  # a nearby piece this plain (`backdrop.foreground`) is not the specimen's (a first choice, not
                   # tuned: on the tune releases and a third tune seed it removed a +51 % error, made one photo
                   # worse, 23 -> 41 %, and let 1 more photo be measured)
ENCLOSED_GAP = 2  # px at work resolution: gaps in a specimen's outline this wide are closed (`_enclosed`)
FULL_FILL = 0.3  # a specimen filling less of the square on its length (`specimen_fill`) lowers the confidence
ON_OBJECT = 6.0  # a cube candidate covering ON_SHARE of its face with an object this many times its face's
ON_SHARE = 0.3   # area is on the specimen
OFF_CUBE_PENALTY = 0.3  # score factor for such candidates
FACE_CONTRAST = 6.0  # Lab units: a bar's face differs from the backdrop by at least this (median; chosen on the
                     # tune releases' bars: it drops 9 % of the false ones and 1 of 207 true ones)
FRAME_FILL = 0.4  # a piece around a card filling less of its box than this is the card's frame
CUT_RUN = 0.02  # a specimen touching the frame along this share of a side is cut by it
BAR_TRUSTED = 0.9  # a bar this good (ticks, its text beside it, a plain grey face) is the cube, whatever silhouette
                   # (seen on a third seed of the tune styles: a cube-like crystal at a specimen's rim beat a 0.97 bar)
FACE_TRUSTED = 0.5  # a flat square face this good is taken over a cube silhouette
SILHOUETTE_MIN = 0.12  # a cube silhouette scores at least this to be taken
FACE_CONFIRMS = 0.4   # IoU of a bar's predicted face with a flat square face that confirms the bar (chosen on the
                      # tune releases' bars: an unconfirmed best bar lost to a confirmed one in 7 photos, rightly in 6,
                      # wrongly in none)
SQUARE_TOLERANCE = 0.2  # a measured front face off square by more than this is not trusted over its box
MIN_CUBE_FRAC = 0.03  # size prior: a cube's face spans at least this share of the photo's shorter side
# Reading the cube's text (`ocr`), only when the cheap cues are ambiguous (chosen on the tune half of the
# real photos, tests/data/real_photos, and the tune synthetic styles):
READ_BELOW = 0.5      # cube confidence below which (or below min_confidence) the cheap cues leave the cube open
READ_MIN = 0.05       # candidates scoring less (silhouettes: their `read_score`) are not read
MAX_READS = 2         # candidates read per photo at most (about 0.1 s each on one core); chosen for speed: 4 gave
                      # the same estimates on the tune and held-out releases and the same real-photo outcomes, at
                      # 12 % less speed (benchmarks/bench_size.py, mean 8.7 against 9.8 photos/s)
TEXT_SCORE = 0.8      # a candidate whose text names the cube scores at least this
READ_BAR_PX = 24      # bars shorter than this (px) rank lower for reading: most are texture (a size prior)


def estimate(rgb: np.ndarray, cfg: SizeConfig) -> SizeEstimate:
    """Estimate the specimen's longest extent in a photo; pixel quantities in `rgb`'s pixels."""
    small, s = shrink(rgb, cfg.work_side)
    h, w = small.shape[:2]
    lab_small = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)
    lab = lab_small if s == 1 else cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    labf = lab_small.astype(np.float32)
    model = fit_backdrop(labf)
    cards = [tuple(v / s for v in c.box) for c in find_cards(small, model)]
    result = SizeEstimate(cards=cards)
    fg, plain = foreground(labf, model)
    kernel = max(3, round(min(h, w) / 150)) | 1
    objects = cv2.connectedComponentsWithStats(clean(fg, kernel).astype(np.uint8), connectivity=8)[1:3]

    best = _find_cube(rgb, lab, cards, result, objects, s, (lab_small, fg), (labf, model), cfg)
    if best is None:
        return _read_in_vain(result)
    result.cube_box = best.edges
    cx, cy = (best.edges[0] + best.edges[2]) / 2, (best.edges[1] + best.edges[3]) / 2
    cards = result.cards = [b for b in cards if not (b[0] <= cx <= b[2] and b[1] <= cy <= b[3])]  # the cube itself
    result.cube_side_px = best.side_px
    result.cube_kind = best.kind
    result.cm_per_px = kinds.edge_cm(best.kind, cfg.edge_cm) / best.side_px
    if best.side_px < cfg.min_cube_px:
        if result.cube_text:
            return result.abstain(f'text says "{result.cube_text}" but the face is {best.side_px:.0f} px '
                                  f"(< {cfg.min_cube_px:.0f} px)")
        return result.abstain(f"cube too small ({best.side_px:.0f} px < {cfg.min_cube_px:.0f} px)")
    cube_confidence = _confidence(best, cfg)
    result.cube_confidence = cube_confidence
    result.cube_trusted = cube_confidence >= cfg.min_confidence

    specimen = _specimen(fg, best, cards, s, kernel, plain, lab_small)
    if specimen is None:
        return result.abstain("no specimen found")
    ys, xs = np.nonzero(specimen)
    result.specimen_box = (xs.min() / s, ys.min() / s, (xs.max() + 1) / s, (ys.max() + 1) / s)
    cnts, _ = cv2.findContours(specimen.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    result.outline = max(cnts, key=cv2.contourArea)[:, 0, :].astype(float) / s
    if _cut_by_frame(specimen):
        return result.abstain("specimen cut by the frame")
    length_px, ends = feret(np.stack([xs, ys], axis=1))
    result.extent = tuple((float(x) / s, float(y) / s) for x, y in ends)
    result.size_cm = (length_px + 1.0) / s * result.cm_per_px  # +1 px: extents run edge to edge, not centre to centre
    fill = specimen_fill(specimen, length_px)
    result.confidence = cube_confidence * min(1.0, fill / FULL_FILL)
    if result.confidence < cfg.min_confidence:
        if cube_confidence >= cfg.min_confidence:
            why = f"specimen outline uncertain (it fills {100 * fill:.0f} % of the square on its length)"
        elif result.cube_text:  # the text says it is the cube: only its edge is in doubt
            why = f'cube edge uncertain (text "{result.cube_text}" on it; edge confidence {cube_confidence:.2f})'
        else:
            why = f"cube uncertain (confidence {cube_confidence:.2f})"
        return _read_in_vain(result.abstain(f"{why}: confidence {result.confidence:.2f} < {cfg.min_confidence:g}"))
    return result


def _read_in_vain(result: SizeEstimate) -> SizeEstimate:
    """An abstention whose candidates' text was read without naming the cube says so."""
    if not result.ok and result.ocr_reads and not result.cube_text:
        result.status += f"; no cube text on the {result.ocr_reads} candidate(s) read"
    return result


def specimen_fill(mask: np.ndarray, length_px: float) -> float:
    """Area of the specimen `mask` over the square of its longest extent `length_px` (px): about 0.5-0.8
    for a compact specimen, 0.2-0.3 for a long crystal, below that for a sliver (an edge or a highlight
    taken for the whole specimen on a backdrop of its own colour)."""
    return float(mask.sum()) / max(1.0, (length_px + 1.0) ** 2)


def _specimen(fg: np.ndarray, cube: cubes.Face, cards: list, s: float, kernel: int,
              plain: np.ndarray, lab: np.ndarray) -> np.ndarray | None:
    """The specimen's `(h, w)` bool mask at work resolution (scale `s`), or None when nothing is left.

    The cube's zone and the label cards (widened: on pale backdrops only a card's text block is found)
    are removed from the objects `fg`; the largest remaining object, with its nearby pieces and what their closed
    outline encloses (`_enclosed`, outside those zones), is the specimen.
    """
    h, w = fg.shape
    allowed = np.ones((h, w), bool)  # neither the cube's zone nor a label card
    zone = _cube_zone(cube, s, (h, w))
    allowed[zone[1]:zone[3], zone[0]:zone[2]] = False
    near_card = np.zeros((h, w), bool)
    for card in cards:
        allowed[_widened(card, CARD_MARGIN, s, h)] = False
        near_card[_widened(card, CARD_SURROUND, s, h)] = True
    mask = fg & allowed
    mask = clean(mask, kernel)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    others = [i for i in range(1, n) if stats[i][4] >= MIN_SPECIMEN_SHARE * h * w]
    if not others:
        return None
    main = max(others, key=lambda i: stats[i][4])
    # a piece lying mostly around a card's box is what is left of the card (an edge, a corner, its paper beyond the text
    # block found on a pale backdrop) unless it is large and not paper: the specimen just above the card; so is one
    # whose box holds the card's (a card's frame: on pale backdrops only the text inside is found)
    cues = paper_cues(lab)
    on_card = np.bincount(labels[near_card], minlength=n)
    pieces = [i for i in others if not (on_card[i] >= 0.5 * stats[i][4] and _card_rest(labels, stats, i, lab, cues[1]))
              and not any(_frames(stats[i], tuple(v * s for v in card)) for card in cards)]
    # a wide rectangle of paper with text is a card that `find_cards` missed (greyer than a white backdrop: seen on a
    # fourth seed of the tune styles, where the card was measured as the specimen)
    pieces = [i for i in pieces if not _card_piece(labels, stats, i, lab, cues)]
    if main not in pieces:
        if not pieces:
            return None
        main = max(pieces, key=lambda i: stats[i][4])
    # a nearby piece that differs from the backdrop in lightness only, as smooth as it, is the backdrop's bend or a
    # shadow's edge, not a piece of the specimen
    flat = np.bincount(labels[plain], minlength=n)
    pieces = [i for i in pieces if i == main or flat[i] < PLAIN_PIECE * stats[i][4]]
    region = _with_fragments(labels, stats, main, pieces, gap=max(2, round(FRAGMENT_GAP * max(h, w))))
    return _enclosed(region, lab[..., 0], allowed)


def _enclosed(region: np.ndarray, L: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """The specimen `region` `(h, w)` bool completed by what its closed outline encloses: a specimen of the backdrop's
    own colour and lightness (grey on grey) is found by `backdrop.foreground` only in part, but its outline is an edge.

    Edges (`cube.edge_map` of the uint8 lightness `L`, widened by `ENCLOSED_GAP` px to close gaps) cut the photo into
    flat regions; those not reaching the frame are enclosed. The enclosed area (shrunk back to the edge line, thin
    lines such as a sweep's bend opened away, within `allowed`) joined to `region` is the specimen, unless it reaches
    the frame where `region` does not (a leak along an edge). Designed on seeds 404-1616 of the tune styles (4,680
    photos; `ENCLOSED_GAP` and the opening were the only settings tried, the opening added for a sweep's bend taken
    along): accepted gross errors 76 -> 52, MAPE 7.1 -> 6.0 %; on fresh seeds 1717-2121 (1,800) 25 -> 13 and
    6.4 -> 5.3 %. Stands and soft shadows with a sharp rim are enclosed too (a bias of +1 to +2 % in the median)."""
    ker = np.ones((2 * ENCLOSED_GAP + 1, 2 * ENCLOSED_GAP + 1), np.uint8)
    edges = cv2.dilate(cubes.edge_map(L).astype(np.uint8), ker)
    _, flat = cv2.connectedComponents((edges == 0).astype(np.uint8), connectivity=4)
    frame = np.unique(np.concatenate([flat[0], flat[-1], flat[:, 0], flat[:, -1]]))
    inside = cv2.erode((~np.isin(flat, frame[frame > 0])).astype(np.uint8), ker)
    inside = cv2.morphologyEx(inside, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    joined = (inside.astype(bool) & allowed) | region
    n, labels = cv2.connectedComponents(joined.astype(np.uint8), connectivity=8)
    overlap = np.bincount(labels[region], minlength=n)  # pixels of `region` per joined component
    overlap[0] = 0
    done = labels == int(np.argmax(overlap))
    return region if _on_frame(done) and not _on_frame(region) else done


def _on_frame(mask: np.ndarray) -> bool:
    """Whether an `(h, w)` bool mask has a pixel on the photo's border."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def _piece_box(stat) -> tuple[slice, slice]:
    """`(rows, cols)` of a piece's box (`stat`: x, y, w, h of `cv2.connectedComponentsWithStats`)."""
    x, y, w, h = stat[:4]
    return np.s_[y:y + h, x:x + w]


def _card_piece(labels: np.ndarray, stats: np.ndarray, i: int, lab: np.ndarray, cues) -> bool:
    """`cards.card_like` for piece `i` of `cv2.connectedComponentsWithStats`' `labels` and `stats`, on its box only."""
    box = _piece_box(stats[i])
    return card_like(labels[box] == i, lab[box], (cues[0][box], cues[1]))


def _card_rest(labels: np.ndarray, stats: np.ndarray, i: int, lab: np.ndarray, paper_l: float) -> bool:
    """Whether piece `i` (of `cv2.connectedComponentsWithStats`' `labels` and `stats`), lying mostly around a label
    card, is what is left of the card: smaller than `SPECIMEN_NEAR_CARD` of the photo, or paper (`cards.paper`; `lab`
    the work-resolution Lab photo, `paper_l` its paper lightness from `cards.paper_cues`)."""
    if stats[i][4] < SPECIMEN_NEAR_CARD * labels.size:
        return True
    box = _piece_box(stats[i])
    return paper(lab[box][labels[box] == i], paper_l)


def _frames(stat, card) -> bool:
    """Whether a piece (`stat`: x, y, w, h, area of `cv2.connectedComponentsWithStats`) is a card's frame: hollow
    (it fills less than `FRAME_FILL` of its box) with its box holding 80 % of the `card` box (same pixels)."""
    x, y, w, h = (float(v) for v in stat[:4])
    if stat[4] >= FRAME_FILL * w * h:
        return False
    iw = max(0.0, min(x + w, card[2]) - max(x, card[0]))
    ih = max(0.0, min(y + h, card[3]) - max(y, card[1]))
    return iw * ih >= 0.8 * (card[2] - card[0]) * (card[3] - card[1])


def _widened(box, margin: float, s: float, h: int) -> tuple[slice, slice]:
    """Work-resolution `(rows, cols)` of a full-resolution card `box` widened by `margin` of its size
    (and 2 % of the work height `h` vertically: on pale backdrops only a card's text block is found)."""
    x0, y0, x1, y1 = box
    mx, my = margin * (x1 - x0), margin * (y1 - y0) + 0.02 * h / s
    return (slice(max(0, int((y0 - my) * s)), int(np.ceil((y1 + my) * s)) + 1),
            slice(max(0, int((x0 - mx) * s)), int(np.ceil((x1 + mx) * s)) + 1))


def _cut_by_frame(mask: np.ndarray) -> bool:
    """Whether a region runs along the frame's edge (a few touching pixels are shadow or noise)."""
    h, w = mask.shape
    runs = (mask[0].sum(), mask[-1].sum(), mask[:, 0].sum(), mask[:, -1].sum())
    return any(r >= max(3, CUT_RUN * side) for r, side in zip(runs, (w, w, h, h)))


def _stands_out(face_box, labf: np.ndarray, model, s: float) -> bool:
    """Whether a bar's predicted face `face_box` (full-resolution px) differs from the backdrop: the median
    Lab distance of its pixels from the fitted backdrop (`labf`, `model` at work resolution, scale `s`) is at
    least `FACE_CONTRAST`. A dark line on the backdrop (a specimen's rim in dim light) has backdrop around it."""
    h, w = labf.shape[:2]
    x0, y0 = max(0, int(face_box[0] * s)), max(0, int(face_box[1] * s))
    x1, y1 = min(w, int(np.ceil(face_box[2] * s))), min(h, int(np.ceil(face_box[3] * s)))
    if x1 <= x0 or y1 <= y0:
        return False
    dist = np.linalg.norm(labf[y0:y1, x0:x1] - model.render((h, w), (x0, y0, x1, y1)), axis=-1)
    return float(np.median(dist)) >= FACE_CONTRAST


def _ink_on_object(bar: scalebar.Bar, objects, s: float) -> bool:
    """Whether a bar's own centre (its ink) lies on an object much larger (`ON_OBJECT`) than the face the bar predicts:
    a mark on the specimen near its rim, whose predicted face reaches mostly off it (seen on a fourth seed of the tune
    styles: a line on a crystal's tip taken over the cube); `objects` as in `_on_object`."""
    labels, stats = objects
    x = min(labels.shape[1] - 1, max(0, int(bar.centre[0] * s)))
    y = min(labels.shape[0] - 1, max(0, int(bar.centre[1] * s)))
    i = labels[y, x]
    return bool(i) and stats[i][2] * stats[i][3] > ON_OBJECT * _face_area(bar.face_box()) * s * s


def _face_area(box) -> float:
    """Area (px²) of a box `(x0, y0, x1, y1)`."""
    return (box[2] - box[0]) * (box[3] - box[1])


def _on_object(face_box, objects, s: float) -> bool:
    """Whether a cube candidate's front face `face_box` (full-resolution px) lies on a much larger object (a
    facet or mark on the specimen, or a cube merged with it); `objects`: `(labels, stats)` at work resolution.
    """
    labels, stats = objects
    h, w = labels.shape
    x0, y0 = max(0, int(face_box[0] * s)), max(0, int(face_box[1] * s))
    x1, y1 = min(w, int(np.ceil(face_box[2] * s))), min(h, int(np.ceil(face_box[3] * s)))
    if x1 <= x0 or y1 <= y0:
        return False
    face = _face_area(face_box) * s * s
    # a share of the face's pixels, not its centre alone: a specimen on a backdrop of its own colour is found with holes
    counts = np.bincount(labels[y0:y1, x0:x1].ravel(), minlength=len(stats))
    return any(counts[i] >= ON_SHARE * (x1 - x0) * (y1 - y0) and stats[i][2] * stats[i][3] > ON_OBJECT * face
               for i in range(1, len(stats)))


def _find_cube(rgb: np.ndarray, lab: np.ndarray, cards: list, result: SizeEstimate, objects, s: float, small,
               backdrop, cfg: SizeConfig) -> cubes.Face | None:
    """The measured front face, from the cheap cues (`_cheap_cube`) or, when these leave it open (no cube,
    two, or one whose cube confidence is below `READ_BELOW` and `cfg.min_confidence`) and `cfg.ocr`, from
    the text read on the best few candidates (`_read_text`): a candidate reading "1 cm", "10 mm" or "T."
    is the cube. Reading never changes a confident cheap choice; the threshold is independent of
    `min_confidence` so that `evaluate.choose_threshold` (run at `min_confidence=0`) sees what reading does.
    Abstains on `result` (and returns None) when there is no cube or there are two. `small`: the work-resolution
    Lab photo and object mask; `backdrop`: its float32 Lab and fitted `Backdrop`.
    """
    short = min(lab.shape[:2])
    sils = find_silhouettes(*small)
    # A bar with its end ticks scoring `BAR_TRUSTED` (its text beside it, a plain grey face) needs no contrast with the
    # backdrop: a grey cube as light as a grey backdrop (seen on fresh seeds of the tune styles, grey_low_key) has it.
    found = [b for b in scalebar.find_bars(lab, cards)
             if (b.ticks and b.score >= BAR_TRUSTED) or _stands_out(b.face_box(), *backdrop, s)]
    bars = [b for b in found if min(np.subtract(b.face_box()[2:], b.face_box()[:2])) >= MIN_CUBE_FRAC * short]
    tiny = [min(np.subtract(b.face_box()[2:], b.face_box()[:2])) for b in found if b not in bars and b.score > 0.2]
    # Bars and faces on a much larger object (marks or facets on the specimen, or a cube merged with it) are not
    # taken on cheap cues alone: only their text can confirm them.
    on = {id(b) for b in bars if _on_object(b.face_box(), objects, s) or _ink_on_object(b, objects, s)}
    bars = sorted((b for b in bars if b.score > 0.2), key=lambda b: -b.score)
    faces = _faces(lab, cards, tiny)
    on |= {id(f) for f in faces if _on_object(f.box, objects, s)}
    for item in (*bars, *faces):
        if id(item) in on:
            item.score *= OFF_CUBE_PENALTY
    cheap = SizeEstimate()
    face = _cheap_cube(lab, cheap, s, [b for b in bars if id(b) not in on],
                       [f for f in faces if f.score > 0.2 and id(f) not in on],
                       [c for c in sils if c.score >= SILHOUETTE_MIN], tiny)
    if cfg.ocr and (face is None or _confidence(face, cfg) < max(READ_BELOW, cfg.min_confidence)):
        pool = [_Candidate(b.face_box(), b.score * min(1.0, b.length_px / READ_BAR_PX), "bar", b) for b in bars] \
            + [_Candidate(f.box, f.score, "face", f) for f in faces] \
            + [_Candidate(tuple(v / s for v in c.box), c.read_score, "silhouette", c) for c in sils
               if not _on_card(tuple(v / s for v in c.box), cards)]
        read = _read_text(rgb, pool, result)
        if not result.ok:
            return None
        if read is not None:
            return _confirmed(read, pool, lab, result, s, cfg)
    result.status, result.cube_box, result.cube_kind = cheap.status, cheap.cube_box, cheap.cube_kind
    return face


def _cheap_cube(lab: np.ndarray, result: SizeEstimate, s: float, bars: list, faces: list, sils: list,
                tiny: list) -> cubes.Face | None:
    """The front face from the cheap cues: the "1 cm" bar when one is readable, else flat square
    regions or, when no face is convincing, the cube's silhouette (`silhouette`; work px / `s` = full px).

    With a bar, the bar gives the scale (edge = 1.27 x its length); the face's edges, searched where the
    bar predicts them, only lower the confidence when their width disagrees by more than `EDGE_AGREEMENT`.
    Abstains on `result` (and returns None) when there is no cube or there are two.
    """
    short = min(lab.shape[:2])
    # No bar on the black cube: a "bar" there is between its letters or along its lower edge (the black cube's flat
    # face as well as its silhouette says so; the face was needed on a third seed of the tune styles).
    black = [f.box for f in faces if f.kind == kinds.ENGRAVED]
    if sils and sils[0].kind == kinds.ENGRAVED:
        black.append(tuple(v / s for v in sils[0].box))
    bars = [b for b in bars if not any(_overlap(b.face_box(), box) for box in black)]
    # Nor elsewhere when the black cube is the best face or silhouette: a bar without its end ticks is then texture on
    # the specimen (seeds 404-1616 of the tune styles: 89 % of the bars without ticks scoring above 0.5 lie off the cube;
    # one won over the black cube in 14 of the 40 gross errors of the scale there).
    if (faces and faces[0].score >= FACE_TRUSTED and faces[0].kind == kinds.ENGRAVED) \
            or (sils and sils[0].kind == kinds.ENGRAVED):
        bars = [b for b in bars if b.ticks]
    bars = _confirmed_first(bars, faces, [tuple(v / s for v in c.box) for c in sils])
    if bars and sils and sils[0].score > bars[0].score and bars[0].score < BAR_TRUSTED \
            and not _overlap(bars[0].face_box(), tuple(v / s for v in sils[0].box)):
        # a bar whose face lies off a more cube-like object than the bar itself: a mark on the specimen
        return _from_silhouette(sils, result, s, lab)
    if bars and faces and faces[0].score >= FACE_TRUSTED and faces[0].score > bars[0].score:
        bars = []  # a better flat square face: the bar is a mark on the specimen, a card or a cube's edge
    if bars:
        bar = bars[0]
        if any(_rival(b, bar) for b in bars[1:]):
            result.cube_box = bar.face_box()
            result.abstain("two cubes (cannot tell which one is the reference)")
            return None
        return _bar_face(lab, bar)
    if not faces or faces[0].score < FACE_TRUSTED:
        if sils:
            return _from_silhouette(sils, result, s, lab)
    if not faces:
        result.abstain(f"cube too small ({max(tiny):.0f} px < {MIN_CUBE_FRAC * short:.0f} px, "
                       f"{100 * MIN_CUBE_FRAC:.0f} % of the photo)" if tiny
                       else "no cube found (no square face, no cube silhouette)")
        return None
    if len(faces) > 1 and faces[1].score >= TWO_CUBES_SCORE and faces[1].score >= 0.8 * faces[0].score \
            and _similar_size(faces[0].box, faces[1].box) and not _overlap(faces[0].box, faces[1].box):
        result.cube_box = faces[0].box
        result.abstain("two cubes (cannot tell which one is the reference)")
        return None
    return cubes.measure_face(lab[..., 0], faces[0])


def _rival(other: scalebar.Bar, bar: scalebar.Bar) -> bool:
    """Whether `other` is a second cube's bar: nearly as good as `bar` (and `TWO_CUBES_SCORE`), as long, elsewhere."""
    return other.score >= TWO_CUBES_SCORE and other.score >= 0.8 * bar.score \
        and 0.75 <= other.length_px / bar.length_px <= 1.33 \
        and np.hypot(*np.subtract(other.centre, bar.centre)) > 2 * bar.length_px


def _confirmed_first(bars: list, faces: list, sil_boxes: list) -> list:
    """`bars` (best first), or, when the best is confirmed by nothing (no flat face at its predicted face, no
    silhouette overlapping it) and another bar's predicted face is a flat square face (IoU >= `FACE_CONFIRMS`),
    that bar first and the unconfirmed better ones dropped: they are marks on the specimen."""
    if not bars:
        return bars
    def by_face(b):
        return any(box_iou(f.box, b.face_box()) >= FACE_CONFIRMS for f in faces)
    if by_face(bars[0]) or any(_overlap(bars[0].face_box(), box) for box in sil_boxes):
        return bars
    first = next((b for b in bars if by_face(b)), None)
    return bars if first is None else [b for b in bars if b is first or b.score <= first.score]


def _faces(lab: np.ndarray, cards: list, tiny: list) -> list[cubes.Face]:
    """Flat square faces, best first, at least `MIN_CUBE_FRAC` of the shorter side (the sides of smaller
    ones scoring above 0.2 are appended to `tiny`)."""
    short = min(lab.shape[:2])
    faces = []
    for f in cubes.find_faces(lab, cards):
        side = min(f.box[2] - f.box[0], f.box[3] - f.box[1])
        if side >= MIN_CUBE_FRAC * short:
            faces.append(f)
        elif f.score > 0.2:
            tiny.append(side)
    return sorted(faces, key=lambda f: -f.score)


def _bar_face(lab: np.ndarray, bar: scalebar.Bar) -> cubes.Face:
    """The front face around a "1 cm" bar, its side from the bar (the measured edges only check it)."""
    from_bar = scalebar.FACE_PER_BAR * bar.length_px
    face = cubes.measure_face(lab[..., 0], cubes.Face(tuple(int(round(v)) for v in bar.face_box()), bar.score),
                              predicted=True)
    if abs(face.side_px / from_bar - 1) > EDGE_AGREEMENT:
        face.score *= 0.7  # the face's edges do not confirm the bar (side face, low contrast, clutter)
    face.side_px = face.width_px = from_bar  # squareness: the bar's edge against the measured height
    face.kind = kinds.GREY if bar.row == scalebar.RULER_ROW else kinds.PRINTED_BAR
    return face


@dataclass
class _Candidate:
    """A cube candidate of any source (`bar`, `face`, `silhouette`): `box` in full-resolution px, `score`
    (for silhouettes their `read_score`), the source's own object `item`, and the `text` read on it."""

    box: tuple
    score: float
    source: str
    item: object
    text: ocr.CubeText | None = None


def _read_text(rgb: np.ndarray, pool: list[_Candidate], result: SizeEstimate) -> _Candidate | None:
    """The candidate whose text names the cube, of at most `MAX_READS` read (the best of each source in
    turn, one per place); None when none does (or two do: `result` then abstains)."""
    ranked = {src: sorted((c for c in pool if c.source == src and c.score >= READ_MIN), key=lambda c: -c.score)
              for src in ("bar", "face", "silhouette")}
    order = [c for tier in zip_longest(*ranked.values()) for c in tier if c is not None]
    chosen: list[_Candidate] = []
    for c in order:
        if len(chosen) == MAX_READS:
            break
        if not any(_overlap(c.box, k.box) for k in chosen):
            chosen.append(c)
    confirmed = []
    for c in chosen:
        try:
            c.text = ocr.read_cube_text(rgb, c.box)
        except ocr.OcrUnavailable as exc:
            warnings.warn(f"{exc}; the cube finder goes on with its cheap cues only", stacklevel=2)
            return None
        result.ocr_reads += 1
        result.ocr_seconds += c.text.seconds
        if c.text.says:
            confirmed.append(c)
    if len(confirmed) > 1 and _similar_size(confirmed[0].box, confirmed[1].box):
        result.cube_box = confirmed[0].box
        result.abstain(f'two cubes (text "{confirmed[0].text.says}" and "{confirmed[1].text.says}" on two candidates)')
        return None
    return max(confirmed, key=lambda c: c.score) if confirmed else None


def _confirmed(place: _Candidate, pool: list[_Candidate], lab: np.ndarray, result: SizeEstimate, s: float,
               cfg: SizeConfig) -> cubes.Face | None:
    """The face at the `place` whose text names the cube: of the candidates overlapping it, the one that
    measures best (`_confidence`), scored at least `TEXT_SCORE`, its kind from the text (a lone "T" is the
    engraved cube) or from the candidate. Abstains when a silhouette there touches the frame."""
    here = [c for c in pool if c.score >= READ_MIN and _overlap(c.box, place.box)]
    result.cube_text = place.text.says
    cut = [c for c in here if c.source == "silhouette" and c.item.cut]
    if cut:
        result.cube_box, result.cube_kind = cut[0].box, kinds.ENGRAVED if place.text.engraved else cut[0].item.kind
        result.abstain(f'cube cut by the frame (text "{place.text.says}" on it)')
        return None
    face = max((_face_of(c, lab, s) for c in here), key=lambda f: _confidence(f, cfg))
    face.score = max(face.score, TEXT_SCORE)
    if place.text.engraved:
        face.kind = kinds.ENGRAVED
    elif face.kind == kinds.ENGRAVED or place.text.says == "10 mm":
        face.kind = kinds.GREY  # text without the engraved "T." is not the engraved cube
    return face


def _face_of(c: _Candidate, lab: np.ndarray, s: float) -> cubes.Face:
    """A candidate's measured front face (full-resolution px)."""
    if c.source == "bar":
        return _bar_face(lab, c.item)
    if c.source == "face":
        return cubes.measure_face(lab[..., 0], c.item)
    return _silhouette_face(c.item, lab, s)


def _silhouette_face(sil, lab: np.ndarray, s: float) -> cubes.Face:
    """The front face of a silhouette (work px / `s` = full px): its edges measured at full resolution at
    the lightness steps near the front box (`cube.measure_face`: a shadow or halo around the cube is not
    the cube), unless that face is narrower than tall by more than `SQUARE_TOLERANCE` (marks or a face edge
    taken for its outline): then the front box itself."""
    front = tuple(v / s for v in sil.front)
    boxed = cubes.Face(tuple(int(round(v)) for v in front), sil.score, side_px=front[2] - front[0],
                       height_px=front[3] - front[1], width_px=front[2] - front[0], edges=front, kind=sil.kind)
    measured = cubes.measure_face(lab[..., 0], cubes.Face(boxed.box, sil.score, kind=sil.kind), predicted=True)
    # Measured wider than tall is a side face included (its edge is the height); narrower is marks or a face edge.
    face = measured if measured.side_px >= (1.0 - SQUARE_TOLERANCE) * measured.height_px else boxed
    face.kind = kinds.ENGRAVED if cubes.engraved(lab[..., 0], boxed.box) else kinds.GREY  # marks read at full resolution
    return face


def _from_silhouette(sils: list, result: SizeEstimate, s: float, lab: np.ndarray) -> cubes.Face | None:
    """The cube from its best silhouette (work px / `s` = full px), or None with a specific abstention."""
    best = sils[0]
    box = tuple(v / s for v in best.box)
    result.cube_box, result.cube_kind = box, best.kind
    if best.cut:
        result.abstain("cube cut by the frame")
        return None
    if len(sils) > 1 and sils[1].score >= 0.8 * best.score and _similar_size(best.box, sils[1].box):
        result.abstain(f"two cube candidates disagree (silhouette scores {best.score:.2f} and {sils[1].score:.2f})")
        return None
    return _silhouette_face(best, lab, s)


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


def _on_card(box, cards: list) -> bool:
    """Whether a candidate `box` lies on a label card (its print is not the cube's; `cards.holds`)."""
    centre, area = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), (box[2] - box[0]) * (box[3] - box[1])
    return any(holds(card, centre, area) for card in cards)


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
        if i != main and stats[i][4] >= FRAGMENT_SHARE * stats[main][4]:
            region |= labels == i
    return region


def _confidence(face: cubes.Face, cfg: SizeConfig) -> float:
    """In [0, 1]: how face-like the cube's face is, how square, how many pixels it spans."""
    square = max(0.0, 1.0 - abs(face.squareness - 1.0) / 0.5)
    pixels = min(1.0, face.side_px / (2.0 * cfg.min_cube_px))
    return float(np.clip(face.score * square * (0.5 + 0.5 * pixels), 0.0, 1.0))
