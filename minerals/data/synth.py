"""The embedded synthetic museum-photo release, in the real MineralImage5k layout, with exact truth.

`generate(root, ...)` writes::

    <root>/mineral_images/...          photos: 1_syst/1_62476/IMG_6203.jpg, 2_mest/..., flat FMM_7_3620.JPG
    <root>/minerals_full.csv           id, path, en_name, ru_name, height, width, description, mineral_boxes,
                                       + truth: true_class, true_size_cm, cm_per_px, cube_side_px,
                                         cube_kind, specimen_box, cube_box, card_box, habit
    <root>/minerals_10.csv             id, path, en_name, ru_name of the 10 most frequent species
    <root>/minerals_36|98|360.csv      only when the release has at least that many species
    <root>/minerals_size.csv           path_final, ru_name, SIZESM (cm) + the truth columns
    <root>/segm/img/*.JPG, segm/mask/*.JPG   extra photos and their specimen masks (3-channel JPEG)
    <root>/synth_params.json           the parameters; `ensure_synthetic` reuses a release that matches

Boxes in the truth columns are JSON [x1, y1, x2, y2] in pixels (x2, y2 exclusive for the specimen's
mask box); `cube_box` is the cube's front face; `card_box` is empty when the photo has no label card.
`cube_kind` is the reference cube drawn (engraved, grey_1cm or printed_bar; empty without a cube), whose
edge (`synth_scene.CUBE_EDGE_CM`: 1.0, 1.27, 1.27 cm) is `cube_side_px * cm_per_px` up to the cube's depth
jitter and the camera's perspective.
`true_size_cm` is the specimen's longest extent (maximum Feret diameter) in the image plane, in cm, and
`cm_per_px` the scale at the specimen after the camera's homography. Same seed and parameters give the
same bytes, whatever the number of workers, under the same BLAS kernels: numpy's OpenBLAS picks them when
it loads, and `minerals.runtime.pin_cpu` (the CLI, before numpy loads) fixes them on any x86-64 machine; a
process that loaded numpy first uses the machine's own, and on an AVX-512 CPU a few pixels of some photos
then differ in their last bit.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from minerals.data.synth_scene import SynthStyle, encode_jpeg, render_photo, uniform
from minerals.data.synth_specimen import Species, load_species

__all__ = ["SynthStyle", "generate", "ensure_synthetic", "class_counts", "PARAMS_FILE", "GENERATOR_VERSION"]

PARAMS_FILE = "synth_params.json"
GENERATOR_VERSION = 6  # bump when the same parameters would draw different photos
SUBSET_SIZES = (10, 36, 98, 360)
OWL_LABELS = ("a stone", "a rock", "a mineral", "a gem", "a crystal", "a mineral ore")
COLLECTIONS = (  # (folder, weight, nested, extension)
    ("1_syst", 0.45, True, ".jpg"), ("2_mest", 0.15, True, ".JPG"), ("4_cryst", 0.1, True, ".jpg"),
    ("3_op", 0.05, True, ".JPG"), (None, 0.25, False, ".JPG"),
)
HABIT_WORDS = {"massive": "Massive aggregate", "banded": "Banded aggregate", "botryoidal": "Botryoidal crust",
               "prisms": "Prismatic crystals", "druse": "Crystal druse on matrix", "cubic": "Cubic crystals",
               "octahedral": "Octahedral crystals", "rhombohedral": "Rhombohedral crystals",
               "platy": "Platy aggregate", "radiating": "Radiating aggregate"}


def class_counts(classes: int, per_class: int) -> list[int]:
    """Photos per species, most frequent first: the top 10 fall from 2*per_class to per_class, the
    zero-shot tail from about 0.7*per_class down to 1, always fewer than per_class (long-tailed,
    non-increasing)."""
    top = [int(round(2 * per_class - per_class * i / 9)) for i in range(min(classes, 10))]
    tail = [max(1, min(per_class - 1, int(round(0.7 * per_class * 0.88 ** i)))) for i in range(max(classes - 10, 0))]
    return top + tail


@dataclass(frozen=True)
class _Params:
    classes: int
    per_class: int
    image_size: int
    seed: int
    n_size: int
    n_segm: int
    style: dict

    def as_json(self) -> dict:
        return {"generator": GENERATOR_VERSION, **asdict(self)}


def _resolve(classes=12, per_class=40, image_size=512, seed=0, n_size=None, n_segm=None, style=None) -> _Params:
    species = load_species()
    if not 1 <= int(classes) <= len(species):
        raise ValueError(f"classes must be between 1 and {len(species)} (the species in "
                         f"minerals/resources/synth_species.json), got {classes}")
    if int(per_class) < 2:
        raise ValueError(f"per_class must be at least 2, got {per_class}")
    if int(image_size) < 64:
        raise ValueError(f"image_size must be at least 64 px, got {image_size}")
    total = sum(class_counts(int(classes), int(per_class)))
    n_size = max(1, total // 4) if n_size is None else int(n_size)
    n_segm = 30 if n_segm is None else int(n_segm)
    if not 0 <= n_size <= total:
        raise ValueError(f"n_size must be between 0 and the {total} photos of the release, got {n_size}")
    if n_segm < 0:
        raise ValueError(f"n_segm must be non-negative, got {n_segm}")
    return _Params(int(classes), int(per_class), int(image_size), int(seed), n_size, n_segm,
                   asdict(_style(style)))


def _style(style) -> SynthStyle:
    if style is None:
        return SynthStyle()
    if isinstance(style, SynthStyle):
        return style
    if isinstance(style, dict):
        known = {f.name for f in fields(SynthStyle)}
        unknown = sorted(set(style) - known)
        if unknown:
            raise ValueError(f"unknown style fields {unknown}; SynthStyle has {sorted(known)}")
        return replace(SynthStyle(), **{k: tuple(v) if isinstance(v, list) else v for k, v in style.items()})
    raise TypeError(f"style must be a SynthStyle, a dict of its fields or None, not {type(style).__name__}")


# ---------------------------------------------------------------- per-photo work (runs in workers)

_WORKER: dict = {}


def _init_worker(style: SynthStyle, seed: int, image_size: int, build: str) -> None:
    _WORKER.update(style=style, seed=seed, image_size=image_size, build=Path(build), species=load_species())


def _init_pool_worker(*args) -> None:
    cv2.setNumThreads(1)  # one process per core: no nested OpenCV threads
    _init_worker(*args)


def _render_job(job: tuple) -> dict:
    """Render and write one photo (and its mask for the segm subset); return its CSV facts."""
    kind, index, species_index, rel = job
    w = _WORKER
    species: Species = w["species"][species_index]
    rng = np.random.default_rng([w["seed"], 1 if kind == "full" else 2, index])
    photo = render_photo(species, rng, w["image_size"], w["style"], grain_seed=w["seed"])
    quality = int(round(uniform(rng, w["style"].jpeg_quality)))
    if kind == "full":
        target = w["build"] / "mineral_images" / rel
    else:
        target = w["build"] / "segm" / "img" / rel
        mask = np.repeat(photo.mask[..., None] * 255, 3, axis=2).astype(np.int16)
        mask += rng.normal(0, 3, mask.shape).astype(np.int16)
        (w["build"] / "segm" / "mask" / rel).write_bytes(
            encode_jpeg(np.clip(mask, 0, 255).astype(np.uint8), 85))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(encode_jpeg(photo.image, quality))
    h, wd = photo.mask.shape
    return {"kind": kind, "index": index, "height": h, "width": wd, **photo.truth,
            "description": _description(rng, photo.truth), "mineral_boxes": _owl_boxes(rng, photo.truth, wd, h)}


def _description(rng: np.random.Generator, truth: dict) -> str:
    """Like the real free text: often empty, sometimes the size ("12x8.5 cm."), sometimes the habit."""
    x0, y0, x1, y1 = truth["specimen_box"]
    a, b = sorted(((x1 - x0) * truth["cm_per_px"], (y1 - y0) * truth["cm_per_px"]), reverse=True)
    size = f"{_half(a):g}x{_half(b):g} cm."
    u = rng.random()
    if u < 0.5:
        return ""
    if u < 0.8:
        return size
    return f"{HABIT_WORDS[truth['habit']]}. {size}"


def _half(x: float) -> float:
    return max(0.5, round(x * 2) / 2)


def _owl_boxes(rng: np.random.Generator, truth: dict, w: int, h: int) -> str:
    """Detector-like boxes (normalised 0-1) as the real OWL-ViT column: the specimen, often the cube
    and the card as extra "stones", sometimes a part of the specimen, sometimes nothing."""
    def norm(box, jitter):
        x0, y0, x1, y1 = box
        bw, bh = x1 - x0, y1 - y0
        j = rng.uniform(-jitter, jitter, 4) * [bw, bh, bw, bh]
        x0, y0, x1, y1 = np.clip([x0 + j[0], y0 + j[1], x1 + j[2], y1 + j[3]], 0, [w, h, w, h])
        return [round(float(x0 / w), 4), round(float(y0 / h), 4), round(float(x1 / w), 4), round(float(y1 / h), 4)]

    hits = []
    if rng.random() < 0.95:
        hits.append({"label": str(rng.choice(OWL_LABELS)), "confidence": round(float(rng.uniform(0.12, 0.6)), 4),
                     "box": norm(truth["specimen_box"], 0.04)})
        if rng.random() < 0.15:
            x0, y0, x1, y1 = truth["specimen_box"]
            part = [x0 + (x1 - x0) * rng.uniform(0, 0.4), y0 + (y1 - y0) * rng.uniform(0, 0.4),
                    x1 - (x1 - x0) * rng.uniform(0, 0.4), y1 - (y1 - y0) * rng.uniform(0, 0.4)]
            hits.append({"label": str(rng.choice(OWL_LABELS)), "confidence": round(float(rng.uniform(0.1, 0.3)), 4),
                         "box": norm(part, 0.02)})
    if truth["cube_outline_box"] and rng.random() < 0.8:
        hits.append({"label": str(rng.choice(["a stone", "a stone", "a gem", "a mineral"])),
                     "confidence": round(float(rng.uniform(0.1, 0.35)), 4),
                     "box": norm(truth["cube_outline_box"], 0.03)})
    if truth["card_box"] and rng.random() < 0.5:
        hits.append({"label": "a stone", "confidence": round(float(rng.uniform(0.1, 0.2)), 4),
                     "box": norm(truth["card_box"], 0.02)})
    hits.sort(key=lambda d: -d["confidence"])
    return json.dumps(hits)


# ---------------------------------------------------------------- the release


def _plan(p: _Params, species: tuple[Species, ...]) -> tuple[pd.DataFrame, list[str]]:
    """Which species each photo shows and where it lives; rows in id order."""
    rng = np.random.default_rng([p.seed, 0])
    counts = class_counts(p.classes, p.per_class)
    labels = np.repeat(np.arange(p.classes), counts)
    rng.shuffle(labels)
    n = len(labels)
    weights = np.array([c[1] for c in COLLECTIONS])
    coll = rng.choice(len(COLLECTIONS), n, p=weights / weights.sum())
    samples = rng.choice(np.arange(1000, 99999), n, replace=False)
    numbers = rng.choice(np.arange(1, 9999), n, replace=n > 9998)
    paths = []
    for i in range(n):
        folder, _, nested, ext = COLLECTIONS[coll[i]]
        if nested:
            prefix = folder.split("_")[0]
            paths.append(f"{folder}/{prefix}_{samples[i]}/IMG_{numbers[i]:04d}{ext}")
        else:
            paths.append(f"FMM_7_{samples[i]}{ext}")
    plan = pd.DataFrame({"id": np.arange(1, n + 1), "path": paths, "species": labels})
    segm_names = [f"IMG_{k:04d}.JPG" for k in rng.choice(np.arange(1, 9999), p.n_segm, replace=False)]
    return plan, segm_names


def _json_box(box) -> str:
    return "" if box is None else json.dumps(box)


def _write_release(build: Path, p: _Params, workers: int) -> None:
    species = load_species()
    plan, segm_names = _plan(p, species)
    segm_rng = np.random.default_rng([p.seed, 3])
    segm_species = segm_rng.integers(0, p.classes, p.n_segm)
    jobs = [("full", i, int(s), rel) for i, (s, rel) in enumerate(zip(plan["species"], plan["path"]))]
    jobs += [("segm", i, int(s), name) for i, (s, name) in enumerate(zip(segm_species, segm_names))]
    (build / "mineral_images").mkdir(parents=True)
    (build / "segm" / "img").mkdir(parents=True)
    (build / "segm" / "mask").mkdir(parents=True)
    init = (SynthStyle(**p.style), p.seed, p.image_size, str(build))
    bar = dict(total=len(jobs), desc="synthetic photos", unit="img", disable=None)
    if workers <= 1:
        _init_worker(*init)
        results = [_render_job(j) for j in tqdm(jobs, **bar)]
    else:
        # spawn, not fork: a forked child inherits OpenCV's thread pool without its threads and can hang
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_pool_worker, initargs=init) as pool:
            results = list(tqdm(pool.map(_render_job, jobs, chunksize=8), **bar))
    full = [r for r in results if r["kind"] == "full"]
    _write_tables(build, p, plan, full, species)


def _write_tables(build: Path, p: _Params, plan: pd.DataFrame, facts: list[dict], species) -> None:
    names = [species[i] for i in plan["species"]]
    df = pd.DataFrame({
        "id": plan["id"], "path": plan["path"],
        "en_name": [s.en_name for s in names], "ru_name": [s.ru_name for s in names],
        "height": [f["height"] for f in facts], "width": [f["width"] for f in facts],
        "description": [f["description"] for f in facts], "mineral_boxes": [f["mineral_boxes"] for f in facts],
        "true_class": [s.en_name for s in names],
        "true_size_cm": [round(f["true_size_cm"], 3) for f in facts],
        "cm_per_px": [round(f["cm_per_px"], 6) for f in facts],
        "cube_side_px": [None if f["cube_side_px"] is None else round(f["cube_side_px"], 2) for f in facts],
        "cube_kind": [f["cube_kind"] or "" for f in facts],
        "specimen_box": [_json_box(f["specimen_box"]) for f in facts],
        "cube_box": [_json_box(f["cube_box"]) for f in facts],
        "card_box": [_json_box(f["card_box"]) for f in facts],
        "habit": [f["habit"] for f in facts],
    })
    df.to_csv(build / "minerals_full.csv", index=False)
    ranked = [s.en_name for s in species[:p.classes]]  # catalogue order = frequency order (class_counts)
    for n in SUBSET_SIZES:
        if n == 10 or p.classes >= n:
            keep = df["en_name"].isin(ranked[:n])
            df.loc[keep, ["id", "path", "en_name", "ru_name"]].to_csv(build / f"minerals_{n}.csv", index=False)
    rng = np.random.default_rng([p.seed, 4])
    eligible = np.flatnonzero(df["cube_box"].ne("").to_numpy())
    if p.n_size > len(eligible):
        raise ValueError(f"n_size={p.n_size} but only {len(eligible)} photos show the cube; lower n_size")
    pick = np.sort(rng.choice(eligible, p.n_size, replace=False))
    size = df.iloc[pick]
    truth_cols = ["true_class", "true_size_cm", "cm_per_px", "cube_side_px", "cube_kind", "specimen_box", "cube_box",
                  "card_box"]
    pd.DataFrame({"path_final": size["path"].to_numpy(), "ru_name": size["ru_name"].to_numpy(),
                  "SIZESM": size["true_size_cm"].round(1).to_numpy(),
                  **{c: size[c].to_numpy() for c in truth_cols}}).to_csv(build / "minerals_size.csv", index=False)


def generate(root, classes: int = 12, per_class: int = 40, image_size: int = 512, seed: int = 0, *,
             n_size: int | None = None, n_segm: int | None = None, style=None, workers: int = 1) -> Path:
    """Write the whole synthetic release at `root` atomically and return `root` as a Path.

    classes: species, most frequent first (at most the catalogue's size); per_class: photos of the
    least frequent of the top 10 (see `class_counts`); image_size: the photos' longer side, px;
    n_size: photos in minerals_size.csv (default a quarter); n_segm: photos of the segm subset
    (default 30); style: a SynthStyle or a dict of its fields; workers: processes (same bytes for
    any value). The release is built in a temporary folder beside `root` and renamed into place;
    an existing synthetic release at `root` is replaced, any other non-empty folder is refused.
    """
    params = _resolve(classes, per_class, image_size, seed, n_size, n_segm, style)
    return _build(Path(root), params, int(workers), keep_identical=False)


def _build(root: Path, params: _Params, workers: int, keep_identical: bool) -> Path:
    _refuse_foreign(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-", dir=root.parent))
    try:
        _write_release(build, params, workers)
        (build / PARAMS_FILE).write_text(json.dumps(params.as_json(), indent=2, sort_keys=True) + "\n",
                                         encoding="utf-8")
        if not (keep_identical and read_params(root) == read_params(build)):
            _swap_into_place(build, root)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return root


def _refuse_foreign(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} is a file, not a folder; choose a new folder for the synthetic release")
    if root.exists() and any(root.iterdir()) and not (root / PARAMS_FILE).exists():
        raise FileExistsError(f"{root} exists and is not a synthetic release (no {PARAMS_FILE}); "
                              f"choose an empty or new folder")


def _swap_into_place(build: Path, root: Path) -> None:
    """Rename `build` to `root`, replacing an older synthetic release there."""
    old = None
    if root.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
        os.replace(root, old / "release")
    os.replace(build, root)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_params(root) -> dict | None:
    """The parameters a synthetic release at `root` was generated with, or None."""
    path = Path(root) / PARAMS_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: corrupt parameters file ({exc}); delete the folder to regenerate") from exc


def ensure_synthetic(root, **params) -> Path:
    """Generate the synthetic release at `root` once; reuse it while its parameters match, regenerate
    (atomically) when they differ. Accepts the keyword arguments of `generate`."""
    root = Path(root)
    unknown = sorted(set(params) - {"classes", "per_class", "image_size", "seed", "n_size", "n_segm", "style",
                                    "workers"})
    if unknown:
        raise TypeError(f"ensure_synthetic: unknown parameters {unknown}; it takes the keyword arguments of generate")
    workers = int(params.pop("workers", 1))
    resolved = _resolve(**params)
    if read_params(root) == json.loads(json.dumps(resolved.as_json())):  # tuples read back as lists
        return root
    # another process may finish the same release first: then its copy (the same bytes) is kept
    return _build(root, resolved, workers, keep_identical=True)
