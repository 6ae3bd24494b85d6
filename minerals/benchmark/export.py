"""The sections' own predictions in the submission formats, so `minerals evaluate` can re-score them.

Files go to `results/<profile>/predictions/<task>/<run>.csv` (segmentation: a folder of mask PNGs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from minerals.results import atomic_write


def predictions_dir(root: str | os.PathLike, task: str) -> Path:
    """`<root>/predictions/<task>` (root = `results/<profile>`)."""
    return Path(root) / "predictions" / task


def write_ranked(path: str | os.PathLike, ids: Sequence, ranked_names: np.ndarray) -> Path:
    """CSV `id, rank_1..rank_k` from `(N, k)` species names, best first."""
    ranked_names = np.asarray(ranked_names, dtype=object)
    out = pd.DataFrame({"id": [str(i) for i in ids]})
    for j in range(ranked_names.shape[1]):
        out[f"rank_{j + 1}"] = ranked_names[:, j]
    path = Path(path)
    with atomic_write(path) as tmp:
        out.to_csv(tmp, index=False)
    return path


def fewshot_ranked(predictions_csv: str | os.PathLike, path: str | os.PathLike) -> Path:
    """The few-shot `predictions.csv` (id, pred1..predK) as a classification submission at `path`."""
    df = pd.read_csv(predictions_csv, dtype={"id": str}, keep_default_na=False)
    cols = sorted((c for c in df.columns if c.startswith("pred") and c[4:].isdigit()), key=lambda c: int(c[4:]))
    return write_ranked(path, df["id"], df[cols].to_numpy(dtype=object))


def write_sizes(path: str | os.PathLike, ids: Sequence, sizes_cm: Sequence[float]) -> Path:
    """CSV `id, size_cm` (empty where the method abstained, i.e. NaN)."""
    sizes = np.asarray(sizes_cm, dtype=float)
    out = pd.DataFrame({"id": [str(i) for i in ids], "size_cm": [repr(float(s)) if np.isfinite(s) else ""
                                                                  for s in sizes]})
    path = Path(path)
    with atomic_write(path) as tmp:
        out.to_csv(tmp, index=False)
    return path


def write_masks(folder: str | os.PathLike, ids: Sequence[str], masks: Sequence[np.ndarray]) -> Path:
    """`<folder>/<id>.png` per boolean `(H, W)` mask (255 = mineral)."""
    folder = Path(folder)
    for pid, mask in zip(ids, masks):
        with atomic_write(folder / f"{pid}.png") as tmp:
            Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255).save(tmp, format="PNG")
    return folder



# The sections' export folders under predictions/ and the task each one's files are scored as.
EXPORT_TASKS = {"fewshot": "classification", "zeroshot": "zeroshot", "size": "size", "segmentation": "segmentation"}


def find_exports(root: str | os.PathLike) -> list[tuple[str, str, dict, Path]]:
    """`(section, task, protocol, path)` of every export under `<root>/predictions/`, sorted by path.

    Few-shot and zero-shot files are named `<subset>-...csv` (a class count, or `full`): protocol
    `{"subset": ...}`; size files and segmentation mask folders need none (`{}`).
    """
    out = []
    for section, task in EXPORT_TASKS.items():
        folder = predictions_dir(root, section)
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if task == "segmentation":
                if path.is_dir():
                    out.append((section, task, {}, path))
                continue
            if path.suffix != ".csv":
                continue
            protocol = {}
            if task != "size":
                subset = path.stem.split("-", 1)[0]
                if not (subset.isdigit() or subset == "full"):
                    raise ValueError(f"{path}: an exported {section} file is named <subset>-...csv (a class count "
                                     "or full)")
                protocol = {"subset": int(subset) if subset.isdigit() else subset}
            out.append((section, task, protocol, path))
    return out
