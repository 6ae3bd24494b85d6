"""Seeded stratified splits, their manifests, and split columns in subset CSVs."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from data_fixture import make_release
from minerals.data import open_release
from minerals.data.splits import carve_val, stratified_split


def test_stratified_split_counts_and_seed():
    labels = np.repeat(np.arange(4), [10, 5, 3, 2])
    ids = np.arange(100, 120)
    a = stratified_split(labels, ids, seed=0)
    assert (a == stratified_split(labels, ids, seed=0)).all()
    assert (a != stratified_split(labels, ids, seed=1)).any()
    for label, n in zip(range(4), [10, 5, 3, 2]):
        parts = a[labels == label]
        counts = {s: int((parts == s).sum()) for s in ("train", "val", "test")}
        if n >= 3:
            assert min(counts.values()) >= 1
        assert sum(counts.values()) == n
    assert {s: int((a[labels == 0] == s).sum()) for s in ("train", "val", "test")} == {"train": 6, "val": 2, "test": 2}
    assert sorted(a[labels == 3]) == ["test", "train"]
    with pytest.raises(ValueError, match="fractions"):
        stratified_split(labels, ids, 0, (0.5, 0.5, 0.5))


def test_split_ignores_row_order():
    rng = np.random.default_rng(0)
    labels, ids = rng.integers(0, 5, 200), rng.permutation(10_000)[:200]
    order = rng.permutation(200)
    a = stratified_split(labels, ids, seed=3)
    b = stratified_split(labels[order], ids[order], seed=3)
    assert (a[order] == b).all()


def test_split_is_pinned():
    """The split of a fixed input never changes across versions (hash-based, no NumPy random streams)."""
    split = stratified_split([0] * 5 + [1] * 5, [f"id{i}" for i in range(10)], seed=0)
    assert " ".join(split) == "test train val train train train val test train train"


def test_carve_val_only_from_train():
    labels = np.array([0] * 8 + [1] * 2)
    split = np.array(["train"] * 6 + ["test"] * 2 + ["train", "test"], dtype=object)
    out = carve_val(labels, np.arange(10), split, seed=0, fraction=0.25)
    assert (out[6:8] == "test").all() and (out[labels == 0] == "val").sum() == 2
    assert list(out[8:]) == ["train", "test"]  # one train photo: nothing to carve


def test_manifest_written_and_reused(tmp_path):
    make_release(tmp_path)
    rel = open_release(tmp_path)
    sub = rel.subset(3)
    manifests = list((tmp_path / "splits").glob("minerals_3_split_*.csv"))
    assert len(manifests) == 1
    saved = pd.read_csv(manifests[0])
    assert list(saved.columns) == ["id", "label", "split"] and len(saved) == len(sub)
    # a tampered manifest is what a second user reads back: the manifest, not a recomputation, decides
    saved.loc[saved["split"] == "train", "split"] = "test"
    saved.to_csv(manifests[0], index=False)
    again = open_release(tmp_path).subset(3)
    assert (again["split"] == "test").sum() > (sub["split"] == "test").sum()
    assert rel.report["splits"]["3"] == str(manifests[0])


def test_manifest_goes_to_cache_when_root_read_only(tmp_path, monkeypatch):
    root = make_release(tmp_path / "data")
    monkeypatch.setenv("MINERALS_CACHE", str(tmp_path / "cache"))
    writable = os.access  # root may write anywhere: imitate a read-only release folder instead of chmod
    monkeypatch.setattr(os, "access", lambda p, mode: writable(p, mode) and not str(p).startswith(str(root)))
    open_release(root).subset(3)
    assert not any((root / "splits").iterdir())
    assert len(list((tmp_path / "cache" / "splits").glob("*/minerals_3_split_*.csv"))) == 1


def test_split_column_kept_and_val_carved(tmp_path):
    make_release(tmp_path, split_column=True)
    rel = open_release(tmp_path)
    sub = rel.subset(3)
    raw = pd.read_csv(tmp_path / "minerals_3.csv")
    assert (sub["split"] == "test").sum() == (raw["split"] == "test").sum()
    assert (sub["split"] == "val").sum() >= 3
    assert not (tmp_path / "splits").exists()
    assert "val carved from train" in rel.report["splits"]["3"]


def test_split_value_spellings(tmp_path):
    make_release(tmp_path, split_column=True)
    raw = pd.read_csv(tmp_path / "minerals_3.csv")
    raw["split"] = ["Valid" if i % 4 == 1 else s.upper() for i, s in enumerate(raw["split"])]
    raw.loc[0, "split"] = "holdout"
    raw.to_csv(tmp_path / "minerals_3.csv", index=False)
    rel = open_release(tmp_path)
    sub = rel.subset(3)
    assert set(sub["split"]) == {"train", "val", "test"} and len(sub) == len(raw) - 1
    assert any("unknown split values ['holdout']" in p for p in rel.problems)


def test_column_without_split_values_is_ignored(tmp_path):
    make_release(tmp_path)
    raw = pd.read_csv(tmp_path / "minerals_3.csv")
    raw["subset"] = 3
    raw.to_csv(tmp_path / "minerals_3.csv", index=False)
    rel = open_release(tmp_path)
    sub = rel.subset(3)
    assert set(sub["split"]) == {"train", "val", "test"} and len(sub) == len(raw)
    assert any("column 'subset' holds no train/val/test values" in n for n in rel.report["notes"])
    assert rel.problems == []
