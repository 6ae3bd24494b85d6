"""What the commands over photo files share (`segment`, `size`, `identify`): the photo list from files
and folders, and the CAM pipeline flags with the paper's pipeline one flag away."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from minerals.cam import DEFAULT_METHOD, DEFAULT_THRESHOLD, PAPER_METHOD, PAPER_THRESHOLD
from minerals.cli import CommandError


def photo_paths(items: Sequence[str], keep_missing: bool = False) -> list[Path]:
    """Files as given and the image files inside folders (recursive, sorted).

    A missing file is a CommandError, or kept (`keep_missing`: the command gives it an error entry);
    so is finding no photo at all.
    """
    from minerals.size.predict import IMAGE_SUFFIXES, expand_inputs

    try:
        paths = [p for item in items
                 for p in ([Path(item)] if keep_missing and not Path(item).is_dir() else expand_inputs([item]))]
    except FileNotFoundError as exc:
        raise CommandError(f"{exc}; check the path") from exc
    if not paths:
        raise CommandError(f"no photos found in {', '.join(map(str, items))} (looked for {', '.join(IMAGE_SUFFIXES)})")
    return paths


def add_cam_flags(p: argparse.ArgumentParser, method: str, threshold: str, paper: str) -> None:
    """The flags `method` (a CAM method), `threshold` (a mask rule) and `paper` (the paper's pair of them)."""
    p.add_argument(method, default=None, help=f"CAM method (default: {DEFAULT_METHOD}, chosen across photo styles; "
                                              "gradcam, gradcam++, xgradcam, hirescam, layercam, eigencam, "
                                              "scorecam or ablationcam)")
    p.add_argument(threshold, default=None, metavar="RULE",
                   help=f"how a CAM becomes a mask (default: {DEFAULT_THRESHOLD})")
    p.add_argument(paper, action="store_true",
                   help=f"the paper's CAM pipeline: {method} {PAPER_METHOD} {threshold} {PAPER_THRESHOLD}")


def cam_pipeline(method: str | None, threshold: str | None, paper: bool, flags: Sequence[str]) -> tuple[str, str]:
    """`(method, mask rule)`: the paper's with `paper`, else the given ones or the defaults.

    `flags` are the command's three flag names, for the error when `paper` comes with either of the others.
    """
    if paper and (method or threshold):
        raise CommandError(f"{flags[2]} sets {flags[0]} and {flags[1]}: give either {flags[2]} or those")
    if paper:
        return PAPER_METHOD, PAPER_THRESHOLD
    return method or DEFAULT_METHOD, threshold or DEFAULT_THRESHOLD
