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

from minerals.size.overlay import draw_overlay

PANEL_IN = 3.2  # inches per panel
WARNING_COLOR = "#b00020"


def report_figure(items: Sequence, title: str | None = None) -> Figure:
    """A figure with one row of four panels per good `minerals.identify.Identification`.

    Error items are skipped; a warning (e.g. random weights) is printed in red under the title.
    Raises ValueError when no item has a photo.
    """
    good = [it for it in items if it.ok]
    if not good:
        raise ValueError("report_figure: no successfully identified photo to draw")
    fig = Figure(figsize=(4 * PANEL_IN, PANEL_IN * len(good) + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(good), 4, gridspec_kw={"width_ratios": [1, 1, 1, 1.1]}))
    for row, item in zip(axes, good):
        _draw_row(row, item)
    warnings = sorted({it.record["warning"] for it in good if it.record.get("warning")})
    heading = [title] if title else []
    heading += [textwrap.fill(f"Warning: {w}", 150) for w in warnings]
    if heading:
        fig.suptitle("\n".join(heading), color=WARNING_COLOR if warnings else "black", fontsize=9)
    return fig


def _draw_row(axes, item) -> None:
    rec = item.record
    photo, cam_ax, size_ax, bars = axes
    photo.imshow(item.rgb)
    photo.set_title(textwrap.shorten(_name(rec["path"]), 40), fontsize=9)
    overlay = show_cam_on_image(item.rgb.astype(np.float32) / 255.0, item.cam, use_rgb=True, image_weight=0.55)
    cam_ax.imshow(overlay)
    cam_ax.set_title(f"{rec['cam']['method']}: {rec['cam']['species']}", fontsize=9)
    size_ax.imshow(draw_overlay(item.rgb, item.estimate))
    if rec["mask"]["source"] == "cam":
        size_ax.contour(item.mask.astype(float), levels=[0.5], colors=["#ffc800"], linewidths=1)
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


def _name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]
