"""Composing one synthetic museum photo: backdrop, shadows, specimen, reference cube, label card, stand,
perspective, exposure, sensor grain; with the exact truth (mask, size, scale, boxes) of what was drawn.

Coordinates are pixels, x right and y down. The scene is first laid out fronto-parallel at a scale of
`px_per_cm` pixels per centimetre in the specimen's plane, then a mild homography tilts the camera.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields

import cv2
import numpy as np

from minerals.data.synth_specimen import Light, Species, hex_rgb, jitter_color, render_specimen, smooth_noise

CUBE_EDGE_CM = {"engraved": 1.0, "grey_1cm": 1.27, "printed_bar": 1.27}
"""edge in cm of each reference-cube kind the museum uses; the same as `minerals.size.kinds.EDGE_CM` (the data
layer may not import the size package; a test keeps the two equal). engraved: black, white "T.", "1 CM", "S.";
grey_1cm: grey metal printed "1cm" with 10 mm rulers; printed_bar: a printed "1 cm" and a 1 cm bar."""
REFERENCE_EDGE_CM = 1.27  # `SynthStyle.cube_frac` is the edge of a cube of this size
CUBE_PLACEMENTS = ("side", "far", "front", "card")
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class SynthStyle:
    """The appearance distribution of the synthetic photos; override fields to test beyond the defaults.

    Ranges are (low, high) drawn uniformly per photo; dicts are relative weights of the choices.
    """

    backdrops: dict = field(default_factory=lambda: {"white": 0.35, "grey": 0.3, "dark": 0.2, "colour": 0.15})
    aspects: dict = field(default_factory=lambda: {"4:3": 0.55, "3:2": 0.2, "3:4": 0.15, "1:1": 0.1})
    """width:height of the photo; the longer side is the release's image_size."""
    gradient: tuple = (0.0, 0.3)
    """top-to-bottom brightness change of the backdrop sweep (fraction)."""
    specimen_frac: tuple = (0.45, 0.9)
    """the specimen's target longest extent, as a fraction of the photo's shorter side."""
    cube_frac: tuple = (0.06, 0.13)
    """the front-face edge of a 1.27 cm cube, as a fraction of the photo's shorter side; a cube kind with
    another edge is drawn in proportion (an engraved 1 cm cube is 1 / 1.27 of it)."""
    cube_probability: float = 0.97
    cube_kinds: dict = field(default_factory=lambda: {"engraved": 0.4, "grey_1cm": 0.4, "printed_bar": 0.2})
    """weights of the reference-cube kinds (`CUBE_EDGE_CM`), as the museum mixes them."""
    cube_placement: dict = field(default_factory=lambda: {"side": 0.6, "far": 0.1, "front": 0.2, "card": 0.1})
    """side: on the specimen's table line, left or right of it; far: the same, but 15-40 % of the width away;
    front: nearer the camera, below it; card: beside the label card (side when the photo has no card)."""
    cube_elevation: tuple = (0.12, 0.35)
    """depth of the visible top face as a fraction of the edge (camera slightly above)."""
    cube_azimuth: tuple = (-0.2, 0.2)
    """horizontal offset of the top face as a fraction of the edge; shows a side face when non-zero."""
    cube_scale_jitter: float = 0.02
    """the cube's scale may differ from the specimen plane's by up to this fraction (depth difference)."""
    cube_grey: tuple = (95, 165)
    """grey level of the front face of the grey_1cm and printed_bar cubes (the top face is lighter, the side
    face darker); the engraved cube is black (18-50)."""
    card_probability: float = 0.55
    """chance of a white label card with lines of text, drawn only where it fits in front of or beside
    the specimen without touching it or the cube (about 40 % of the default photos get one)."""
    horizon_probability: float = 0.3
    """chance of a visible table edge behind the specimen (table and wall differ in brightness)."""
    stand_probability: float = 0.1
    """chance of a clear acrylic stand under the specimen (not part of its mask)."""
    light_azimuth: tuple = (100.0, 165.0)
    """key-light direction in degrees, counter-clockwise from image right (90 = from the top)."""
    light_elevation: tuple = (30.0, 65.0)
    """key-light elevation above the image plane, degrees."""
    shadow_strength: tuple = (0.15, 0.5)
    """darkening of the backdrop under the cast shadows (fraction)."""
    exposure: tuple = (0.85, 1.1)
    """overall brightness gain of the photo."""
    colour_cast: float = 0.04
    """per-channel gain jitter (white balance), fraction."""
    perspective: float = 0.03
    """corner displacement of the camera homography, as a fraction of the shorter side."""
    grain: tuple = (1.5, 4.0)
    """sensor noise standard deviation, grey levels."""
    jpeg_quality: tuple = (80, 95)

    def __post_init__(self):
        bad = sorted(set(self.backdrops) - {"white", "grey", "dark", "colour"}) + sorted(set(self.aspects) - set(ASPECTS))
        if bad:
            raise ValueError(f"SynthStyle: unknown backdrop kinds or aspects {bad}; backdrops are white, grey, dark, "
                             f"colour and aspects {', '.join(ASPECTS)}")
        for name, known in (("cube_kinds", CUBE_EDGE_CM), ("cube_placement", CUBE_PLACEMENTS)):
            weights = getattr(self, name)
            unknown = sorted(set(weights) - set(known))
            if unknown:
                raise ValueError(f"SynthStyle.{name}: unknown {', '.join(map(repr, unknown))}; "
                                 f"choose from {', '.join(known)}")
            if any(v < 0 for v in weights.values()) or sum(weights.values()) <= 0:
                raise ValueError(f"SynthStyle.{name} must have non-negative weights with a positive sum, got {weights}")
        for name in ("cube_probability", "card_probability", "horizon_probability", "stand_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"SynthStyle.{name} must be a probability in [0, 1], got {getattr(self, name)}")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple) and (len(value) != 2 or value[0] > value[1]):
                raise ValueError(f"SynthStyle.{f.name} must be a (low, high) range with low <= high, got {value}")


@dataclass
class Photo:
    """A rendered photo: RGB uint8 (h, w, 3), the specimen's exact mask uint8 (h, w) {0, 1}, and truth."""

    image: np.ndarray
    mask: np.ndarray
    truth: dict


ASPECTS = {"4:3": (4, 3), "3:2": (3, 2), "3:4": (3, 4), "1:1": (1, 1)}
COLOUR_BACKDROPS = ("#2f4f9a", "#4a6e58", "#c2b49a", "#7a8ca0", "#8a9a6a", "#b0a090")
LOCALITIES = ("Ural, Russia", "Dalnegorsk, Primorye", "Kola Peninsula", "Berezovsk, Middle Ural", "Transbaikalia",
              "Norilsk", "Altai", "Ilmen Mts.", "Kazakhstan", "Kamchatka", "Yakutia", "Murzinka", "Khibiny",
              "Sverdlovsk region", "Chelyabinsk region", "Tyrnyauz", "Dashkesan", "Mexico", "Bolivia", "Tsumeb")


def choose(rng: np.random.Generator, weights: dict) -> str:
    """Draw a key of `weights` with probability proportional to its value."""
    keys = list(weights)
    p = np.array([weights[k] for k in keys], float)
    if p.sum() <= 0 or (p < 0).any():
        raise ValueError(f"weights must be non-negative with a positive sum, got {weights}")
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def uniform(rng: np.random.Generator, bounds) -> float:
    lo, hi = bounds
    return float(rng.uniform(lo, hi))


def photo_shape(rng: np.random.Generator, style: SynthStyle, longest: int) -> tuple[int, int]:
    """(height, width) in px for a photo whose longer side is `longest`."""
    aw, ah = ASPECTS[choose(rng, style.aspects)]
    if aw >= ah:
        return int(round(longest * ah / aw)), longest
    return longest, int(round(longest * aw / ah))


@functools.lru_cache(maxsize=2)
def grain_bank(seed: int, side: int) -> np.ndarray:
    """A fixed field of sensor noise, uint8 (side + 64, side + 64, 3), 128 + 16 * N(0, 1) (clipped);
    photos add random windows of it with `cv2.addWeighted`."""
    noise = np.random.default_rng([seed, 0x6A41]).standard_normal((side + 64, side + 64, 3), np.float32)
    return np.clip(128 + 16 * noise, 0, 255).astype(np.uint8)


def backdrop(rng: np.random.Generator, style: SynthStyle, h: int, w: int) -> np.ndarray:
    """A studio backdrop RGB float32 (h, w, 3) at the given (low) resolution: base colour, vertical
    sweep, vignette, faint blotches. It is smooth, so callers draw it small and upsample."""
    kind = choose(rng, style.backdrops)
    if kind == "white":
        base = np.full(3, rng.uniform(205, 248), np.float32) + rng.uniform(-4, 4, 3).astype(np.float32)
    elif kind == "grey":
        base = np.full(3, rng.uniform(110, 200), np.float32) + rng.uniform(-5, 5, 3).astype(np.float32)
    elif kind == "dark":
        base = np.full(3, rng.uniform(12, 60), np.float32) + rng.uniform(-3, 3, 3).astype(np.float32)
    else:
        base = jitter_color(hex_rgb(COLOUR_BACKDROPS[int(rng.integers(len(COLOUR_BACKDROPS)))]), rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy / max(h - 1, 1) - 0.5, xx / max(w - 1, 1) - 0.5
    sweep = 1 + uniform(rng, style.gradient) * (1 if rng.random() < 0.5 else -1) * yy
    vignette = 1 - rng.uniform(0.0, 0.25) * (xx ** 2 + yy ** 2) * 2
    blotch = 1 + 0.03 * smooth_noise(rng, (h, w), 4)
    return (sweep * vignette * blotch)[..., None] * base


def _fits(box, w, h, margin) -> bool:
    x0, y0, x1, y1 = box
    return x0 >= margin and y0 >= margin and x1 <= w - margin and y1 <= h - margin


def _overlap(a, b, gap=0.0) -> bool:
    return not (a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1])


@dataclass
class Layout:
    """Pre-warp placement: specimen top-left, cube front-face top-left, card box, stand height."""

    spec_xy: tuple
    cube_xy: tuple | None
    card: tuple | None
    stand: float


def plan_layout(rng, style, w, h, spec_wh, cube_geom, want_card, want_stand) -> Layout | None:
    """Place specimen, cube and card without overlaps inside the frame; None when nothing fits.

    `cube_geom` is (edge, dx, dy) in px (see `draw_cube`) or None; the cube goes where `style.cube_placement`
    draws (for "card" the card is placed first and the cube beside it)."""
    sw, sh = spec_wh
    m = 0.03 * min(w, h)
    stand = rng.uniform(0.04, 0.09) * h if want_stand else 0.0
    for _ in range(40):
        y_table = rng.uniform(max(sh + stand + m, 0.5 * h), h - m)
        sx = rng.uniform(m, max(m, w - sw - m))
        sy = y_table - stand - sh
        spec_box = (sx, sy, sx + sw, y_table)
        if not _fits(spec_box, w, h, m * 0.5):
            continue
        placement = choose(rng, style.cube_placement) if cube_geom is not None else None
        if placement == "card" and not want_card:
            placement = "side"
        card = _place_card(rng, w, h, m, y_table, sy, spec_box, None) if placement == "card" else None
        if placement == "card" and card is None:
            continue
        cube_xy, cube_box = None, None
        if cube_geom is not None:
            c, dx, dy = cube_geom
            cw, ch = c + abs(dx), c + dy
            left = rng.random() < 0.5
            if placement in ("side", "far"):
                gap = rng.uniform(*((0.02, 0.12) if placement == "side" else (0.15, 0.4))) * w
                cx0 = sx - gap - cw if left else sx + sw + gap
                cy1 = y_table + rng.uniform(-0.01, 0.04) * h
            elif placement == "front":
                cx0 = rng.uniform(m, w - cw - m)
                cy1 = y_table + rng.uniform(0.3, 1.5) * ch
            else:  # on the table beside the label card
                gap = rng.uniform(0.01, 0.04) * w
                cx0 = card[0] - gap - cw if left else card[2] + gap
                cy1 = card[3] + rng.uniform(-0.02, 0.01) * h
            cube_box = (cx0, cy1 - ch, cx0 + cw, cy1)
            if not _fits(cube_box, w, h, m * 0.5) or _overlap(cube_box, spec_box, 0.01 * w) or \
                    (card is not None and _overlap(cube_box, card, 0.005 * w)):
                continue
            cube_xy = (cx0 + max(-dx, 0), cy1 - c)
        if want_card and card is None:
            card = _place_card(rng, w, h, m, y_table, sy, spec_box, cube_box)
        return Layout((sx, sy), cube_xy, card, stand)
    return None


def _place_card(rng, w, h, m, y_table, sy, spec_box, cube_box):
    """A label-card box in front of the specimen if one fits, else anywhere beside it; None if none fits."""
    cw = rng.uniform(0.22, 0.42) * w
    ch = cw * rng.uniform(0.28, 0.5)
    for attempt in range(16):
        x0 = rng.uniform(m, max(m, w - cw - m))
        low = y_table + 0.01 * h if attempt < 6 else sy
        y0 = rng.uniform(low, max(low, h - ch - m))
        box = (x0, y0, x0 + cw, y0 + ch)
        if _fits(box, w, h, m * 0.5) and not _overlap(box, spec_box, 0.01 * w) and \
                (cube_box is None or not _overlap(box, cube_box, 0.01 * w)):
            return box
    return None


def draw_cube(img: np.ndarray, rng: np.random.Generator, style: SynthStyle, kind: str, x0: float, y0: float,
              c: float, dx: float, dy: float) -> np.ndarray:
    """Draw a reference cube of `kind` (`CUBE_EDGE_CM`) in place on uint8 RGB `img`: front face top-left
    (x0, y0), edge c px, top face offset (dx, -dy) px, its faces' markings printed or engraved with OpenCV
    text mapped onto each face in perspective. Returns the pre-warp outline points (8, 2): front quad then
    the silhouette's box."""
    front = np.array([[x0, y0], [x0 + c, y0], [x0 + c, y0 + c], [x0, y0 + c]])
    top = np.array([[x0, y0], [x0 + c, y0], [x0 + c + dx, y0 - dy], [x0 + dx, y0 - dy]])
    side = (np.array([[x0 + c, y0], [x0 + c + dx, y0 - dy], [x0 + c + dx, y0 + c - dy], [x0 + c, y0 + c]])
            if dx > 0 else np.array([[x0, y0], [x0 + dx, y0 - dy], [x0 + dx, y0 + c - dy], [x0, y0 + c]]))
    # the faces as seen upright from the camera: corners top-left, top-right, bottom-right, bottom-left
    faces = {"front": front, "top": top[[3, 2, 1, 0]], "side": side if dx > 0 else side[[1, 0, 3, 2]]}
    g = uniform(rng, (18, 50)) if kind == "engraved" else uniform(rng, style.cube_grey)

    def fill(poly, level):
        col = tuple(float(np.clip(level + t, 0, 255)) for t in rng.uniform(-3, 3, 3))
        cv2.fillConvexPoly(img, np.round(poly * 16).astype(np.int32), col, cv2.LINE_AA, 4)

    if abs(dx) > 0.5:
        fill(side, g * rng.uniform(0.6, 0.8))
    fill(top, min(g * rng.uniform(1.2, 1.45) + 10, 245))
    fill(front, g)
    n = 2 * max(4, int(np.ceil(c)))  # face canvases at twice the face's resolution
    if kind == "engraved":
        _draw_engraved(img, rng, faces, n, c, dy)
    else:
        ix0, iy0, ix1, iy1 = int(np.ceil(x0)), int(np.ceil(y0)), int(x0 + c), int(y0 + c)
        if ix1 > ix0 + 2 and iy1 > iy0 + 2:  # brushed metal: a faint vertical gradient over the front face
            ramp = np.linspace(rng.uniform(0.92, 1.0), rng.uniform(1.0, 1.08), iy1 - iy0, dtype=np.float32)
            patch = img[iy0:iy1, ix0:ix1].astype(np.float32) * ramp[:, None, None]
            img[iy0:iy1, ix0:ix1] = np.clip(patch, 0, 255).astype(np.uint8)
        if kind == "grey_1cm":
            _draw_grey_ruled(img, rng, faces, n, dy)
        else:
            _draw_printed_bar(img, rng, faces, n)
    silhouette = np.concatenate([front, top, side])
    return np.concatenate([front, _box_corners(silhouette)])


def _draw_engraved(img, rng, faces, n, c, dy) -> None:
    """Black cube: a soft sheen across the front face, a lit front-top edge, white engraved "T." over
    "1 CM" on one face and "S." on the other visible one (front and top swap at random)."""
    u = np.linspace(0, 1, n, dtype=np.float32)
    band = np.exp(-((u[None, :] + u[:, None] - rng.uniform(0.5, 1.5)) / rng.uniform(0.25, 0.5)) ** 2)
    _ink_face(img, faces["front"], (band * rng.uniform(20, 50)).astype(np.uint8), (190, 190, 195))
    p, q = faces["front"][0], faces["front"][1]
    _line(img, p, q, (150, 150, 155), max(1, int(round(c / 40))))
    ink = tuple(float(v) for v in np.full(3, rng.uniform(185, 235)))
    thick = max(1, int(round(n / 36)))
    letters = np.zeros((n, n), np.uint8)
    _print(letters, "T.", 0.53 * n, 0.33 * n, 0.32 * n, thick)
    _print(letters, "1 CM", 0.5 * n, 0.72 * n, 0.15 * n, thick)
    s_face = np.zeros((n, n), np.uint8)
    _print(s_face, "S.", 0.5 * n, 0.5 * n, 0.36 * n, thick)
    front, other = (letters, s_face) if rng.random() < 0.6 else (s_face, letters)
    _ink_face(img, faces["front"], front, ink)
    if dy > 0.15 * c:  # the top face is too thin to show legible letters below that
        _ink_face(img, _turned(faces["top"], rng), other, ink)


def _draw_grey_ruled(img, rng, faces, n, dy) -> None:
    """Grey metal cube: "1cm" over a 10 mm ruler on the front face, "10mm" and a ruler on the top face
    (the 10 mm ruler is 10 / 12.7 of the face's edge, so visibly shorter)."""
    ink = tuple(float(v) for v in np.full(3, rng.uniform(15, 50)))
    thick = max(1, int(round(n / 40)))
    mm = n / (CUBE_EDGE_CM["grey_1cm"] * 10)  # canvas px per mm
    face = np.zeros((n, n), np.uint8)
    _print(face, "1cm", 0.5 * n, 0.45 * n, 0.2 * n, thick)
    _ruler(face, 0.5 * n, 0.7 * n, mm, thick)
    _ink_face(img, faces["front"], face, ink)
    if dy > 1.5:
        top = np.zeros((n, n), np.uint8)
        _print(top, "10mm", 0.5 * n, 0.58 * n, 0.2 * n, thick)
        _ruler(top, 0.5 * n, 0.3 * n, mm, thick)
        _ink_face(img, _turned(faces["top"], rng), top, ink)


def _draw_printed_bar(img, rng, faces, n) -> None:
    """Printed cube: "1 cm" (or "1 CM") under a bar exactly 1 cm long with end ticks, on the front face."""
    ink = tuple(float(v) for v in np.full(3, rng.uniform(20, 55)))
    thick = max(1, int(round(n / 35)))
    face = np.zeros((n, n), np.uint8)
    label = "1 cm" if rng.random() < 0.75 else "1 CM"
    (tw, th), _ = cv2.getTextSize(label, FONT, 1.0, thick)
    _print(face, label, 0.5 * n, 0.5 * n + 0.55 * n * th / tw * 0.6, 0.55 * n * th / tw, thick)
    bar = n / CUBE_EDGE_CM["printed_bar"]  # the printed bar is 1 cm long
    by, bx0, bx1 = 0.36 * n, (n - bar) / 2, (n + bar) / 2
    for p, q in (((bx0, by), (bx1, by)), ((bx0, by - 0.06 * n), (bx0, by + 0.06 * n)),
                 ((bx1, by - 0.06 * n), (bx1, by + 0.06 * n))):
        _line(face, p, q, 255, thick)
    _ink_face(img, faces["front"], face, ink)


def _turned(quad: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The top face's markings face the camera or (half the time) the back of the cube."""
    return quad if rng.random() < 0.5 else np.roll(quad, 2, axis=0)


def _print(canvas: np.ndarray, text: str, cx: float, cy: float, height: float, thick: int) -> None:
    """Write `text` (value 255) on a uint8 canvas, centred at (cx, cy) px with capital height `height` px."""
    (tw, th), _ = cv2.getTextSize(text, FONT, 1.0, thick)
    scale = height / th
    cv2.putText(canvas, text, (int(round(cx - tw * scale / 2)), int(round(cy + height / 2))), FONT, scale, 255, thick,
                cv2.LINE_AA)


def _ruler(canvas: np.ndarray, cx: float, y: float, mm: float, thick: int) -> None:
    """A 10 mm ruler (value 255, uint8 canvas) centred at cx on line y: a base line, ticks every mm, longer at 0, 5, 10 mm."""
    x0 = cx - 5 * mm
    pts = [((x0, y), (x0 + 10 * mm, y))]
    for k in range(11):
        t = (0.09 if k in (0, 10) else 0.065 if k == 5 else 0.04) * canvas.shape[0]
        pts.append(((x0 + k * mm, y - t), (x0 + k * mm, y + t * 0.4)))
    for p, q in pts:
        _line(canvas, p, q, 255, thick)


def _line(canvas: np.ndarray, p, q, colour, thick: int) -> None:
    """An anti-aliased line from `p` to `q` (`(x, y)` px, sub-pixel: 4 fractional bits) on `canvas`."""
    cv2.line(canvas, tuple(int(v) for v in np.round(np.asarray(p, np.float64) * 16)),
             tuple(int(v) for v in np.round(np.asarray(q, np.float64) * 16)), colour, thick, cv2.LINE_AA, 4)


def _ink_face(img: np.ndarray, quad: np.ndarray, alpha: np.ndarray, ink: tuple) -> None:
    """Blend colour `ink` into uint8 RGB `img` with opacity `alpha` / 255 (a square uint8 canvas drawn at
    twice the face's resolution and halved here) mapped onto the face `quad` (corners top-left, top-right,
    bottom-right, bottom-left, px)."""
    x0, y0 = np.maximum(np.floor(quad.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(quad.max(0)).astype(int) + 2, [img.shape[1], img.shape[0]])
    if x1 <= x0 or y1 <= y0:
        return
    alpha = cv2.resize(alpha, (alpha.shape[1] // 2, alpha.shape[0] // 2), interpolation=cv2.INTER_AREA)
    n = alpha.shape[0]
    src = np.float32([[0, 0], [n, 0], [n, n], [0, n]])
    hom = cv2.getPerspectiveTransform(src, (quad - [x0, y0]).astype(np.float32))
    a = cv2.warpPerspective(alpha, hom, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR)[..., None] / np.float32(255)
    roi = img[y0:y1, x0:x1]
    roi[...] = np.clip(roi * (1 - a) + np.float32(ink) * a + 0.5, 0, 255).astype(np.uint8)


def _box_corners(points: np.ndarray) -> np.ndarray:
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def draw_card(img: np.ndarray, rng: np.random.Generator, box, species: Species) -> None:
    """Draw a white museum label card with lines of text, in place on uint8 RGB `img`."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    paper = np.clip(np.array([rng.uniform(228, 252)] * 3) + [4, 2, -6] * rng.uniform(0, 1.5, 3), 0, 255)
    cv2.rectangle(img, (x0, y0), (x1, y1), tuple(float(v) for v in paper), -1)
    if rng.random() < 0.5:
        inset = max(2, int(0.04 * (y1 - y0)))
        cv2.rectangle(img, (x0 + inset, y0 + inset), (x1 - inset, y1 - inset), (70, 70, 70), 1, cv2.LINE_AA)
    lines = []
    if rng.random() < 0.6:
        lines.append(species.en_name.upper())
    lines.append(str(rng.choice(LOCALITIES)))
    lines.append(f"No {int(rng.integers(1000, 99999))}")
    if rng.random() < 0.5:
        lines.append("Fersman Mineralogical Museum")
    if rng.random() < 0.4:
        lines.append(f"Coll. {int(rng.integers(1890, 2015))}")
    font = int(rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX]))
    if rng.random() < 0.3:
        font |= cv2.FONT_ITALIC
    ink = tuple(float(v) for v in np.full(3, rng.uniform(10, 60)))
    cw, ch = x1 - x0, y1 - y0
    line_h = ch / (len(lines) + 1)
    for i, text in enumerate(lines):
        (tw, th), _ = cv2.getTextSize(text, font, 1.0, 1)
        scale = min(0.85 * cw / tw, 0.55 * line_h / th)
        thick = 2 if (i == 0 and scale * th > 12) else 1
        tx = x0 + (cw - tw * scale) / 2
        ty = y0 + line_h * (i + 1) + th * scale / 2
        cv2.putText(img, text, (int(tx), int(ty)), font, scale, ink, thick, cv2.LINE_AA)


def feret_px(mask: np.ndarray) -> float:
    """Longest extent (maximum Feret diameter) of a binary mask, px, measured between pixel corners."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    edge = np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.float32)
    pts = np.concatenate([edge + [dx, dy] for dx in (0, 1) for dy in (0, 1)]).astype(np.float32)
    hull = cv2.convexHull(pts).reshape(-1, 2)
    d = hull[:, None, :] - hull[None, :, :]
    return float(np.sqrt((d ** 2).sum(-1)).max())


def render_photo(species: Species, rng: np.random.Generator, longest: int, style: SynthStyle,
                 grain_seed: int = 0) -> Photo:
    """Render one museum photo of `species` whose longer side is `longest` px."""
    h, w = photo_shape(rng, style, longest)
    short = min(h, w)
    light = Light.from_angles(uniform(rng, style.light_azimuth), uniform(rng, style.light_elevation))
    q = 4  # the backdrop and the shadows are smooth: drawn at a quarter of the resolution
    hq, wq = -(-h // q), -(-w // q)
    bg = backdrop(rng, style, hq, wq)

    spec = render_specimen(species, uniform(rng, style.specimen_frac) * short, rng, light)
    has_cube = rng.random() < style.cube_probability
    kind = choose(rng, style.cube_kinds) if has_cube else None
    cube_px_per_cm = uniform(rng, style.cube_frac) * short / REFERENCE_EDGE_CM
    c = cube_px_per_cm * CUBE_EDGE_CM[kind] if has_cube else 0.0  # the front face's edge, px
    cube_geom = (c, uniform(rng, style.cube_azimuth) * c, uniform(rng, style.cube_elevation) * c) if has_cube else None
    want_card = rng.random() < style.card_probability
    want_stand = rng.random() < style.stand_probability
    smask, srgb, sopa = spec.mask, spec.rgb, spec.opacity
    layout = None
    for _ in range(8):
        sh, sw = smask.shape
        if sw <= 0.9 * w and sh <= 0.85 * h:
            layout = plan_layout(rng, style, w, h, (sw, sh), cube_geom, want_card, want_stand)
            if layout is not None:
                break
        f = 0.85 * min(1.0, 0.9 * w / sw, 0.85 * h / sh)
        size = (max(1, int(sw * f)), max(1, int(sh * f)))
        srgb = cv2.resize(srgb, size, interpolation=cv2.INTER_AREA)
        smask = (cv2.resize(smask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5).astype(np.uint8)
        sopa = None if sopa is None else cv2.resize(sopa, size, interpolation=cv2.INTER_AREA)
    if layout is None:
        raise RuntimeError("could not lay out the synthetic photo; widen style.specimen_frac or cube_frac")
    sh, sw = smask.shape
    sx, sy = int(round(layout.spec_xy[0])), int(round(layout.spec_xy[1]))

    # the specimen plane's scale: the cube's, up to a small depth difference
    px_per_cm = cube_px_per_cm / (1 + rng.uniform(-1, 1) * style.cube_scale_jitter)

    if rng.random() < style.horizon_probability:  # the table's back edge, a little above the specimen's base
        edge = (sy + sh * rng.uniform(0.3, 0.8)) / q
        step = 1 / (1 + np.exp(np.clip((edge - np.arange(hq, dtype=np.float32)) / rng.uniform(0.3, 2.0), -30, 30)))
        bg *= (1 + rng.uniform(-0.12, 0.12) * step)[:, None, None]

    # soft shadows cast away from the light by the specimen and the cube
    occ = np.zeros((hq, wq), np.float32)
    small = cv2.resize(smask.astype(np.float32), (max(1, sw // q), max(1, sh // q)), interpolation=cv2.INTER_AREA)
    oy, ox = sy // q, sx // q
    occ[oy:oy + small.shape[0], ox:ox + small.shape[1]] = small[:hq - oy, :wq - ox]
    if layout.cube_xy is not None:
        cx0, cy0 = layout.cube_xy
        quad = np.array([[cx0, cy0], [cx0 + c, cy0], [cx0 + c, cy0 + c], [cx0, cy0 + c]]) / q
        cv2.fillConvexPoly(occ, np.round(quad * 16).astype(np.int32), 1.0, cv2.LINE_AA, 4)
    shift = -light.direction[:2] / max(light.direction[2], 0.3) * 0.03 * short / q
    m_aff = np.float32([[1, 0, shift[0]], [0, 1, abs(shift[1]) * 0.5 + 0.01 * short / q]])
    cast = cv2.warpAffine(occ, m_aff, (wq, hq))
    soft = (cv2.GaussianBlur(cast, (0, 0), 0.03 * short / q) * 0.7
            + cv2.GaussianBlur(occ, (0, 0), max(0.006 * short / q, 0.5)) * 0.5)
    bg *= (1 - uniform(rng, style.shadow_strength) * np.clip(soft, 0, 1))[..., None]
    img = cv2.resize(np.clip(bg, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)

    if layout.stand > 0:
        _draw_stand(img, sx, sy, sw, sh, layout.stand, short)
    region = img[sy:sy + sh, sx:sx + sw]
    if sopa is not None:  # translucent crystals: the backdrop shows through
        srgb = srgb * sopa[..., None] + region * (1 - sopa[..., None])
    np.copyto(region, np.clip(srgb, 0, 255).astype(np.uint8), where=smask[..., None].astype(bool))

    cube_pts = None
    if layout.cube_xy is not None:
        cube_pts = draw_cube(img, rng, style, kind, *layout.cube_xy, c, *cube_geom[1:])
    if layout.card is not None:
        draw_card(img, rng, layout.card, species)

    true_size_cm = feret_px(smask) / px_per_cm

    # camera: mild homography, applied to the photo, the mask and the drawn outlines
    d = style.perspective * short
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = (src + rng.uniform(-d, d, (4, 2))).astype(np.float32)
    hom = cv2.getPerspectiveTransform(src, dst)
    img = cv2.warpPerspective(img, hom, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask, (mx, my) = _warp_mask(smask, sx, sy, hom, w, h)

    def warp_pts(p):
        return cv2.perspectiveTransform(np.asarray(p, np.float32).reshape(-1, 1, 2), hom).reshape(-1, 2)

    ys, xs = np.nonzero(mask)
    full = np.zeros((h, w), np.uint8)
    full[my:my + mask.shape[0], mx:mx + mask.shape[1]] = mask
    probe = _unwarp_probe(hom, np.array([xs.mean() + mx, ys.mean() + my]))
    (ax, ay), (bx, by) = probe[1] - probe[0], probe[2] - probe[0]
    local_scale = float(np.sqrt(abs(ax * by - ay * bx)))  # linear scale of the homography there
    truth = {
        "true_size_cm": true_size_cm,
        "cm_per_px": 1.0 / (px_per_cm * local_scale),
        "specimen_box": [int(xs.min()) + mx, int(ys.min()) + my, int(xs.max()) + 1 + mx, int(ys.max()) + 1 + my],
        "cube_box": None, "cube_outline_box": None, "cube_side_px": None, "cube_kind": None, "card_box": None,
        "habit": spec.habit,
    }
    if cube_pts is not None:
        wp = warp_pts(cube_pts)
        front, outline = wp[:4], wp[4:]
        truth["cube_kind"] = kind
        truth["cube_box"] = _round_box(front)
        truth["cube_outline_box"] = _round_box(outline)
        truth["cube_side_px"] = float(np.mean([np.linalg.norm(front[i] - front[(i + 1) % 4]) for i in range(4)]))
    if layout.card is not None:
        x0, y0, x1, y1 = layout.card
        truth["card_box"] = _round_box(warp_pts([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))

    # exposure and white balance in one per-channel curve, then sensor grain
    gains = uniform(rng, style.exposure) * (1 + rng.uniform(-1, 1, 3) * style.colour_cast)
    lut = np.clip(np.arange(256, dtype=np.float32)[:, None] * gains[None, :], 0, 255).astype(np.uint8)
    img = cv2.LUT(img, lut.reshape(256, 1, 3))
    bank = grain_bank(grain_seed, max(h, w))
    gy, gx = rng.integers(0, 64, 2)
    k = uniform(rng, style.grain) / 16.0
    img = cv2.addWeighted(img, 1.0, bank[gy:gy + h, gx:gx + w], k, -128.0 * k)
    return Photo(img, full, truth)


def _draw_stand(img: np.ndarray, sx: int, sy: int, sw: int, sh: int, height: float, short: int) -> None:
    """A clear acrylic block under the specimen, drawn in place (lightens what is behind it)."""
    x0, x1 = sx + 0.3 * sw, sx + 0.7 * sw
    y_top, y_bot = sy + 0.9 * sh, sy + sh + height
    block = np.array([[x0, y_top], [x1, y_top], [x1 + 0.05 * sw, y_bot], [x0 - 0.05 * sw, y_bot]])
    bx0, by0 = np.floor(block.min(0)).astype(int)
    bx1, by1 = np.ceil(block.max(0)).astype(int) + 1
    bx0, by0 = max(bx0, 0), max(by0, 0)
    roi = img[by0:by1, bx0:bx1]
    poly = np.round((block - [bx0, by0]) * 16).astype(np.int32)
    lit = roi.copy()
    cv2.fillConvexPoly(lit, poly, (235, 240, 245), cv2.LINE_AA, 4)
    cv2.addWeighted(roi, 0.75, lit, 0.25, 0, dst=roi)
    cv2.polylines(roi, [poly], True, (225, 230, 235), max(1, short // 300), cv2.LINE_AA, 4)


def _warp_mask(mask: np.ndarray, x: int, y: int, hom: np.ndarray, w: int, h: int):
    """Warp a mask placed at (x, y) through `hom` within its own box; returns (mask, (x, y)) in the photo."""
    mh, mw = mask.shape
    corners = np.float32([[x, y], [x + mw, y], [x + mw, y + mh], [x, y + mh]]).reshape(-1, 1, 2)
    out = cv2.perspectiveTransform(corners, hom).reshape(-1, 2)
    x0, y0 = np.maximum(np.floor(out.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(out.max(0)).astype(int) + 2, [w, h])
    shift_in = np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], float)
    shift_out = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], float)
    local = shift_out @ hom @ shift_in
    warped = cv2.warpPerspective(mask * np.uint8(255), local, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR)
    return (warped > 127).astype(np.uint8), (int(x0), int(y0))


def _unwarp_probe(hom: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Three points one pre-warp pixel apart around the pre-image of `centre`, mapped through `hom`."""
    inv = np.linalg.inv(hom)
    p = inv @ np.array([centre[0], centre[1], 1.0])
    p = p[:2] / p[2]
    pts = np.float32([p, p + [1, 0], p + [0, 1]]).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(pts, hom).reshape(-1, 2)


def _round_box(points: np.ndarray) -> list[float]:
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    return [round(float(x0), 1), round(float(y0), 1), round(float(x1), 1), round(float(y1), 1)]


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of an RGB uint8 image (deterministic for a given OpenCV build)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return buf.tobytes()
