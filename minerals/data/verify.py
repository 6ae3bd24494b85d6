"""Check a release: decode every photo and mask in parallel, count the subsets, compare with the paper.

`verify(root)` returns a JSON-able dict (see `minerals data verify --json`); `subset_counts(release)`
and `paper_comparison(counts)` give the counts and the comparison with the paper's subset table
without decoding anything (notebook 01 uses them).
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from importlib import resources

import pandas as pd
from tqdm import tqdm

from minerals.data.images import ImageError, load_image, load_mask
from minerals.data.layout import Release, open_release

# Photos are decoded in JPEG draft mode to this size (px): the whole compressed stream is still
# read, so truncated and corrupt files fail, at a fraction of the cost of a full decode.
VERIFY_SIDE = 128
PAPER_TABLE = "resources/paper_subsets.csv"


def paper_subsets() -> pd.DataFrame:
    """The paper's subset table (`minerals/resources/paper_subsets.csv`): subset, classes, images, min_per_class, ..."""
    with resources.files("minerals").joinpath(PAPER_TABLE).open(encoding="utf-8") as fp:
        return pd.read_csv(fp, dtype={"subset": str}, keep_default_na=False, na_values=[""])


def _class_counts(df: pd.DataFrame) -> dict:
    per_class = df["en_name"].value_counts()
    return {"classes": int(per_class.size), "images": int(len(df)),
            "min_per_class": int(per_class.min()) if per_class.size else 0}


def subset_counts(release: Release) -> dict:
    """Counts without decoding: full set, each subset (with split sizes), size and segmentation."""
    out = {"full": _class_counts(release.full), "subsets": {}}
    for n in release.available_subsets():
        sub = release.subset(n)
        out["subsets"][str(n)] = _class_counts(sub) | {
            "splits": {s: int(c) for s, c in sub["split"].value_counts().sort_index().items()}}
    out["size"] = len(release.size_table()) if release.report["files"]["size"] else None
    out["segmentation"] = len(release.segmentation()) if release.report["files"]["segmentation"] else None
    return out


def paper_comparison(counts: dict) -> pd.DataFrame:
    """One row per line of the paper's subset table: the paper's numbers beside the ones found.

    `match` is True when every number the paper gives equals the found one, NA when the subset is absent.
    """
    rows = []
    for paper in paper_subsets().itertuples(index=False):
        if paper.subset == "full":
            found = counts["full"]
        elif paper.subset in ("size", "segmentation"):
            found = {"images": counts[paper.subset]} if counts.get(paper.subset) is not None else None
        else:
            found = counts["subsets"].get(paper.subset)
        row = {"subset": paper.subset, "task": paper.task}
        agree = []
        for col in ("classes", "images", "min_per_class"):
            value = getattr(paper, col)
            row[f"paper_{col}"] = None if pd.isna(value) else int(value)
            row[f"found_{col}"] = None if found is None or col not in found else found[col]
            if row[f"paper_{col}"] is not None and found is not None:
                agree.append(row[f"paper_{col}"] == row[f"found_{col}"])
        row["match"] = all(agree) if found is not None and agree else None
        row["note"] = paper.note if isinstance(paper.note, str) else ""
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in [c for c in df.columns if c.startswith(("paper_", "found_"))]:
        df[col] = df[col].astype("Int64")
    return df


def subsets_table(release: Release, counts: dict | None = None) -> pd.DataFrame:
    """Table `subsets`: `paper_comparison` with a `data` column (`synthetic` or `real`) after `subset`.

    `counts`: `subset_counts(release)` when already computed.
    """
    table = paper_comparison(counts if counts is not None else subset_counts(release))
    table.insert(1, "data", "synthetic" if release.report["synthetic"] else "real")
    return table


def _check_photo(path: str) -> tuple[str, str | None]:
    """(path, None) when the photo decodes, else (path, problem)."""
    if not os.path.exists(path):
        return path, "missing"
    try:
        load_image(path, VERIFY_SIDE)
    except ImageError as exc:
        return path, str(exc)
    return path, None


def _check_pair(pair: tuple[str, str]) -> tuple[str, str | None]:
    img, mask = pair
    for path in pair:
        if not os.path.exists(path):
            return path, "missing"
    try:
        photo = load_image(img)
        load_mask(mask, (photo.height, photo.width))
    except ImageError as exc:
        return mask, str(exc)
    return mask, None


def _run(fn, items: list, workers: int, desc: str, progress: bool) -> list[tuple[str, str | None]]:
    """`fn` over `items` in `workers` processes (inline for one worker), with a progress bar on stderr."""
    bar = dict(total=len(items), desc=desc, unit="img", file=sys.stderr, disable=not progress)
    if workers <= 1:
        return [fn(item) for item in tqdm(items, **bar)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(fn, items, chunksize=32), **bar))


def verify(root: str | os.PathLike, workers: int | None = None, progress: bool = True) -> dict:
    """Decode every photo (full table, size table) and mask; return counts, schema, paper comparison, problems.

    Raises LayoutError when `root` is not a release. `workers` defaults to the number of CPUs.
    """
    workers = max(1, workers or os.cpu_count() or 1)
    release = open_release(root)
    counts = subset_counts(release)
    photos = list(release.full["path"])
    if release.report["files"]["size"]:
        photos += sorted(set(release.size_table()["path"]) - set(photos))
    pairs = [(str(i), str(m)) for i, m in release.segmentation()] if counts["segmentation"] is not None else []
    start = time.perf_counter()
    checked = _run(_check_photo, photos, workers, "photos", progress)
    seconds = time.perf_counter() - start
    checked += _run(_check_pair, pairs, workers, "masks", progress)
    missing = [p for p, err in checked if err == "missing"]
    corrupt = [err for p, err in checked if err not in (None, "missing")]
    problems = list(release.problems)
    if missing:
        problems.append(f"{len(missing)} files missing (e.g. {missing[0]})")
    problems += corrupt
    comparison = paper_comparison(counts)
    return {
        "root": str(release.root),
        "synthetic": release.report["synthetic"],
        "images": counts["full"]["images"],
        "classes": counts["full"]["classes"],
        "min_per_class": counts["full"]["min_per_class"],
        "subsets": counts["subsets"],
        "size": counts["size"],
        "segmentation": counts["segmentation"],
        "problems": problems,
        "missing": missing,
        "corrupt": corrupt,
        "schema": {"files": release.report["files"], "columns": release.report["columns"],
                   "path_base": release.report["path_base"], "splits": release.report.get("splits", {}),
                   "full_columns": [str(c) for c in release.full.columns], "notes": release.report["notes"]},
        "paper": comparison.astype(object).where(comparison.notna(), None).to_dict(orient="records"),
        "decode": {"photos": len(photos), "seconds": round(seconds, 3), "workers": workers, "max_side": VERIFY_SIDE,
                   "per_second": round(len(photos) / seconds, 1) if seconds > 0 else None},
    }
