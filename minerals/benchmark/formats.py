"""Reading and checking submission files; every problem is one `SubmissionError` line naming the file.

- classification: CSV `id, rank_1, ..., rank_R` (species names, or class indices with `labels=True`);
- size: CSV `id, size_cm` (empty = the method abstains on that photo);
- segmentation: a folder with one mask PNG per photo named `<photo stem>.png` (foreground = pixels >= 128).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

SHOW = 5  # offending ids named in a message
RANK = re.compile(r"^rank_(\d+)$")


class SubmissionError(ValueError):
    """A predictions file that cannot be scored; the message names the file, the problem and the first ids."""


def _first(values: Sequence) -> str:
    values = [str(v) for v in values]
    return ", ".join(values[:SHOW]) + (f" ... ({len(values)} in all)" if len(values) > SHOW else "")


def read_table(path: str | os.PathLike, columns: Sequence[str]) -> pd.DataFrame:
    """A CSV as strings (nothing parsed as NaN), with the required `columns`."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"{path}: cannot read it as CSV ({exc})") from exc
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SubmissionError(f"{path}: no column {', '.join(missing)}; columns are {', '.join(df.columns) or 'none'}")
    df["id"] = df["id"].str.strip()
    return df


def align_ids(path: Path, ids: pd.Series, expected: Sequence[str]) -> np.ndarray:
    """Row of the file for each expected id, in the split's order; refuses duplicate, unknown and missing ids."""
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise SubmissionError(f"{path}: duplicate ids: {_first(dup)}; give one row per photo")
    known = set(expected)
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise SubmissionError(f"{path}: ids not in the split: {_first(unknown)}; predict the photos of "
                              "`minerals data split` for this task and split")
    row = {i: n for n, i in enumerate(ids)}
    missing = [i for i in expected if i not in row]
    if missing:
        raise SubmissionError(f"{path}: missing ids: {_first(missing)}; every photo of the split needs a row")
    return np.array([row[i] for i in expected], dtype=int)


def rank_columns(path: Path, df: pd.DataFrame) -> list[str]:
    """`rank_1 .. rank_R` in order; refuses gaps."""
    numbers = sorted(int(m.group(1)) for c in df.columns if (m := RANK.match(c)))
    if not numbers:
        raise SubmissionError(f"{path}: no rank_1 column; write id,rank_1,...,rank_k (best guess first)")
    if numbers != list(range(1, len(numbers) + 1)):
        raise SubmissionError(f"{path}: rank columns must be rank_1..rank_{len(numbers)} without gaps, got "
                              f"{', '.join(f'rank_{n}' for n in numbers)}")
    return [f"rank_{n}" for n in numbers]


def read_ranked(path: str | os.PathLike, ids: Sequence[str], lookup, n_classes: int, ks: Sequence[int],
                labels: bool = False) -> np.ndarray:
    """`(N, R)` class indices ranked best first, rows in the order of `ids`.

    `lookup(name) -> int | None` maps a species name to its class; with `labels`, cells are class
    indices in [0, n_classes). Refuses missing/duplicate/unknown ids, unknown species, empty cells and
    fewer ranks than top-k needs (min(k, n_classes)), saying which k can be scored.
    """
    path = Path(path)
    df = read_table(path, ["id"])
    cols = rank_columns(path, df)
    order = align_ids(path, df["id"], list(ids))
    need = {k: min(k, n_classes) for k in ks}
    short = [k for k, r in need.items() if r > len(cols)]
    if short:
        can = [k for k, r in need.items() if r <= len(cols)]
        raise SubmissionError(f"{path}: {len(cols)} ranks, fewer than top-{short[0]} needs ({need[short[0]]}); "
                              f"with these ranks k = {', '.join(map(str, can)) or 'none'} can be scored (pass "
                              "--ks), or add rank columns")
    cells = df.iloc[order][cols[:max(need.values())]]
    ranked = np.empty(cells.shape, dtype=int)
    bad: list[tuple[str, str]] = []
    for j, col in enumerate(cells.columns):
        for n, (pid, value) in enumerate(zip(ids, cells[col])):
            value = value.strip()
            cls = _index(value, n_classes) if labels else (lookup(value) if value else None)
            if cls is None:
                bad.append((pid, value))
                cls = -1
            ranked[n, j] = cls
    if bad:
        what = "class indices must be integers 0.." + str(n_classes - 1) if labels else "unknown species"
        raise SubmissionError(f"{path}: {what}: " + _first([f"{v or '(empty)'} (id {i})" for i, v in bad]))
    return ranked


def _index(value: str, n_classes: int) -> int | None:
    try:
        number = int(value)
    except ValueError:
        return None
    return number if 0 <= number < n_classes else None


def read_sizes(path: str | os.PathLike, ids: Sequence[str]) -> np.ndarray:
    """`(N,)` float sizes in cm in the order of `ids`; NaN where the cell is empty (abstains).

    Refuses missing/duplicate/unknown ids, non-numeric values and sizes <= 0.
    """
    path = Path(path)
    df = read_table(path, ["id", "size_cm"])
    order = align_ids(path, df["id"], list(ids))
    text = df["size_cm"].iloc[order].str.strip().to_numpy()
    values = pd.to_numeric(pd.Series(text).replace("", np.nan), errors="coerce").to_numpy(dtype=float)
    ids = list(ids)
    odd = [f"{t} (id {ids[n]})" for n, t in enumerate(text) if t and not np.isfinite(values[n])]
    if odd:
        raise SubmissionError(f"{path}: size_cm not a number: {_first(odd)}; leave the cell empty to abstain")
    low = [f"{t} (id {ids[n]})" for n, t in enumerate(text) if t and values[n] <= 0]
    if low:
        raise SubmissionError(f"{path}: sizes must be > 0 cm: {_first(low)}; leave the cell empty to abstain")
    return values


def read_masks(folder: str | os.PathLike, ids: Sequence[str], shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """Boolean masks `<folder>/<id>.png` in the order of `ids`; each of one of its allowed `(H, W)` shapes.

    `shapes[n]` lists the sizes accepted for photo n (its mask's own size, the scoring size).
    Refuses a missing folder, missing masks, PNGs of unknown photos and masks of another size.
    """
    from minerals.data.images import ImageError, load_mask

    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: not a folder; pass the folder of mask PNGs named by photo stem")
    found = {p.stem: p for p in folder.iterdir() if p.suffix.lower() == ".png"}
    align_ids(folder, pd.Series(sorted(found)), list(ids))
    masks, wrong = [], []
    for pid, allowed in zip(ids, shapes):
        try:
            mask = load_mask(found[pid])
        except ImageError as exc:
            raise SubmissionError(f"{folder}: {exc}") from exc
        if mask.shape not in [tuple(s) for s in allowed]:
            wrong.append(f"{pid} ({mask.shape[1]}x{mask.shape[0]}, expected "
                         f"{' or '.join(f'{s[1]}x{s[0]}' for s in allowed)})")
        masks.append(mask)
    if wrong:
        raise SubmissionError(f"{folder}: masks of the wrong size: {_first(wrong)}")
    return masks
