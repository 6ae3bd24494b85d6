"""The MineralImage5k release on disk: file names, column aliases and path resolution.

`open_release(root)` finds the CSVs and the images root of the real release, of its Kaggle mirror or
of the synthetic release (same layout), maps alternative column names onto canonical ones and
records in `Release.report` which files, aliases and path bases it used. Rows that cannot be used
(duplicate ids, paths leaving the root, subset ids missing from the full table) are dropped and
listed in `Release.problems`, naming the file; `report["notes"]` holds choices that are not faults.
"""

from __future__ import annotations

import ast
import json
import os
import re
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

FULL_CSV_NAMES = ("minerals_full.csv", "mineral_full.csv")
SIZE_CSV = "minerals_size.csv"
IMAGES_DIR = "mineral_images"
SEGM_DIR = "segm"
SUBSET_PATTERN = re.compile(r"^minerals?_(\d+)\.csv$", re.IGNORECASE)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")

# canonical column -> accepted names (matched case-insensitively, first hit wins).
ALIASES = {
    "id": ("id", "image_id", "img_id"),
    "path": ("path", "path_final", "image_path", "img_path", "file_path", "filename", "file"),
    "en_name": ("en_name", "name", "name_en", "english_name", "species"),
    "ru_name": ("ru_name", "name_ru", "russian_name"),
    "description": ("description", "desc", "en_description"),
    "mineral_boxes": ("mineral_boxes", "boxes"),
    "size_cm": ("SIZESM", "size_sm", "size_cm"),
    "split": ("split", "subset", "set"),
}
# How many rows to stat when choosing the folder that CSV paths are relative to.
PATH_PROBE_ROWS = 200


class LayoutError(ValueError):
    """The folder is not a usable release: a required file or column is missing."""


def read_csv(path: Path) -> pd.DataFrame:
    """Read a release CSV (comma, semicolon or tab separated); drops a saved pandas index column."""
    try:
        with open(path, encoding="utf-8-sig") as fp:
            header = fp.readline()
        sep = max((",", ";", "\t"), key=header.count)
        df = pd.read_csv(path, sep=sep, encoding="utf-8-sig", keep_default_na=False, na_values=[""],
                         low_memory=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LayoutError(f"{path}: cannot read as CSV ({exc})") from exc
    return df.drop(columns=[c for c in df.columns if str(c).startswith("Unnamed: ")])


def match_columns(df: pd.DataFrame, wanted: tuple[str, ...], required: tuple[str, ...], file: Path
                  ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename the first alias found of each `wanted` canonical column; returns (frame, canonical -> source).

    Raises LayoutError naming the file, the missing column, the names tried and the columns present.
    """
    lower = {str(c).lower(): c for c in df.columns}
    used: dict[str, str] = {}
    for canon in wanted:
        for alias in ALIASES[canon]:
            if alias.lower() in lower and lower[alias.lower()] not in used.values():
                used[canon] = lower[alias.lower()]
                break
        if canon not in used and canon in required:
            raise LayoutError(f"{file}: no column for {canon!r} (tried {', '.join(ALIASES[canon])}); the file has "
                              f"columns {', '.join(map(str, df.columns))}")
    # A canonical name present under another role must not collide with the renamed column.
    clashes = [canon for canon, src in used.items() if canon != src and canon in df.columns]
    df = df.rename(columns={c: f"{c}_orig" for c in clashes}).rename(columns={v: k for k, v in used.items()})
    return df, used


def parse_boxes(value) -> list:
    """`mineral_boxes` cell -> list of dicts; JSON or a Python literal; empty cell -> []."""
    if isinstance(value, list):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return []
    text = str(value)
    try:
        out = json.loads(text)
    except json.JSONDecodeError:
        out = ast.literal_eval(text)  # OWL-ViT output saved with str(): single quotes
    if not isinstance(out, list):
        raise ValueError(f"expected a list of boxes, got {type(out).__name__}")
    return out


def _normalise_rel(value: str) -> str:
    return str(value).strip().replace("\\", "/")


class Release:
    """One release folder. Build it with `open_release(root)`; see the module docstring."""

    def __init__(self, root: Path, full_csv: Path):
        self.root = root
        self.full_csv = full_csv
        self.problems: list[str] = []
        self.report: dict = {"root": str(root), "files": {}, "columns": {}, "path_base": {},
                             "problems": self.problems, "notes": []}
        self._subsets: dict[int, pd.DataFrame] = {}
        self.full = self._load_full()
        self.report["synthetic"] = "true_size_cm" in self.full.columns
        self.report["files"]["subsets"] = {str(n): self.subset_file(n).name for n in self.available_subsets()}
        size = self.root / SIZE_CSV
        self.report["files"]["size"] = size.name if size.exists() else None
        self.report["files"]["segmentation"] = SEGM_DIR if (self.root / SEGM_DIR).is_dir() else None

    # --- the full table -------------------------------------------------------------------------
    def _load_full(self) -> pd.DataFrame:
        file = self.full_csv
        df = read_csv(file)
        wanted = ("id", "path", "en_name", "ru_name", "description", "mineral_boxes")
        df, used = match_columns(df, wanted, ("path", "en_name"), file)
        self.report["files"]["full"] = file.name
        self.report["columns"][file.name] = used
        if "id" not in df.columns:
            df.insert(0, "id", np.arange(len(df)))
            self.report["notes"].append(f"{file.name}: no id column; ids are row numbers, so subsets join on paths")
        for col in ("ru_name", "description"):
            if col not in df.columns:
                df[col] = ""
            df[col] = df[col].fillna("").astype(str)
        df["en_name"] = df["en_name"].fillna("").astype(str).str.strip()
        blank = (df["en_name"] == "") | df["path"].isna() | (df["path"].astype(str).str.strip() == "")
        if blank.any():
            self.problems.append(f"{file.name}: {int(blank.sum())} rows without a path or a species name, dropped "
                                 f"(e.g. id {df.loc[blank, 'id'].iloc[0]})")
            df = df[~blank].reset_index(drop=True)
        df = self._drop_duplicate_ids(df, file)
        df["mineral_boxes"] = self._parse_box_column(df, file)
        df["path"] = self._resolve_paths(df, file)
        self.images_root = self.root / self.report["path_base"][file.name]
        df = df[df["path"].notna()].reset_index(drop=True)
        front = ["id", "path", "en_name", "ru_name", "description", "mineral_boxes"]
        return df[front + [c for c in df.columns if c not in front]]

    def _drop_duplicate_ids(self, df: pd.DataFrame, file: Path) -> pd.DataFrame:
        dup = df["id"].duplicated(keep="first")
        if dup.any():
            examples = ", ".join(map(str, df.loc[dup, "id"].head(5)))
            self.problems.append(f"{file.name}: {int(dup.sum())} duplicate ids (e.g. {examples}); kept the first row "
                                 "of each")
        return df[~dup].reset_index(drop=True)

    def _parse_box_column(self, df: pd.DataFrame, file: Path) -> list:
        if "mineral_boxes" not in df.columns:
            return [[] for _ in range(len(df))]
        out, bad = [], []
        for rid, value in zip(df["id"], df["mineral_boxes"]):
            try:
                out.append(parse_boxes(value))
            except (ValueError, SyntaxError) as exc:
                bad.append(f"{rid} ({exc})")
                out.append([])
        if bad:
            self.problems.append(f"{file.name}: unreadable mineral_boxes in {len(bad)} rows, left empty (e.g. id "
                                 f"{bad[0]})")
        return out

    # --- paths ----------------------------------------------------------------------------------
    def _base_candidates(self) -> list[Path]:
        nested = self.root / IMAGES_DIR / IMAGES_DIR  # the Kaggle archive nests the folder once more
        return [p for p in (self.root / IMAGES_DIR, nested, self.root) if p.is_dir()]

    def _resolve_paths(self, df: pd.DataFrame, file: Path) -> pd.Series:
        """Absolute path strings of `df["path"]`; None (and a listed problem) for paths that leave the root."""
        rel = df["path"].map(_normalise_rel)
        probe = rel.iloc[:: max(1, len(rel) // PATH_PROBE_ROWS)].head(PATH_PROBE_ROWS)
        best, hits = self.root, -1
        for base in self._base_candidates():
            found = sum((base / r).is_file() for r in probe if not os.path.isabs(r))
            if found > hits:
                best, hits = base, found
        self.report["path_base"][file.name] = Path(os.path.relpath(best, self.root)).as_posix()
        if len(probe) and hits == 0:
            self.problems.append(f"{file.name}: none of {len(probe)} sampled paths exists under {self.root} "
                                 f"(e.g. {probe.iloc[0]}); are the images extracted?")
        root = str(self.root.resolve())
        base = str(best.resolve())
        out, escaping = [], []
        for r in rel:
            full = os.path.normpath(os.path.join(base, r))
            if full == root or not full.startswith(root + os.sep):
                escaping.append(r)
                out.append(None)
            else:
                out.append(full)
        if escaping:
            self.problems.append(f"{file.name}: {len(escaping)} paths leave the release folder and were dropped "
                                 f"(e.g. {escaping[0]!r})")
        return pd.Series(out, index=df.index, dtype=object)

    # --- subsets --------------------------------------------------------------------------------
    def available_subsets(self) -> list[int]:
        """Class counts of the subset CSVs present (`minerals_<n>.csv`), ascending."""
        found = {int(m.group(1)) for p in self.root.iterdir() if (m := SUBSET_PATTERN.match(p.name))}
        return sorted(found)

    def subset_file(self, n: int) -> Path:
        for name in (f"minerals_{n}.csv", f"mineral_{n}.csv"):
            if (self.root / name).is_file():
                return self.root / name
        raise LayoutError(f"{self.root}: no minerals_{n}.csv; subsets present: "
                          f"{', '.join(map(str, self.available_subsets())) or 'none'}")

    def subset(self, n: int, seed: int = 0) -> pd.DataFrame:
        """The `n`-class subset: canonical columns + `label` (classes sorted by en_name) + `split`.

        When the CSV has no split column, a seeded stratified 60/20/20 split is made and saved as a
        manifest (`minerals.data.splits`).
        """
        from minerals.data import splits

        key = (n, seed)
        if key not in self._subsets:
            file = self.subset_file(n)
            df, used = match_columns(read_csv(file), ("id", "path", "split"), (), file)
            self.report["columns"][file.name] = used
            df = self._join_full(df, file)
            classes = sorted(df["en_name"].unique())
            df["label"] = df["en_name"].map({c: i for i, c in enumerate(classes)}).astype(int)
            df = splits.assign_splits(df, self, n, seed, file)
            self._subsets[key] = df
        return self._subsets[key].copy()

    def _join_full(self, df: pd.DataFrame, file: Path) -> pd.DataFrame:
        """Rows of `full` named by the subset file (by id, else by path), keeping its split column."""
        extra = ["split"] if "split" in df.columns else []
        if "id" in df.columns and self.report["columns"][self.full_csv.name].get("id"):
            keys = pd.to_numeric(df["id"], errors="coerce") if pd.api.types.is_numeric_dtype(self.full["id"]) \
                else df["id"].astype(str)
            sub = pd.DataFrame({"id": keys, **{c: df[c].values for c in extra}})
            merged = sub.merge(self.full, on="id", how="left", validate="many_to_one")
        elif "path" in df.columns:
            paths = self._resolve_paths(df, file)
            sub = pd.DataFrame({"path": paths, **{c: df[c].values for c in extra}}).dropna(subset=["path"])
            merged = sub.merge(self.full, on="path", how="left", validate="many_to_one")
        else:
            raise LayoutError(f"{file}: needs an id or a path column to name its photos; columns are "
                              f"{', '.join(map(str, df.columns))}")
        missing = merged["en_name"].isna()
        if missing.any():
            self.problems.append(f"{file.name}: {int(missing.sum())} rows not found in {self.full_csv.name}, "
                                 "dropped")
        dup = merged["id"].duplicated() & ~missing
        if dup.any():
            self.problems.append(f"{file.name}: {int(dup.sum())} duplicate rows, kept the first of each")
        merged = merged[~missing & ~dup].reset_index(drop=True)
        front = list(self.full.columns)
        return merged[front + extra]

    def classes(self, n: int | None = None, lang: str = "en") -> list[str]:
        """Class names in label order (sorted English names); `n=None` = every species of the full set.

        `lang="ru"` gives the Russian names in the same order.
        """
        names = sorted(self.full["en_name"].unique()) if n is None else \
            sorted(self.subset(n).drop_duplicates("label")["en_name"])
        if lang == "en":
            return names
        if lang == "ru":
            return [self.ru_names.get(c, "") for c in names]
        raise ValueError(f"lang must be 'en' or 'ru', got {lang!r}")

    @cached_property
    def ru_names(self) -> dict[str, str]:
        """English species name -> Russian name (the first non-empty one in the full table)."""
        named = self.full[self.full["ru_name"] != ""].drop_duplicates("en_name")
        return dict(zip(named["en_name"], named["ru_name"]))

    # --- size and segmentation ------------------------------------------------------------------
    def size_table(self) -> pd.DataFrame:
        """`minerals_size.csv`: canonical columns (from the full table where the photo is there) + `size_cm`."""
        return self._size_table.copy()

    @cached_property
    def _size_table(self) -> pd.DataFrame:
        file = self.root / SIZE_CSV
        if not file.is_file():
            raise LayoutError(f"{self.root}: no {SIZE_CSV}; the size subset is part of the original release")
        df, used = match_columns(read_csv(file), ("path", "ru_name", "size_cm", "id"), ("path", "size_cm"), file)
        self.report["columns"][file.name] = used
        df["path"] = self._resolve_paths(df, file)
        df["size_cm"] = pd.to_numeric(df["size_cm"].astype(str).str.replace(",", ".", regex=False), errors="coerce")
        bad = df["path"].notna() & ~(df["size_cm"] > 0)
        if bad.any():
            self.problems.append(f"{file.name}: {int(bad.sum())} rows without a positive size in cm, dropped")
        df = df[df["path"].notna() & ~bad].drop(columns=["id"], errors="ignore")
        own = [c for c in df.columns if c != "path"]
        merged = df.merge(self.full.drop(columns=[c for c in own if c in self.full.columns and c != "ru_name"]),
                          on="path", how="left", suffixes=("", "_full"))
        if "ru_name_full" in merged.columns:
            merged["ru_name"] = merged["ru_name"].fillna(merged.pop("ru_name_full"))
        for col in ("en_name", "ru_name", "description"):
            merged[col] = merged[col].fillna("") if col in merged.columns else ""
        merged["mineral_boxes"] = [b if isinstance(b, list) else [] for b in merged.get("mineral_boxes", [])]
        front = ["id", "path", "en_name", "ru_name", "description", "mineral_boxes", "size_cm"]
        return merged[front + [c for c in merged.columns if c not in front]].reset_index(drop=True)

    def segmentation(self) -> list[tuple[Path, Path]]:
        """`(photo, mask)` pairs of `segm/img` and `segm/mask`, matched by file stem, sorted by name."""
        return list(self._segmentation)

    @cached_property
    def _segmentation(self) -> list[tuple[Path, Path]]:
        img_dir, mask_dir = self.root / SEGM_DIR / "img", self.root / SEGM_DIR / "mask"
        if not img_dir.is_dir() or not mask_dir.is_dir():
            raise LayoutError(f"{self.root}: no {SEGM_DIR}/img and {SEGM_DIR}/mask folders; extract segm.tar there")
        masks = {p.stem.lower(): p for p in mask_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        pairs, orphans = [], []
        for img in sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            mask = masks.get(img.stem.lower())
            if mask is None:
                orphans.append(img.name)
            else:
                pairs.append((img, mask))
        if orphans:
            self.problems.append(f"{SEGM_DIR}/img: {len(orphans)} photos have no mask in {SEGM_DIR}/mask (e.g. "
                                 f"{orphans[0]})")
        return pairs

    def __repr__(self) -> str:
        return (f"Release({self.root}, {len(self.full)} photos, {self.full['en_name'].nunique()} species, "
                f"subsets {self.available_subsets()})")


def find_full_csv(root: Path) -> Path:
    """The full CSV in `root` or one folder below it (a mirror's archive folder)."""
    for folder in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        for name in FULL_CSV_NAMES:
            if (folder / name).is_file():
                return folder / name
    raise LayoutError(f"{root}: no {' or '.join(FULL_CSV_NAMES)} here or one folder below; pass the folder that "
                      "holds it and mineral_images/ (run `minerals data download --root DIR`, or use the Kaggle "
                      "mirror sergeynesteruk/minerals)")


def open_release(root: str | os.PathLike) -> Release:
    """Open the release at `root` (the folder with minerals_full.csv and mineral_images/)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LayoutError(f"{root}: no such folder; run `minerals data download --root {root}` first")
    csv = find_full_csv(root.resolve())
    return Release(csv.parent, csv)
