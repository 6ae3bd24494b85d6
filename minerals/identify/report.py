"""The report figure of `minerals identify`: one row per photo with four panels.

Panels: the photo; the CAM of the top species over it; the specimen outline, reference cube and
measured extent (`minerals.size.overlay`); the top-k species as bars of their probabilities.
"""

from __future__ import annotations

import textwrap
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from pytorch_grad_cam.utils.image import show_cam_on_image

from minerals.data.images import shrink
from minerals.size.overlay import draw_overlay

PANEL_IN = 3.2  # inches per panel
LABEL_ROOM = 0.06  # figure fraction between the size panel and the bars, for species names
PANEL_PX = 480  # images are drawn at most this many px on their longer side (about 150 dpi per panel)
WARNING_COLOR = "#b00020"


def report_figure(items: Sequence, title: str | None = None) -> Figure:
    """A figure with one row of four panels per good `minerals.identify.identifier.Identification`.

    Error items are skipped; a warning (e.g. random weights) is printed in red under the title.
    Raises ValueError when no item has a photo.
    """
    good = [it for it in items if it.ok]
    if not good:
        raise ValueError("report_figure: no successfully identified photo to draw")
    top = 0.6  # inches for the title lines
    height = PANEL_IN * len(good) + top
    fig = Figure(figsize=(4 * PANEL_IN + 0.6, height))
    axes = np.atleast_2d(fig.subplots(len(good), 4, gridspec_kw={"width_ratios": [1, 1, 1, 1]}))
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.45 / height, top=1 - top / height, wspace=0.12, hspace=0.3)
    for row, item in zip(axes, good):
        _draw_row(row, item)
        box = row[3].get_position()  # room on the left of the bars for the species names
        row[3].set_position([box.x0 + LABEL_ROOM, box.y0, box.width - LABEL_ROOM, box.height])
    warnings = sorted({it.record["warning"] for it in good if it.record.get("warning")})
    heading = [title] if title else []
    heading += [textwrap.fill(f"Warning: {w}", 150) for w in warnings]
    if heading:
        fig.suptitle("\n".join(heading), color=WARNING_COLOR if warnings else "black", fontsize=9,
                     y=1 - 0.1 / height, va="top")
    return fig


def _draw_row(axes, item) -> None:
    rec = item.record
    photo, cam_ax, size_ax, bars = axes
    rgb = _thumb(item.rgb)
    photo.imshow(rgb)
    photo.set_title(textwrap.shorten(_name(rec["path"]), 40), fontsize=9)
    cam = _thumb(item.cam)
    cam_ax.imshow(show_cam_on_image(rgb.astype(np.float32) / 255.0, np.clip(cam, 0, 1), use_rgb=True,
                                    image_weight=0.55))
    cam_ax.set_title(f"{rec['cam']['method']}: {rec['cam']['species']}", fontsize=9)
    size_ax.imshow(_thumb(draw_overlay(item.rgb, item.estimate)))
    if rec["mask"]["source"] == "cam":
        size_ax.contour(_thumb(item.mask.astype(np.float32)), levels=[0.5], colors=["#ffc800"], linewidths=1)
    size = rec["size"]
    size_ax.set_title(f"size {size['size_cm']:.1f} cm, confidence {size['confidence']:.2f}" if size["size_cm"]
                      else textwrap.shorten(f"no size: {size['status']}", 45), fontsize=9)
    for ax in (photo, cam_ax, size_ax):
        ax.set_axis_off()
    names = [t["species"] for t in rec["top"]][::-1]
    scores = [100 * t["score"] for t in rec["top"]][::-1]
    colors = ["#9aa5b1"] * (len(names) - 1) + ["#1f6feb"]
    bars.barh(range(len(names)), scores, color=colors)
    bars.set_yticks(range(len(names)), [textwrap.shorten(n, 22) for n in names], fontsize=8)
    bars.set_xlim(0, 100)
    bars.set_xlabel("probability (%)", fontsize=8)
    bars.tick_params(axis="x", labelsize=8)
    for y, v in enumerate(scores):
        bars.text(min(v + 1.5, 80), y, f"{v:.1f}", va="center", fontsize=8)
    bars.set_title(f"top {len(names)}", fontsize=9)
    bars.spines[["top", "right"]].set_visible(False)


def _thumb(image: np.ndarray) -> np.ndarray:
    """`image` downscaled (area averaging) so that its longer side is at most `PANEL_PX`."""
    return shrink(image, PANEL_PX)[0]


def _name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]
