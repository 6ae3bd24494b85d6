"""Overlays: the photo with the cube's front face, the specimen outline and the measured extent drawn on it."""

from __future__ import annotations

import cv2
import numpy as np

from minerals.size.result import SizeEstimate

CUBE, OUTLINE, EXTENT, CARD, BOX = (0, 200, 0), (255, 200, 0), (230, 0, 0), (60, 120, 255), (255, 0, 255)


def draw_overlay(rgb: np.ndarray, est: SizeEstimate) -> np.ndarray:
    """A copy of the `(H, W, 3)` uint8 photo with the estimate's geometry and its size or status."""
    out = np.ascontiguousarray(rgb).copy()
    t = max(1, round(max(out.shape[:2]) / 400))
    for b in est.cards:
        cv2.rectangle(out, _pt(b[:2]), _pt(b[2:]), CARD, t)
    if est.outline is not None and len(est.outline):
        cv2.polylines(out, [np.round(est.outline).astype(np.int32)], True, OUTLINE, t)
    elif est.specimen_box is not None:
        cv2.rectangle(out, _pt(est.specimen_box[:2]), _pt(est.specimen_box[2:]), BOX, t)
    if est.cube_box is not None:
        cv2.rectangle(out, _pt(est.cube_box[:2]), _pt(est.cube_box[2:]), CUBE, t)
    if est.extent is not None:
        cv2.line(out, _pt(est.extent[0]), _pt(est.extent[1]), EXTENT, t + 1)
    text = f"{est.size_cm:.1f} cm (conf {est.confidence:.2f})" if est.ok else est.status[:60]
    scale = max(0.4, max(out.shape[:2]) / 1400)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, t)
    cv2.rectangle(out, (0, 0), (tw + 8, th + 10), (0, 0, 0), -1)
    cv2.putText(out, text, (4, th + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), t, cv2.LINE_AA)
    return out


def _pt(xy) -> tuple[int, int]:
    return int(round(xy[0])), int(round(xy[1]))
