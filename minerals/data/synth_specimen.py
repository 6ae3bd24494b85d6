"""Drawing one mineral specimen for the synthetic museum photos: species, habits, textures, lustre.

A specimen is drawn on its own canvas as an RGB float image (0-255) and an exact binary mask. Its
species shows in colour (jittered per specimen), texture, lustre (how light reflects) and habit
(the shape: massive lumps, banded slabs, botryoidal bubbles, crystals drawn as shaded convex
polyhedra, druses, radiating sprays). Look-alike species draw from overlapping appearance ranges.
Everything is vectorised numpy + OpenCV; the only Python loops are over primitives (crystals,
bubbles, needles), never over pixels.
"""

from __future__ import annotations

import colorsys
import functools
import json
from dataclasses import dataclass
from importlib import resources

import cv2
import numpy as np
from scipy.spatial import ConvexHull

SPECIES_FILE = "resources/synth_species.json"
HABITS = ("massive", "banded", "botryoidal", "prisms", "druse", "cubic", "octahedral", "rhombohedral",
          "platy", "radiating")
TEXTURES = ("smooth", "granular", "mottled", "banded", "veined", "striated")
SHIFT = 4  # sub-pixel bits for cv2 polygon drawing
ONE = 1 << SHIFT


@dataclass(frozen=True)
class Lustre:
    """Phong-style reflectance: ambient + diffuse * n.l + specular * (n.h)^shininess."""

    ambient: float
    diffuse: float
    specular: float
    shininess: float
    metal: float  # 1: highlights take the body colour (metals); 0: white highlights


LUSTRES = {
    "metallic": Lustre(0.22, 0.70, 0.85, 24, 1.0),
    "submetallic": Lustre(0.28, 0.70, 0.45, 18, 0.5),
    "vitreous": Lustre(0.38, 0.62, 0.65, 60, 0.0),
    "resinous": Lustre(0.32, 0.68, 0.35, 22, 0.2),
    "pearly": Lustre(0.45, 0.55, 0.30, 10, 0.0),
    "silky": Lustre(0.40, 0.60, 0.30, 12, 0.0),
    "waxy": Lustre(0.42, 0.58, 0.22, 8, 0.0),
    "dull": Lustre(0.45, 0.55, 0.04, 4, 0.0),
}


@dataclass(frozen=True)
class Species:
    """One catalogue entry of `resources/synth_species.json`."""

    en_name: str
    ru_name: str
    habits: dict
    colors: tuple
    lustre: str
    texture: str
    matrix: tuple
    lookalike: str


@functools.lru_cache(maxsize=1)
def load_species() -> tuple[Species, ...]:
    """The species catalogue, most frequent first; raises ValueError naming the file on a bad entry."""
    path = resources.files("minerals").joinpath(SPECIES_FILE)
    entries = json.loads(path.read_text(encoding="utf-8"))["species"]
    out = []
    for i, e in enumerate(entries):
        bad = ([h for h in e["habits"] if h not in HABITS] + ([e["lustre"]] if e["lustre"] not in LUSTRES else [])
               + ([e["texture"]] if e["texture"] not in TEXTURES else []))
        if bad or not e["colors"]:
            raise ValueError(f"{path}: species #{i} ({e.get('en')}): unknown or missing values {bad}; "
                             f"habits must be among {HABITS}, textures among {TEXTURES}")
        out.append(Species(e["en"], e["ru"], dict(e["habits"]), tuple(e["colors"]), e["lustre"], e["texture"],
                           tuple(e["matrix"]), e["lookalike"]))
    names = [s.en_name for s in out]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate species names")
    return tuple(out)


# ---------------------------------------------------------------- colour and noise


def hex_rgb(code: str) -> np.ndarray:
    """'#rrggbb' -> float32 RGB (0-255), shape (3,)."""
    return np.array([int(code[i:i + 2], 16) for i in (1, 3, 5)], np.float32)


def jitter_color(rgb: np.ndarray, rng: np.random.Generator, hue=0.02, sat=0.15, val=0.12) -> np.ndarray:
    """Perturb an RGB colour in HSV (hue shift in turns, relative saturation and value changes)."""
    h, s, v = colorsys.rgb_to_hsv(*(np.asarray(rgb, float) / 255.0))
    h = (h + rng.uniform(-hue, hue)) % 1.0
    s = float(np.clip(s * rng.uniform(1 - sat, 1 + sat), 0, 1))
    v = float(np.clip(v * rng.uniform(1 - val, 1 + val), 0, 1))
    return np.array(colorsys.hsv_to_rgb(h, s, v), np.float32) * 255.0


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: float) -> np.ndarray:
    """Band-limited noise, about N(0, 1), float32 `shape`; `cells` random values across the longer side."""
    h, w = shape
    n = max(2, int(round(cells)))
    gh, gw = (n, max(2, round(n * w / h))) if h >= w else (max(2, round(n * h / w)), n)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    out = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return out / max(float(out[::4, ::4].std()), 1e-6)


# ---------------------------------------------------------------- lighting


@dataclass(frozen=True)
class Light:
    """A key light in image coordinates (x right, y down, z toward the camera), unit vectors."""

    direction: np.ndarray
    half: np.ndarray

    @classmethod
    def from_angles(cls, azimuth_deg: float, elevation_deg: float) -> "Light":
        """Azimuth counter-clockwise from image right (90 = from the top), elevation above the image plane."""
        a, e = np.radians(azimuth_deg), np.radians(elevation_deg)
        d = np.array([np.cos(a) * np.cos(e), -np.sin(a) * np.cos(e), np.sin(e)], np.float32)
        h = d + np.array([0, 0, 1], np.float32)
        return cls(d, h / np.linalg.norm(h))


def shade(albedo: np.ndarray, normals: np.ndarray, light: Light, lustre: Lustre, gloss: float = 1.0) -> np.ndarray:
    """Shade albedo (..., 3) with unit normals (..., 3); returns RGB float32 (0-255, unclipped)."""
    ndl = np.clip(normals @ light.direction, 0, 1)
    ndh = np.clip(normals @ light.half, 0, 1)
    lum = lustre.ambient + lustre.diffuse * ndl
    spec = (lustre.specular * gloss) * ndh ** lustre.shininess
    tint = lustre.metal * np.clip(albedo * 1.8, 0, 255) + (1 - lustre.metal) * 255.0
    return albedo * lum[..., None] + spec[..., None] * tint


def height_normals(height: np.ndarray) -> np.ndarray:
    """Unit normals (h, w, 3) of a height field in pixels (image coordinates, z up out of the image)."""
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) * 0.125
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3) * 0.125
    inv = 1.0 / np.sqrt(gx * gx + gy * gy + 1.0)
    return np.stack([-gx * inv, -gy * inv, inv], axis=-1)


# ---------------------------------------------------------------- textures


def texture_albedo(kind: str, shape: tuple[int, int], c0: np.ndarray, c1: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Albedo (h, w, 3) float32 for a texture kind mixing the main colour c0 and the second colour c1."""
    h, w = shape
    size = max(h, w)
    var = (1.0 + 0.10 * smooth_noise(rng, shape, 5) + 0.05 * smooth_noise(rng, shape, 24)
           + 0.05 * smooth_noise(rng, shape, max(size / 4, 2)))
    if kind == "smooth":
        t = None
    elif kind == "granular":
        var = var + 0.12 * smooth_noise(rng, shape, size / 3)
        t = np.clip((smooth_noise(rng, shape, size / 5) - 1.1) * 2.0, 0, 1)
    elif kind == "mottled":
        t = 1.0 / (1.0 + np.exp(-3.0 * smooth_noise(rng, shape, rng.uniform(4, 10))))
    elif kind == "banded":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cy, cx = rng.uniform(-0.3, 1.3) * h, rng.uniform(-0.3, 1.3) * w
        r = np.sqrt((xx - cx) ** 2 + ((yy - cy) * rng.uniform(0.6, 1.6)) ** 2)
        r = r + 0.06 * size * smooth_noise(rng, shape, 4)
        period = size * rng.uniform(0.025, 0.08)
        t = (0.5 + 0.5 * np.sin(r * (2 * np.pi / period))) ** 2
    elif kind == "veined":
        n = smooth_noise(rng, shape, rng.uniform(4, 9))
        t = np.exp(-(n / rng.uniform(0.05, 0.12)) ** 2)
    elif kind == "striated":
        horizontal = rng.random() < 0.5
        grid = rng.standard_normal((3, int(size / 3)) if horizontal else (int(size / 3), 3)).astype(np.float32)
        stripes = cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)
        var = var + 0.10 * stripes
        t = None
    else:
        raise ValueError(f"unknown texture {kind!r}; choose one of {TEXTURES}")
    albedo = var[..., None] * c0
    if t is not None:
        albedo = albedo + t[..., None] * (var[..., None] * c1 - albedo)
    return albedo


# ---------------------------------------------------------------- convex crystal forms


def _prism(n_sides: int, top: float, apex: float | None) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n_sides, endpoint=False)
    ring = np.stack([np.cos(a), np.zeros_like(a), np.sin(a)], 1)
    pts = [ring, ring + [0, top, 0]]
    if apex is not None:
        pts.append(np.array([[0, apex, 0]]))
    return np.concatenate(pts)


def _rhomb(flatten: float) -> np.ndarray:
    cube = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    d = np.ones(3) / np.sqrt(3)
    return cube - flatten * (cube @ d)[:, None] * d


FORMS = {  # template vertices; y is the long axis, base at y = 0 for prisms
    "prism_pyramid": _prism(6, 1.0, 1.45),
    "prism_flat": _prism(6, 1.0, None),
    "prism_square": _prism(4, 1.0, 1.3),
    "bipyramid": np.concatenate([_prism(6, 0.0, 1.0)[:6], [[0, 1.0, 0], [0, -1.0, 0]]]),
    "cube": np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float),
    "octahedron": np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float),
    "rhomb": _rhomb(0.45),
    "tablet": np.array([[x * sx, y * sy, z] for sx in (-1, 1) for sy in (-1, 1) for z in (-0.05, 0.05)
                        for x, y in ((1.0, 0.45), (0.7, 0.75))], float),
}


@functools.lru_cache(maxsize=None)
def form_facets(name: str) -> tuple[np.ndarray, tuple[np.ndarray, ...], np.ndarray]:
    """Vertices (n, 3), facets (vertex indices in boundary order) and outward unit facet normals (f, 3)
    of a convex crystal form."""
    v = FORMS[name].astype(float)
    hull = ConvexHull(v)
    facets, normals, seen = [], [], set()
    for eq in hull.equations:
        key = tuple(np.round(eq, 5))
        if key in seen:
            continue
        seen.add(key)
        on = np.flatnonzero(np.abs(v @ eq[:3] + eq[3]) < 1e-6)
        centre = v[on].mean(0)
        u = v[on[0]] - centre
        u /= np.linalg.norm(u)
        w = np.cross(eq[:3], u)
        ang = np.arctan2((v[on] - centre) @ w, (v[on] - centre) @ u)
        facets.append(on[np.argsort(ang)])
        normals.append(eq[:3])
    return v, tuple(facets), np.array(normals)


def rotation(rng: np.random.Generator, tilt_deg: float, roll_deg: float | None = None) -> np.ndarray:
    """A 3x3 rotation: random spin about y, a tilt of up to `tilt_deg` off vertical, a random roll in-plane."""
    def rx(a):
        return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])

    def ry(a):
        return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])

    def rz(a):
        return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])

    roll = rng.uniform(-1, 1) * np.radians(tilt_deg if roll_deg is None else roll_deg)
    return rz(roll) @ rx(rng.uniform(-1, 1) * np.radians(tilt_deg)) @ ry(rng.uniform(0, 2 * np.pi))


def draw_crystal(rgb: np.ndarray, mask: np.ndarray, form: str, scale: np.ndarray, rot: np.ndarray,
                 origin: np.ndarray, color: np.ndarray, light: Light, lustre: Lustre,
                 rng: np.random.Generator) -> None:
    """Draw a flat-shaded convex crystal in place: `scale` (3,) px per template unit along x, y, z,
    `rot` 3x3, `origin` (x, y) image position of the template origin. Only facets facing the camera."""
    v, facets, normals = form_facets(form)
    world = (v * scale) @ rot.T  # x right, y up, z toward the camera
    n = (normals / scale) @ rot.T  # normals transform with the inverse transpose
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    n_img = (n * [1, -1, 1]).astype(np.float32)
    tint = rng.uniform(0.93, 1.07, (len(facets), 1)).astype(np.float32)
    colors = np.clip(shade(color[None] * tint, n_img, light, lustre), 0, 255)
    edges = np.clip(colors * 1.12 + 10, 0, 255)
    pts = np.round(np.stack([origin[0] + world[:, 0], origin[1] - world[:, 1]], 1) * ONE).astype(np.int32)
    outline = float(np.ptp(world[:, :2], axis=0).max()) > 12
    for f, c, e, nz in zip(facets, colors.tolist(), edges.tolist(), n_img[:, 2]):
        if nz <= 0.02:
            continue
        poly = pts[f]
        cv2.fillConvexPoly(rgb, poly, c, cv2.LINE_AA, SHIFT)
        cv2.fillConvexPoly(mask, poly, 1, cv2.LINE_8, SHIFT)
        if outline:
            cv2.polylines(rgb, [poly], True, e, 1, cv2.LINE_AA, SHIFT)


# ---------------------------------------------------------------- the specimen


@dataclass
class Specimen:
    """A drawn specimen: RGB float32 (h, w, 3) 0-255, binary mask uint8 (h, w) in {0, 1}, habit name,
    and opacity float32 (h, w) in (0, 1] where clear crystals let the backdrop through (None: opaque)."""

    rgb: np.ndarray
    mask: np.ndarray
    habit: str
    opacity: np.ndarray | None = None


def rock_polygon(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float,
                 flat: float = 0.7, n: int | None = None) -> np.ndarray:
    """An irregular lump outline (n, 2) float: harmonic radius wobble, angular jaggedness (fewer
    vertices: more angular), flattened base."""
    n = int(rng.integers(14, 48)) if n is None else n
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = np.ones(n)
    for k in range(2, 7):
        r += rng.normal(0, 0.14 / k ** 0.9) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    r += np.convolve(rng.normal(0, 0.035, n + 4), np.ones(3) / 3, "same")[2:-2]
    r = np.clip(r, 0.45, 1.4)  # within the canvas (1.7 x the size) for rx up to size / 2
    x, y = cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)
    y = np.minimum(y, cy + ry * flat)
    return np.stack([x, y], 1)


def _fill(mask: np.ndarray, poly: np.ndarray) -> None:
    cv2.fillPoly(mask, [np.round(poly * ONE).astype(np.int32)], 1, cv2.LINE_8, SHIFT)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys = np.flatnonzero(mask.any(1))
    xs = np.flatnonzero(mask.any(0))
    return int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1


def points_inside(mask: np.ndarray, k: int, rng: np.random.Generator, top_frac: float = 1.0) -> np.ndarray:
    """k random pixel positions (k, 2) as (x, y) inside a binary mask, restricted to the upper
    `top_frac` of its box; rejection sampling in the box (no scan of every pixel)."""
    y0, y1, x0, x1 = _bbox(mask)
    y1 = y0 + max(1, int(round((y1 - y0) * top_frac)))
    found = np.empty((0, 2), np.int64)
    for _ in range(20):
        cand = np.stack([rng.integers(x0, x1, 4 * k + 16), rng.integers(y0, y1, 4 * k + 16)], 1)
        found = np.concatenate([found, cand[mask[cand[:, 1], cand[:, 0]] > 0]])
        if len(found) >= k:
            return found[:k]
    ys, xs = np.nonzero(mask[y0:y1])  # a thin, sparse mask: fall back to the exact scan
    pick = rng.integers(len(xs), size=k)
    return np.stack([xs[pick], ys[pick] + y0], 1)


def _paint_body(rgb: np.ndarray, body: np.ndarray, albedo_fn, light: Light, lustre: Lustre,
                rng: np.random.Generator, relief: float, bumps: list[tuple[float, float, float]] | None = None,
                gloss: float = 1.0, facets: int = 0) -> None:
    """Shade a lump (binary `body`) as a rounded relief with noise bumps, in place, inside its box.

    `facets` random planes cut the relief into flat broken faces (rock); `bumps` are (x, y, r)
    spherical caps raised over the lump (botryoidal habit)."""
    y0, y1, x0, x1 = _bbox(body)
    sub = body[y0:y1, x0:x1]
    h, w = sub.shape
    dist = cv2.distanceTransform(sub, cv2.DIST_L2, 3)
    dmax = max(float(dist.max()), 1.0)
    height = dmax * relief * np.sqrt(np.clip(1 - (1 - dist / dmax) ** 2, 0, 1))
    height += dmax * relief * (0.12 * smooth_noise(rng, (h, w), 5) + 0.012 * smooth_noise(rng, (h, w), 40))
    if facets:
        yy, xx = np.ogrid[0:h, 0:w]
        for px, py in points_inside(sub, facets, rng):
            gx, gy = rng.normal(0, relief * 0.8, 2)
            plane = height[py, px] * rng.uniform(0.75, 0.97) + gx * (xx - px) + gy * (yy - py)
            np.minimum(height, plane.astype(np.float32), out=height)
    if bumps:
        for bx, by, br in bumps:
            ix0, iy0 = max(int(bx - br - x0), 0), max(int(by - br - y0), 0)
            ix1, iy1 = min(int(bx + br - x0) + 2, w), min(int(by + br - y0) + 2, h)
            if ix1 <= ix0 or iy1 <= iy0:
                continue
            yy, xx = np.ogrid[iy0:iy1, ix0:ix1]
            d2 = (xx + x0 - bx) ** 2 + (yy + y0 - by) ** 2
            cap = np.sqrt(np.clip(br * br - d2, 0, None)).astype(np.float32)
            base = dmax * relief * 0.9
            region = height[iy0:iy1, ix0:ix1]
            np.maximum(region, np.where(cap > 0, base + cap, 0), out=region)
    normals = height_normals(cv2.GaussianBlur(height, (0, 0), 1.0))
    color = shade(albedo_fn((h, w)), normals, light, lustre, gloss)
    region = rgb[y0:y1, x0:x1]
    np.copyto(region, color, where=sub[..., None].astype(bool))


def _crystal_form(species: Species, rng: np.random.Generator) -> str:
    habits = species.habits
    if "cubic" in habits:
        return "cube"
    if "octahedral" in habits:
        return "octahedron"
    if "rhombohedral" in habits:
        return "rhomb"
    if "platy" in habits and "prisms" not in habits:
        return "tablet"
    return "prism_pyramid" if rng.random() < 0.7 else str(rng.choice(["prism_flat", "prism_square", "bipyramid"]))


@dataclass
class _Sheet:
    """The canvas one specimen is drawn on, and the per-specimen draws every habit shares."""

    species: Species
    size: float
    rng: np.random.Generator
    light: Light
    c0: np.ndarray
    c1: np.ndarray
    rgb: np.ndarray
    mask: np.ndarray

    @property
    def centre(self) -> tuple[float, float]:
        return self.mask.shape[1] / 2, self.mask.shape[0] / 2

    @property
    def lustre(self) -> Lustre:
        return LUSTRES[self.species.lustre]

    def albedo(self, kind: str | None = None, a: np.ndarray | None = None, b: np.ndarray | None = None):
        """A texture function shape -> albedo (defaults: the species' texture and colours)."""
        kind, a, b = kind or self.species.texture, self.c0 if a is None else a, self.c1 if b is None else b
        return lambda shape: texture_albedo(kind, shape, a, b, self.rng)

    def lump(self, rx: float, ry: float, dy: float = 0.0, flat: tuple = (0.5, 0.9)) -> np.ndarray:
        """A binary lump outline centred `dy` px below the canvas centre."""
        cx, cy = self.centre
        body = np.zeros_like(self.mask)
        _fill(body, rock_polygon(self.rng, cx, cy + dy, rx, ry, flat=self.rng.uniform(*flat)))
        return body

    def matrix(self, rx: float, ry: float, dy: float = 0.0) -> np.ndarray:
        """Paint a dull host-rock lump (tinted by the species) and return its mask."""
        rng, species = self.rng, self.species
        body = self.lump(rx, ry, dy, flat=(0.55, 0.85))
        m_hex = species.matrix[int(rng.integers(len(species.matrix)))] if species.matrix else None
        m0 = jitter_color(hex_rgb(m_hex), rng) if m_hex else self.c0 * 0.6
        m0 = 0.7 * m0 + 0.3 * self.c0
        _paint_body(self.rgb, body, self.albedo("granular", m0, m0 * rng.uniform(0.6, 1.3)), self.light,
                    LUSTRES["dull"], rng, relief=rng.uniform(0.3, 0.6), facets=int(rng.integers(3, 10)))
        self.mask |= body
        return body


@dataclass
class _Crystal:
    """One crystal to draw: form, size s (px), origin (x, y), pose ('free' tilt in degrees, 'lying',
    or 'book' sharing `book_seed`'s orientation)."""

    form: str
    s: float
    x: float
    y: float
    tilt: float = 40.0
    pose: str = "free"
    book_seed: int = 0


def render_specimen(species: Species, size: float, rng: np.random.Generator, light: Light,
                    habit: str | None = None, max_draw: int = 400) -> Specimen:
    """Draw one specimen of `species` whose longest extent is about `size` px; cropped to its mask.

    Specimens larger than `max_draw` px are drawn at that size and enlarged (speed); the returned
    mask is the enlarged one, so it stays exactly what a photo shows."""
    if size > max_draw:
        spec = render_specimen(species, max_draw, rng, light, habit, max_draw)
        h, w = spec.mask.shape
        shape = (max(1, round(w * size / max_draw)), max(1, round(h * size / max_draw)))
        mask = (cv2.resize(spec.mask.astype(np.float32), shape, interpolation=cv2.INTER_LINEAR) > 0.5)
        opacity = None if spec.opacity is None else cv2.resize(spec.opacity, shape, interpolation=cv2.INTER_LINEAR)
        return Specimen(cv2.resize(spec.rgb, shape, interpolation=cv2.INTER_LINEAR), mask.astype(np.uint8),
                        spec.habit, opacity)
    if habit is None:
        names = list(species.habits)
        weights = np.array([species.habits[k] for k in names], float)
        habit = str(rng.choice(names, p=weights / weights.sum()))
    c0 = jitter_color(hex_rgb(species.colors[int(rng.integers(len(species.colors)))]), rng)
    c1 = _second_color(species, c0, rng)
    canvas = int(size * 1.7) + 8
    sheet = _Sheet(species, size, rng, light, c0, c1, np.zeros((canvas, canvas, 3), np.float32),
                   np.zeros((canvas, canvas), np.uint8))
    behind = None  # for crystal habits: what lies behind the crystals (the matrix, if any)
    if habit in ("massive", "banded"):
        _draw_lump(sheet, polished=habit == "banded")
    elif habit == "botryoidal":
        _draw_botryoidal(sheet)
    elif habit == "radiating":
        _draw_radiating(sheet)
    else:
        behind = _draw_crystals(sheet, habit)
    y0, y1, x0, x1 = _bbox(sheet.mask)
    y0, x0 = max(y0 - 2, 0), max(x0 - 2, 0)
    y1, x1 = min(y1 + 2, canvas), min(x1 + 2, canvas)
    rgb, mask, opacity = sheet.rgb[y0:y1, x0:x1], sheet.mask[y0:y1, x0:x1], None
    if behind is not None:
        crystal = mask.astype(bool) & ~behind[y0:y1, x0:x1].astype(bool)
        # facets are not perfectly flat in colour: inclusions, growth marks, dust
        var = 1 + 0.06 * smooth_noise(rng, mask.shape, 8) + 0.04 * smooth_noise(rng, mask.shape, max(size / 6, 2))
        rgb[crystal] *= var[crystal][:, None]
        if species.lustre == "vitreous" and float(c0.min()) > 150:
            # pale vitreous crystals (quartz, calcite...) are translucent where no matrix is behind them
            opacity = np.ones(crystal.shape, np.float32)
            opacity[crystal] = rng.uniform(0.55, 0.8)
    return Specimen(rgb.copy(), mask.copy(), habit, opacity)


def _draw_lump(sheet: _Sheet, polished: bool) -> None:
    """Massive habit: a broken lump with flat fracture faces; banded: a glossy, low-relief polished slab."""
    rng, half = sheet.rng, sheet.size / 2
    body = sheet.lump(half, half * rng.uniform(0.55, 0.95))
    if polished:
        _paint_body(sheet.rgb, body, sheet.albedo("banded"), sheet.light, sheet.lustre, rng,
                    relief=rng.uniform(0.1, 0.25), gloss=1.5)
    else:
        _paint_body(sheet.rgb, body, sheet.albedo(), sheet.light, sheet.lustre, rng, relief=rng.uniform(0.35, 0.7),
                    gloss=0.6, facets=int(rng.integers(4, 14)))
    sheet.mask |= body


def _draw_botryoidal(sheet: _Sheet) -> None:
    """Botryoidal habit: a crust of overlapping glossy spherical bubbles over a lump."""
    rng, size = sheet.rng, sheet.size
    body = sheet.lump(size * 0.45, size * 0.45 * rng.uniform(0.55, 0.9), flat=(0.5, 0.8))
    k = int(rng.integers(12, 45))
    centres = points_inside(body, k, rng)
    radii = size * rng.uniform(0.05, 0.16, k)
    bumps = [(float(x), float(y), float(r)) for (x, y), r in zip(centres, radii)]
    for bx, by, br in bumps:
        cv2.circle(body, (int(round(bx * ONE)), int(round(by * ONE))), int(round(br * ONE)), 1, -1, cv2.LINE_8, SHIFT)
    _paint_body(sheet.rgb, body, sheet.albedo(), sheet.light, sheet.lustre, rng, relief=0.3, bumps=bumps, gloss=1.3)
    sheet.mask |= body


def _draw_radiating(sheet: _Sheet) -> None:
    """Radiating habit: sprays of thin shaded needles fanning upwards, often from a host rock."""
    rng, size, half = sheet.rng, sheet.size, sheet.size / 2
    cx, top = sheet.centre
    if sheet.species.matrix and rng.random() < 0.7:
        body = sheet.matrix(half * 0.85, half * 0.45, dy=half * 0.3)
        top = _bbox(body)[0] + half * 0.25
    for _ in range(int(rng.integers(2, 5))):
        sx, sy = cx + rng.uniform(-0.45, 0.45) * half, top + rng.uniform(-0.1, 0.3) * half
        main = rng.uniform(60, 120)
        for _ in range(int(rng.integers(15, 50))):
            ang = np.radians(main + rng.uniform(-55, 55))
            length = size * rng.uniform(0.2, 0.55)
            ex, ey = sx + length * np.cos(ang), sy - length * np.sin(ang)
            thick = max(1, int(round(size * rng.uniform(0.004, 0.014))))
            n_img = np.array([np.sin(ang), np.cos(ang), 0.0], np.float32) * rng.uniform(-1, 1)
            n_img[2] = np.sqrt(max(1 - float(n_img @ n_img), 0.05))
            c = shade(sheet.c0 * rng.uniform(0.85, 1.15), (n_img / np.linalg.norm(n_img))[None], sheet.light,
                      sheet.lustre)[0]
            p0 = (int(round(sx * ONE)), int(round(sy * ONE)))
            p1 = (int(round(ex * ONE)), int(round(ey * ONE)))
            cv2.line(sheet.rgb, p0, p1, tuple(float(x) for x in c), thick, cv2.LINE_AA, SHIFT)
            cv2.line(sheet.mask, p0, p1, 1, thick, cv2.LINE_8, SHIFT)


def _draw_crystals(sheet: _Sheet, habit: str) -> np.ndarray:
    """Crystal habits (prisms, druse, cubic, octahedral, rhombohedral, platy) as shaded convex
    polyhedra, optionally on a host rock. Returns the mask of what lies behind the crystals."""
    rng, species, size, half = sheet.rng, sheet.species, sheet.size, sheet.size / 2
    cx, top = sheet.centre
    form = {"cubic": "cube", "octahedral": "octahedron", "rhombohedral": "rhomb", "platy": "tablet"}.get(habit)
    on_matrix = bool(species.matrix) and (habit == "druse" or rng.random() < 0.55)
    crystals: list[_Crystal] = []
    if habit == "druse":  # many small crystals over the upper part of a host rock
        body = sheet.matrix(half * 0.9, half * rng.uniform(0.55, 0.8))
        spots = points_inside(body, int(rng.integers(40, 130)), rng, top_frac=rng.uniform(0.6, 0.9))
        form = _crystal_form(species, rng)
        for x, y in spots:
            crystals.append(_Crystal(form, size * rng.uniform(0.04, 0.1), float(x), float(y), 70.0))
    else:
        if on_matrix:
            body = sheet.matrix(half * rng.uniform(0.6, 0.9), half * rng.uniform(0.3, 0.5), dy=half * 0.35)
            top = _bbox(body)[0] + 0.15 * half
        if habit == "prisms":
            form = _crystal_form(species, rng)
            if form in ("cube", "octahedron", "rhomb", "tablet"):
                form = "prism_pyramid"
            k = int(rng.integers(1, 8))
            for _ in range(k):
                crystals.append(_Crystal(form, size * rng.uniform(0.06, 0.15) * (1.6 if k == 1 else 1.0),
                                         cx + rng.uniform(-0.35, 0.35) * half, top + rng.uniform(-0.05, 0.25) * half))
            if k == 1 and not on_matrix:  # a loose crystal lies on the table, in the middle
                crystals[0].pose, crystals[0].x = "lying", cx
        elif habit == "platy":  # a book of plates sharing an orientation
            k = int(rng.integers(4, 18))
            book = int(rng.integers(2 ** 31))
            for j in range(k):
                crystals.append(_Crystal("tablet", size * rng.uniform(0.18, 0.32),
                                         cx + (j / max(k - 1, 1) - 0.5) * half * rng.uniform(0.6, 1.2),
                                         top + rng.uniform(-0.15, 0.15) * half, pose="book", book_seed=book))
        else:  # cubic, octahedral, rhombohedral clusters
            k = int(rng.integers(1, 6))
            for _ in range(k):
                crystals.append(_Crystal(form, size * rng.uniform(0.25, 0.45) * (1.6 if k == 1 else 1.0),
                                         cx + rng.uniform(-0.35, 0.35) * half, top + rng.uniform(-0.25, 0.2) * half,
                                         180.0))
    crystals.sort(key=lambda c: c.y)  # back (higher in the image) first
    behind = sheet.mask.copy()
    for c in crystals:
        x = c.x
        y_lo, y_hi = FORMS[c.form][:, 1].min(), FORMS[c.form][:, 1].max()
        if c.form.startswith("prism") or c.form == "bipyramid":
            # long axis capped so that the crystal stays on the canvas (no straight cuts at its edge)
            cap = (0.75 if c.pose == "lying" else 0.15 if habit == "druse" else 0.5) * size / (y_hi - y_lo)
            scale = np.array([c.s, min(c.s * rng.uniform(2.0, 5.0), cap), c.s])
        elif c.form == "tablet":
            scale = np.array([c.s, c.s, c.s * rng.uniform(0.6, 1.6)])
        else:
            scale = np.full(3, c.s * 0.5)
        if c.pose == "lying":
            a = rng.choice([-1, 1]) * np.pi / 2 + rng.uniform(-0.35, 0.35)
            rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
            rot = rz @ rotation(rng, 25, 0)
            x += scale[1] * (y_lo + y_hi) / 2 * np.sin(a)  # centre the crystal on its spot
        elif c.pose == "book":
            rot = rotation(np.random.default_rng(c.book_seed), 35) @ rotation(rng, 12, 12)
        else:
            rot = rotation(rng, c.tilt)
        color = jitter_color(sheet.c0, rng, hue=0.01, sat=0.08, val=0.08)
        draw_crystal(sheet.rgb, sheet.mask, c.form, scale, rot, np.array([x, c.y]), color, sheet.light,
                     sheet.lustre, rng)
    return behind


def _second_color(species: Species, c0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The texture's second colour: another catalogue colour of the species, or a darker/lighter shade."""
    if len(species.colors) > 1 and rng.random() < 0.5:
        return jitter_color(hex_rgb(species.colors[int(rng.integers(len(species.colors)))]), rng)
    if species.texture == "veined":
        return np.full(3, 25.0 if rng.random() < 0.5 else 235.0, np.float32)
    return np.clip(c0 * rng.uniform(0.45, 0.75) if rng.random() < 0.6 else c0 * 0.4 + 150, 0, 255)
