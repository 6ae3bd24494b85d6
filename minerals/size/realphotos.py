"""Scoring the cube finder on hand-labelled real photos (`tests/data/real_photos/labels.csv`).

Each photo gets an `outcome`:

- `measured`: the cube box lies in the marked box (IoU >= 0.3 or its centre inside) and the estimator trusted
  the cube (`SizeEstimate.cube_trusted`): its scale holds, whether or not the specimen could then be sized
  (status `ok`; the share of those is `sized`);
- `found`: the cube box lies in the marked box and the estimator abstained on the cube for a reason that does
  not doubt that it is the cube (cut by the frame, too few pixels, edge uncertain although its text was read);
- `doubted`: the cube box lies in the marked box but the abstention doubts the cube (`DOUBTS`);
- `wrong`: a trusted cube (its scale taken, status `ok` or not) outside the marked box or on a photo without one;
- `abstained`: no cube claimed, or an untrusted one on a photo without a cube;
- `missed-abstained`: an abstention naming an untrusted cube outside the marked box (honest, but not found).

Thresholds are chosen on the `tune` half of the photos only; the `report` half is what we report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from minerals.data.images import load_image
from minerals.size.baseline import box_iou
from minerals.size.predict import measure
from minerals.size.result import SizeConfig


def in_marked_box(box, marked) -> bool:
    """Whether a found cube box matches a marked one: IoU >= 0.3 or its centre inside."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return box_iou(box, marked) >= 0.3 or (marked[0] <= cx <= marked[2] and marked[1] <= cy <= marked[3])


DOUBTS = ("cube uncertain", "two cube", "no cube")  # abstentions that doubt the cube itself
FOUND = ("measured", "found")


def outcome(est, marked) -> str:
    """The outcome (module doc) of an estimate `est` on a photo whose marked cube box is `marked` (None: no cube)."""
    inside = est.cube_box is not None and marked is not None and in_marked_box(est.cube_box, marked)
    if inside:
        return "measured" if est.cube_trusted else "doubted" if est.status.startswith(DOUBTS) else "found"
    if est.cube_trusted:
        return "wrong"
    return "abstained" if est.cube_box is None or marked is None else "missed-abstained"


def measure_real_photos(folder: str | Path, cfg: SizeConfig | None = None) -> list[tuple]:
    """`(labels row, (H, W, 3) uint8 photo, SizeEstimate of the improved estimator)` per labelled photo of
    `folder` (with `labels.csv`), measured once for both `score_real_photos` and `gallery`."""
    folder = Path(folder)
    cfg = cfg or SizeConfig()
    out = []
    for r in pd.read_csv(folder / "labels.csv").itertuples():
        rgb = np.asarray(load_image(folder / r.file))
        out.append((r, rgb, measure(rgb, "improved", cfg)))
    return out


def _marked(r):
    return (r.cube_x1, r.cube_y1, r.cube_x2, r.cube_y2) if r.cube_visible else None


def score_real_photos(folder: str | Path, cfg: SizeConfig | None = None, measured: list | None = None) -> pd.DataFrame:
    """One row per labelled photo (`measured`, else `measure_real_photos(folder, cfg)`): labels, status, cube
    kind and text found, `outcome`, `ocr_reads` (cube candidates whose text was read) and `ocr_s` (seconds)."""
    rows = []
    for r, _, est in measured if measured is not None else measure_real_photos(folder, cfg):
        rows.append({"file": r.file, "split": r.split, "cube_kind": r.cube_kind, "cube_visible": bool(r.cube_visible),
                     "status": est.status, "kind_found": est.cube_kind, "text": est.cube_text,
                     "outcome": outcome(est, _marked(r)), "ocr_reads": est.ocr_reads, "ocr_s": est.ocr_seconds})
    return pd.DataFrame(rows)


def wrong_cube_confidences(folder: str | Path, split: str = "tune", cfg: SizeConfig | None = None) -> list[float]:
    """Cube confidences (`SizeEstimate.cube_confidence`) of the cubes the improved estimator takes outside their
    marked box (or on a photo without one) among the labelled photos of `split`, at `min_confidence=0`: a default
    threshold must lie above them (`evaluate.choose_threshold`)."""
    from dataclasses import replace

    labels = pd.read_csv(Path(folder) / "labels.csv")
    cfg = replace(cfg or SizeConfig(), min_confidence=0.0)
    out = []
    for r in labels[labels["split"] == split].itertuples():
        est = measure(np.asarray(load_image(Path(folder) / r.file)), "improved", cfg)
        if outcome(est, _marked(r)) == "wrong":
            out.append(float(est.cube_confidence))
    return out


def summary(scored: pd.DataFrame) -> pd.DataFrame:
    """Per split, of the photos with a cube: share `measured` (the cube trusted in its marked box), share `sized`
    (also the specimen sized: status `ok`), share `found` (measured, or found and honestly abstained on the
    cube), share `located` (also doubted), kind right among the found; `wrong` trusted cubes; abstention
    share on cube-less photos; share of photos whose candidates' text was read (`ocr_share`) and the mean
    seconds of reading per such photo (`ocr_s_per_photo`)."""
    out = []
    for split, g in scored.groupby("split"):
        cube, none = g[g.cube_visible], g[~g.cube_visible]
        found = cube[cube.outcome.isin(FOUND)]
        read = g[g.ocr_reads > 0]
        out.append({"split": split, "photos": len(g), "with_cube": len(cube),
                    "measured": float((cube.outcome == "measured").mean()) if len(cube) else np.nan,
                    "sized": float(((cube.outcome == "measured") & cube.status.eq("ok")).mean()) if len(cube) else np.nan,
                    "found": float(cube.outcome.isin(FOUND).mean()) if len(cube) else np.nan,
                    "located": float(cube.outcome.isin(FOUND + ("doubted",)).mean()) if len(cube) else np.nan,
                    "kind_right": float((found.kind_found == found.cube_kind).mean()) if len(found) else np.nan,
                    "wrong": int((g.outcome == "wrong").sum()), "without_cube": len(none),
                    "abstained_without_cube": float((~none.status.eq("ok")).mean()) if len(none) else np.nan,
                    "ocr_share": float(len(read) / len(g)),
                    "ocr_s_per_photo": float(read.ocr_s.mean()) if len(read) else 0.0})
    return pd.DataFrame(out)


def gallery(folder: str | Path, cfg: SizeConfig | None = None,
            measured: list | None = None) -> list[tuple[str, np.ndarray]]:
    """`(title, overlay)` per labelled photo (`measured`, else `measure_real_photos(folder, cfg)`): the cube
    found, its kind and the text read on it, the specimen outline, the scale and estimate or the reason for
    abstaining (`minerals.size.overlay`), the marked cube box in white."""
    import cv2

    from minerals.size.overlay import draw_overlay

    out = []
    for r, rgb, est in measured if measured is not None else measure_real_photos(folder, cfg):
        image = draw_overlay(rgb, est)
        if r.cube_visible:
            cv2.rectangle(image, (int(r.cube_x1), int(r.cube_y1)), (int(r.cube_x2) - 1, int(r.cube_y2) - 1),
                          (255, 255, 255), 1)
        scale = f", {'' if est.cube_trusted else 'untrusted '}{est.cm_per_px * 10:.2f} mm/px" if est.cm_per_px else ""
        text = f' reads "{est.cube_text}"' if est.cube_text else ""
        out.append((f"{r.file} [{r.split}] {est.cube_kind or 'no cube'}{text}{scale}", image))
    return out
