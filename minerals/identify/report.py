"""The report figure of `minerals identify`: one block of 2 x 2 panels per photo, sized for the book's column.

Panels: the photo; the CAM of the top species over it; the specimen outline, reference cube and
measured extent (`minerals.size.overlay`); the top-k species as bars of their probabilities, each
bar labelled with its species and percentage (no tick labels to crowd the panel on their left).
"""

from __future__ import annotations

import textwrap
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from pytorch_grad_cam.utils.image import show_cam_on_image

from minerals.data.images import shrink
from minerals.size.overlay import draw_overlay

# 6.8 in wide (7 in with the saved margins): shown in the book's 688 px column at about 98 px per inch, so
# a 9 pt label reads as 9 pt there, and at 120 dpi the PNG is about 840 px wide (not shrunk below half).
FIGURE_IN = 6.8
ROW_IN = 2.9  # inches per row of two panels; a photo takes two rows
TEXT_PT = 9  # the smallest text of the figure, in points at FIGURE_IN
PANEL_PX = 480  # images are drawn at most this many px on their longer side
WARNING_COLOR = "#b00020"
TOP_COLOR, OTHER_COLOR = "#8ab4f8", "#d5dae0"  # light bars, so that the black labels on them stay legible


def report_figure(items: Sequence, title: str | None = None) -> Figure:
    """A `FIGURE_IN`-wide figure with a 2 x 2 block per good `minerals.identify.identifier.Identification`.

    Error items are skipped; a warning (e.g. random weights) is printed in red under the title.
    Raises ValueError when no item has a photo.
    """
    good = [it for it in items if it.ok]
    if not good:
        raise ValueError("report_figure: no successfully identified photo to draw")
    warnings = sorted({it.record["warning"] for it in good if it.record.get("warning")})
    heading = [title] if title else []
    heading += [textwrap.fill(f"Warning: {w}", 95) for w in warnings]
    head_in = 0.2 * sum(h.count("\n") + 1 for h in heading)
    fig = Figure(figsize=(FIGURE_IN, 2 * ROW_IN * len(good) + 0.35 * len(good) + head_in), layout="constrained")
    blocks = np.atleast_1d(fig.subfigures(len(good), 1, hspace=0.04))
    for number, (block, item) in enumerate(zip(blocks, good), start=1):
        _draw_block(block, item, number)
    if heading:
        fig.suptitle("\n".join(heading), color=WARNING_COLOR if warnings else "black", fontsize=TEXT_PT + 1)
    return fig


def _draw_block(block, item, number: int) -> None:
    rec = item.record
    (photo, cam_ax), (size_ax, bars) = block.subplots(2, 2)
    block.suptitle(f"{number}. {textwrap.shorten(_name(rec['path']), 60)}", fontsize=TEXT_PT + 2,
                   fontweight="bold", x=0.01, ha="left")
    rgb = _thumb(item.rgb)
    photo.imshow(rgb)
    photo.set_title("photo", fontsize=TEXT_PT + 1)
    cam = _thumb(item.cam)
    cam_ax.imshow(show_cam_on_image(rgb.astype(np.float32) / 255.0, np.clip(cam, 0, 1), use_rgb=True,
                                    image_weight=0.55))
    cam_ax.set_title(textwrap.shorten(f"{rec['cam']['method']}: {rec['cam']['species']}", 34), fontsize=TEXT_PT + 1)
    size_ax.imshow(_thumb(draw_overlay(item.rgb, item.estimate)))
    if rec["mask"]["source"] == "cam":
        size_ax.contour(_thumb(item.mask.astype(np.float32)), levels=[0.5], colors=["#ffc800"], linewidths=1)
    size = rec["size"]
    size_ax.set_title(f"size {size['size_cm']:.1f} cm, confidence {size['confidence']:.2f}" if size["size_cm"]
                      else textwrap.shorten(f"no size: {size['status']}", 34), fontsize=TEXT_PT + 1)
    for ax in (photo, cam_ax, size_ax):
        ax.set_axis_off()
    _draw_bars(bars, rec["top"])


def _draw_bars(ax, top: list[dict]) -> None:
    """Top-k species as horizontal bars (best on top), each labelled `species  score %` over its bar."""
    names = [t["species"] for t in top][::-1]
    scores = [100 * t["score"] for t in top][::-1]
    ax.barh(range(len(names)), scores, height=0.8, color=[OTHER_COLOR] * (len(names) - 1) + [TOP_COLOR])
    for y, (name, score) in enumerate(zip(names, scores)):
        ax.text(1.5, y, f"{textwrap.shorten(name, 26)}  {score:.1f} %", va="center", fontsize=TEXT_PT,
                fontweight="bold" if y == len(names) - 1 else "normal")
    ax.set_yticks([])
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_xlabel("probability (%)", fontsize=TEXT_PT)
    ax.tick_params(axis="x", labelsize=TEXT_PT)
    ax.set_title(f"top {len(names)} species", fontsize=TEXT_PT + 1)
    ax.spines[["top", "right", "left"]].set_visible(False)


def _thumb(image: np.ndarray) -> np.ndarray:
    """`image` downscaled (area averaging) so that its longer side is at most `PANEL_PX`."""
    return shrink(image, PANEL_PX)[0]


def _name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]
