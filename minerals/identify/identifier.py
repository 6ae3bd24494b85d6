"""Identify specimens in photos: top-k species, the CAM of the top species, the specimen mask and its size.

One pass over many photos: the classifier is loaded once (`load_fewshot` for a checkpoint of
`minerals fewshot train`, `load_zeroshot` for CLIP over a class list), photos are decoded and measured
one by one, then scored and explained a batch at a time. `Identifier.run` yields one `Identification`
per photo, in input order; its `record` is the JSON object of `minerals identify --json`:

```
path, status ("ok" | "error"), error (message or null), classifier, warning (null or why the
predictions are not meaningful), width, height (original px),
top:  [{species, score}]                 softmax probabilities over the class list, best first
cam:  {method, species, area_fraction, box}        the CAM of the top species, thresholded
mask: {source ("size" | "cam"), area_fraction, box, file}   the specimen mask
size: {method, size_cm, cm_per_px, cube_side_px, confidence, status, cube_kind, cube_trusted}
report: path of the report PNG or null
```

Boxes are `[x0, y0, x1, y1]` in the original file's pixels; `area_fraction` is a share of the photo.
A photo that cannot be used (not an image, unreadable, too small, a decompression bomb) gets a record
with `status` "error" and every other photo is still processed.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from minerals.cam import DEFAULT_METHOD, DEFAULT_THRESHOLD
from minerals.cam.methods import METHODS as CAM_METHODS
from minerals.cam.methods import CamExtractor, to_batch
from minerals.cam.mask import MaskRule, cam_to_mask, resize_cam
from minerals.data.images import shrink
from minerals.identify.classifiers import (
    IdentifyError,
    fewshot_classifier,
    load_fewshot,
    load_zeroshot,
    zeroshot_classifier,
)
from minerals.metrics import topk_predictions
from minerals.models.registry import LoadedModel
from minerals.profiles import section_values
from minerals.results import atomic_write
from minerals.zeroshot.scoring import read_classes

__all__ = ["IdentifyConfig", "IdentifyError", "Identifier", "Identification", "LoadedModel",
           "fewshot_classifier", "load_fewshot", "zeroshot_classifier", "load_zeroshot", "read_classes",
           "measure_photo", "size_record", "write_mask", "write_report", "write_records", "demo_photos",
           "summary_table"]

log = logging.getLogger(__name__)
MASK_SIDE = 256  # CAM masks are thresholded with the longer side at most this many px

OK, ERROR = "ok", "error"


@dataclass(frozen=True)
class IdentifyConfig:
    """The `[identify]` table of a profile.

    `top_k` species per photo; `batch_size` photos per classifier/CAM batch; `cam_method` one of
    `minerals.cam.methods.METHODS`; `cam_threshold` how a CAM becomes a mask (see `minerals.cam.mask`);
    `size_method` `improved` or `baseline` (`minerals.size`); `max_side` photos are analysed with
    their longest side at most this many px; `min_side` smaller photos are refused; `templates` the
    prompt ensemble of zero-shot CLIP (`resources/prompts.json`); `demo_photos` how many test photos
    the book page identifies.
    """

    top_k: int = 5
    batch_size: int = 8
    cam_method: str = DEFAULT_METHOD
    cam_threshold: str = DEFAULT_THRESHOLD
    size_method: str = "improved"
    max_side: int = 1024
    min_side: int = 64
    templates: str = "mineral"
    demo_photos: int = 6

    @classmethod
    def from_section(cls, section: dict, **overrides) -> "IdentifyConfig":
        """Defaults <- the profile's `[identify]` values <- `overrides` (None values ignored).

        Raises IdentifyError naming unknown keys or bad values.
        """
        cfg = cls(**section_values(cls, section, "identify", overrides, error=IdentifyError))
        from minerals.size.result import METHODS as SIZE_METHODS

        if cfg.cam_method not in CAM_METHODS:
            raise IdentifyError(f"unknown CAM method {cfg.cam_method!r}; choose one of {', '.join(CAM_METHODS)}")
        try:
            MaskRule.parse(cfg.cam_threshold)
        except ValueError as exc:
            raise IdentifyError(f"[identify] cam_threshold: {exc}") from exc
        if cfg.size_method not in SIZE_METHODS:
            raise IdentifyError(f"unknown size method {cfg.size_method!r}; choose one of {', '.join(SIZE_METHODS)}")
        if cfg.top_k < 1 or cfg.batch_size < 1 or cfg.min_side < 1 or cfg.max_side < cfg.min_side:
            raise IdentifyError(f"[identify] needs top_k, batch_size >= 1 and 1 <= min_side <= max_side, got {cfg}")
        return cfg


# ------------------------------------------------------------------------------------------- one pass


@dataclass
class Identification:
    """One photo's outcome: the JSON `record`, and for good photos the arrays a report is drawn from.

    `rgb` `(H, W, 3)` uint8 is the analysed photo (longest side <= `max_side`); `cam` `(H, W)` float32 in
    [0, 1] and `mask` `(H, W)` bool are on its pixels; `estimate` is the `minerals.size` estimate.
    """

    record: dict
    rgb: np.ndarray | None = None
    cam: np.ndarray | None = None
    mask: np.ndarray | None = None
    estimate: object = None

    @property
    def ok(self) -> bool:
        return self.record["status"] == OK


@dataclass
class _Pending:
    index: int
    path: Path
    rgb: np.ndarray
    estimate: object
    scale: float  # original px per analysed px
    width: int
    height: int


class Identifier:
    """Identify many photos with one loaded classifier::

        ident = Identifier(load_fewshot("best.pt"), IdentifyConfig(top_k=3))
        for item in ident.run(paths, out_dir="reports"):
            print(item.record)

    `measure(path, method, max_side) -> (SizeEstimate, analysed RGB or None, scale)` defaults to
    `minerals.size`; tests pass a fake.
    """

    def __init__(self, classifier: LoadedModel, cfg: IdentifyConfig | None = None, measure: Callable | None = None):
        self.classifier = classifier
        self.cfg = cfg or IdentifyConfig()
        self.measure = measure or measure_photo

    def run(self, photos: Iterable[str | os.PathLike], out_dir: str | os.PathLike | None = None,
            progress: bool = True) -> Iterator[Identification]:
        """Yield one `Identification` per photo, in input order, a batch at a time.

        With `out_dir`, writes `NNNN_<stem>.png` (report) and `NNNN_<stem>.mask.png` (specimen mask at
        the original size, 255 = specimen) per good photo; NNNN is the photo's position (from 1).
        """
        photos = [Path(p) for p in photos]
        out = Path(out_dir) if out_dir is not None else None
        with CamExtractor(self.classifier.model, self.cfg.cam_method, batch_size=self.cfg.batch_size) as cam, \
                tqdm(total=len(photos), desc="identify", unit="photo", disable=not progress) as bar:
            batch: list[_Pending | Identification] = []
            for index, path in enumerate(photos):
                batch.append(self._prepare(index, path))
                if sum(isinstance(b, _Pending) for b in batch) >= self.cfg.batch_size:
                    yield from self._flush(batch, cam, out, bar)
                    batch = []
            yield from self._flush(batch, cam, out, bar)

    def _prepare(self, index: int, path: Path) -> "_Pending | Identification":
        """Decode and measure one photo; an error `Identification` when it cannot be used."""
        estimate, rgb, scale = self.measure(path, self.cfg.size_method, self.cfg.max_side)
        if rgb is None:
            return self._error(path, estimate.status)
        h, w = rgb.shape[:2]
        width, height = round(w * scale), round(h * scale)
        if min(width, height) < self.cfg.min_side:
            return self._error(path, f"{path}: image too small ({width}x{height} px; identify needs at least "
                                     f"{self.cfg.min_side} px per side)")
        return _Pending(index, path, rgb, estimate, scale, width, height)

    def _error(self, path: Path, message: str) -> Identification:
        return Identification({"path": str(path), "status": ERROR, "error": message,
                               "classifier": self.classifier.name, "warning": self.classifier.warning})

    def _flush(self, batch: list, cam, out: Path | None, bar) -> Iterator[Identification]:
        good = [b for b in batch if isinstance(b, _Pending)]
        results: dict[int, Identification] = {}
        if good:
            images = [Image.fromarray(p.rgb) for p in good]
            probs = self.classifier.probabilities(images)
            top = topk_predictions(probs, self.cfg.top_k)
            tensor = to_batch(images, self.classifier.resolution, self.classifier.mean, self.classifier.std)
            maps = cam(tensor.to(self.classifier.device), targets=[int(t[0]) for t in top])
            for p, prob, ranks, cam_map in zip(good, probs, top, maps):
                try:
                    results[p.index] = self._finish(p, prob, ranks, cam_map, out)
                except Exception as exc:  # noqa: BLE001 - one photo's mask or report must not stop the others
                    log.warning("identify failed on %s", p.path, exc_info=True)
                    results[p.index] = self._error(p.path, f"{p.path}: {type(exc).__name__}: {exc}")
        for item in batch:
            result = item if isinstance(item, Identification) else results[item.index]
            bar.update(1)
            yield result

    def _finish(self, p: _Pending, prob: np.ndarray, ranks: np.ndarray, cam_map: np.ndarray,
                out: Path | None) -> Identification:
        h, w = p.rgb.shape[:2]
        cam_full = resize_cam(cam_map, (h, w))
        cam_mask = _cam_mask(cam_map, p.rgb, self.cfg.cam_threshold)
        outline = getattr(p.estimate, "outline", None)
        if outline is not None and len(outline) >= 3:
            mask, source = np.zeros((h, w), np.uint8), "size"
            cv2.fillPoly(mask, [np.round(outline).astype(np.int32)], 1)
            mask = mask.astype(bool)
        else:
            mask, source = cam_mask, "cam"
        classes = self.classifier.classes
        species = classes[int(ranks[0])]
        record = {
            "path": str(p.path), "status": OK, "error": None, "classifier": self.classifier.name,
            "warning": self.classifier.warning, "width": p.width, "height": p.height,
            "top": [{"species": classes[int(k)], "score": round(float(prob[k]), 6)} for k in ranks],
            "cam": {"method": self.cfg.cam_method, "species": species, **_region(cam_mask, p.scale)},
            "mask": {"source": source, **_region(mask, p.scale), "file": None},
            "size": size_record(p.estimate, p.scale, self.cfg.size_method), "report": None,
        }
        item = Identification(record, p.rgb, cam_full, mask, p.estimate)
        if out is not None:
            stem = f"{p.index + 1:04d}_{p.path.stem}"
            record["mask"]["file"] = str(write_mask(out / f"{stem}.mask.png", mask, (p.width, p.height)))
            record["report"] = str(out / f"{stem}.png")
            write_report(item, Path(record["report"]))
        return item


def measure_photo(path: Path, method: str, max_side: int):
    """`(SizeEstimate, analysed RGB or None, original px per analysed px)` from `minerals.size`."""
    from minerals.size.predict import Photo, measure_file
    from minerals.size.result import SizeConfig

    return measure_file(Photo(Path(path)), method, SizeConfig(max_side=max_side))


def size_record(estimate, scale: float, method: str) -> dict:
    """The `size` object of a record: the `minerals size` CSV row, in the original file's pixels."""
    from minerals.size.predict import row

    values = row(Path(), estimate, scale)
    values.pop("path")
    return {"method": method, **values}


def _cam_mask(cam: np.ndarray, rgb: np.ndarray, rule: str) -> np.ndarray:
    """`(H, W)` bool mask of `rgb`'s pixels from a CAM: thresholded at most `MASK_SIDE` px, then upsampled.

    A CAM is a few feature-map cells upsampled, so working at full resolution (10x slower) adds nothing.
    """
    h, w = rgb.shape[:2]
    image, _ = shrink(rgb, MASK_SIDE)
    mask = cam_to_mask(cam, rule, shape=image.shape[:2], image=image)
    return cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)


def _region(mask: np.ndarray, scale: float) -> dict:
    """Share of the photo covered by `mask` and its bounding box in original pixels (null when empty)."""
    ys, xs = np.nonzero(mask)
    corners = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) if len(xs) else None
    box = [round(float(v) * scale, 1) for v in corners] if corners else None
    return {"area_fraction": round(float(mask.mean()), 6), "box": box}


def write_mask(path: Path, mask: np.ndarray, size: tuple[int, int]) -> Path:
    """Write a bool mask as an 8-bit PNG (255 = specimen) resized to `size` = (width, height); atomic."""
    image = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).resize(size, Image.Resampling.NEAREST)
    with atomic_write(path) as tmp:
        image.save(tmp, format="PNG")
    return path


def write_report(item: Identification, path: Path, dpi: int = 100) -> Path:
    """Draw `item`'s report (photo, CAM overlay, outline with the measured extent, top-k bars) to a PNG."""
    from minerals.identify.report import report_figure

    with atomic_write(path) as tmp:
        report_figure([item]).savefig(tmp, dpi=dpi, format="png")
    return path


def write_records(path: str | os.PathLike, records: Iterable[dict]) -> Path:
    """Write records as JSON lines (UTF-8), atomically."""
    path = Path(path)
    with atomic_write(path) as tmp:
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def demo_photos(release, subset: int, n: int, seed: int = 0) -> pd.DataFrame:
    """`n` test photos of an `subset`-class subset, one per species while species last, seeded.

    Columns: those of `release.subset(subset)` plus `true_size_cm` when the release has it (synthetic).
    """
    test = release.subset(subset).query("split == 'test'")
    picked = (test.sample(frac=1.0, random_state=seed).groupby("label", sort=True).head(1)
              .sort_values("label").head(n))
    if len(picked) < n:
        rest = test.drop(picked.index).sample(frac=1.0, random_state=seed)
        picked = pd.concat([picked, rest.head(n - len(picked))])
    full = release.full
    if "true_size_cm" in full.columns and "true_size_cm" not in picked.columns:
        picked = picked.merge(full[["id", "true_size_cm"]], on="id", how="left")
    return picked.reset_index(drop=True)


def summary_table(records: Sequence[dict], truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table `identify`: one row per photo; with `truth` (columns `path`, `en_name`, optional
    `true_size_cm`) also the true species, its rank among the top-k (NaN when absent) and the size error.
    """
    rows = []
    known = {} if truth is None else {str(r["path"]): r for r in truth.to_dict("records")}
    for rec in records:
        ok = rec["status"] == OK
        species = [t["species"] for t in rec["top"]] if ok else []
        error = rec["error"].replace(str(Path(rec["path"]).parent) + "/", "") if rec["error"] else rec["error"]
        row = {"photo": Path(rec["path"]).name, "status": rec["status"], "error": error,  # no machine paths
               "top1": species[0] if ok else None, "top1_score": rec["top"][0]["score"] if ok else None,
               "size_cm": rec["size"]["size_cm"] if ok else None,
               "size_confidence": rec["size"]["confidence"] if ok else None,
               "size_status": rec["size"]["status"] if ok else None,
               "cam_area": rec["cam"]["area_fraction"] if ok else None,
               "mask_source": rec["mask"]["source"] if ok else None}
        true = known.get(rec["path"])
        if truth is not None:
            row["true_species"] = true["en_name"] if true else None
            row["true_rank"] = species.index(true["en_name"]) + 1 if true and true["en_name"] in species else None
            size_true = true.get("true_size_cm") if true else None
            size_true = float(size_true) if pd.notna(size_true) else None
            row["true_size_cm"] = size_true
            row["size_error_cm"] = (round(row["size_cm"] - size_true, 4)
                                    if row["size_cm"] is not None and size_true is not None else None)
        rows.append(row)
    table = pd.DataFrame(rows)
    if "true_rank" in table:
        table["true_rank"] = table["true_rank"].astype("Int64")
    return table
