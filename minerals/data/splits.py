"""Train/val/test splits of a classification subset, identical for every user.

A subset CSV with a split column keeps it (values like train/valid/test are normalised; when it has
no validation part, one is carved from train with the seed). Without one, a seeded stratified split
is made (default 60/20/20 of each class; every class with at least 3 photos appears in every part;
the seeded order is a hash of each id, see `shuffle_key`) and saved as a manifest CSV (`id, label, split`) whose name carries a hash of the ids, labels, seed
and fractions: `<root>/splits/` when the release folder is writable, else the cache folder. A
manifest found there is read back rather than recomputed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from minerals.results import atomic_write

FRACTIONS = (0.6, 0.2, 0.2)
SPLITS = ("train", "val", "test")
# Spellings of split values found in subset CSVs -> canonical split.
SPLIT_VALUES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                "dev": "val", "test": "test", "testing": "test"}


def shuffle_key(ids, seed: int) -> np.ndarray:
    """`(N,)` uint64 sort keys: the first 8 bytes of sha256("<seed>:<id>") of each id.

    Sorting by them is a seeded shuffle that depends only on the ids and the seed: not on row
    order, platform or NumPy's random streams, so every user and version gets the same split.
    """
    return np.array([int.from_bytes(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:8], "big") for i in ids],
                    dtype=np.uint64)


def stratified_split(labels, ids, seed: int, fractions: tuple[float, float, float] = FRACTIONS) -> np.ndarray:
    """`(N,)` array of "train"/"val"/"test" for `(N,)` labels and unique ids, stratified and seeded.

    Each class of n photos gets round(n * val) and round(n * test) photos, at least one each when
    n >= 3 (n = 2: one train, one test; n = 1: train), and the rest in train; which photos is
    decided by `shuffle_key(ids, seed)`.
    """
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    labels = np.asarray(labels)
    keys = shuffle_key(ids, seed)
    out = np.empty(len(labels), dtype=object)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        idx = members[np.argsort(keys[members], kind="stable")]
        n = len(idx)
        n_val, n_test = round(n * fractions[1]), round(n * fractions[2])
        if n >= 3:
            n_val, n_test = max(1, n_val), max(1, n_test)
        else:
            n_val, n_test = 0, n - 1
        out[idx[:n_val]] = "val"
        out[idx[n_val:n_val + n_test]] = "test"
        out[idx[n_val + n_test:]] = "train"
    return out


def carve_val(labels, ids, split, seed: int, fraction: float) -> np.ndarray:
    """Move `fraction` of each class's train photos (at least one when it has >= 2) to "val"."""
    split = np.asarray(split, dtype=object).copy()
    labels = np.asarray(labels)
    keys = shuffle_key(ids, seed)
    for label in np.unique(labels):
        members = np.flatnonzero((labels == label) & (split == "train"))
        idx = members[np.argsort(keys[members], kind="stable")]
        if len(idx) >= 2:
            split[idx[:max(1, round(len(idx) * fraction))]] = "val"
    return split


def manifest_hash(ids: pd.Series, labels: pd.Series, seed: int, fractions=FRACTIONS) -> str:
    """Hash of the sorted (id, label) pairs, the seed and the fractions (16 hex digits)."""
    pairs = sorted(zip(map(str, ids), map(int, labels)))
    text = "\n".join(f"{i},{label}" for i, label in pairs) + f"\nseed={seed}\nfractions={list(fractions)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def manifest_dirs(root: Path) -> list[Path]:
    """Where manifests are looked for, in order: beside the data, then the cache folder."""
    from minerals.cache import cache_dir

    tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
    return [root / "splits", cache_dir() / "splits" / tag]


def assign_splits(df: pd.DataFrame, release, n: int, seed: int, file: Path,
                  fractions: tuple[float, float, float] = FRACTIONS) -> pd.DataFrame:
    """Add a `split` column to a subset frame (with `id`, `label`); record what was done in the report.

    `release` is the `layout.Release` being opened (its `root`, `report` and `problems` are used; not
    imported here, so that layout -> splits stays one-way).
    """
    df = df.copy()
    report = release.report.setdefault("splits", {})
    if "split" in df.columns and not df["split"].astype(str).str.strip().str.lower().isin(SPLIT_VALUES).any():
        release.report["notes"].append(f"{file.name}: column {release.report['columns'][file.name]['split']!r} holds "
                                       "no train/val/test values; ignored, a seeded split is made instead")
        df = df.drop(columns=["split"])
    if "split" in df.columns:
        raw = df["split"].astype(str).str.strip().str.lower()
        df["split"] = raw.map(SPLIT_VALUES)
        unknown = sorted(set(raw[df["split"].isna()]))
        if unknown:
            release.problems.append(f"{file.name}: unknown split values {unknown}; those rows were dropped")
            df = df[df["split"].notna()].reset_index(drop=True)
        if not (df["split"] == "val").any():
            df["split"] = carve_val(df["label"], df["id"], df["split"], seed,
                                    fractions[1] / (fractions[0] + fractions[1]))
            report[str(n)] = f"{file.name} split column; val carved from train with seed {seed}"
        else:
            report[str(n)] = f"{file.name} split column"
        return df
    digest = manifest_hash(df["id"], df["label"], seed, fractions)
    name = f"minerals_{n}_split_{digest}.csv"
    for folder in manifest_dirs(release.root):
        if (folder / name).is_file():
            saved = pd.read_csv(folder / name)
            if len(saved) == len(df) and set(saved["id"].astype(str)) == set(df["id"].astype(str)):
                df["split"] = df["id"].astype(str).map(dict(zip(saved["id"].astype(str), saved["split"])))
                report[str(n)] = str(folder / name)
                return df
    df["split"] = stratified_split(df["label"], df["id"], seed, fractions)
    report[str(n)] = str(save_manifest(df[["id", "label", "split"]], release.root, name))
    return df


def save_manifest(manifest: pd.DataFrame, root: Path, name: str) -> Path:
    """Write the manifest beside the data, or in the cache folder when the release is read-only."""
    for folder in manifest_dirs(root):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK):
                continue
            with atomic_write(folder / name) as tmp:
                manifest.to_csv(tmp, index=False)
            return folder / name
        except OSError:
            continue
    raise OSError(f"cannot write split manifest {name} beside {root} nor in the cache folder; set MINERALS_CACHE "
                  "to a writable folder")


def k_per_class(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Sorted indices of `k` rows per class (every row of a smaller class; `k = 0`: every row), seeded.

    The few-shot `shots` and the zero-shot linear probe draw their training photos with it.
    """
    labels = np.asarray(labels)
    if k == 0:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:k] for c in np.unique(labels)]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)
