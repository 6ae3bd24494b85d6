"""open_release on files imitating the real layout and its uncertain variants."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from data_fixture import make_release
from minerals.data import LayoutError, open_release


def test_canonical_full_table(tmp_path):
    rel = open_release(make_release(tmp_path))
    full = rel.full
    assert list(full.columns[:6]) == ["id", "path", "en_name", "ru_name", "description", "mineral_boxes"]
    assert {"height", "width", "true_size_cm"} <= set(full.columns)
    assert len(full) == 18 and full["id"].is_unique
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in full["path"])
    assert full["path"].str.endswith(".JPG").any() and full["path"].str.contains("/1_syst/1_").any()
    assert full["mineral_boxes"][0][0]["label"] == "a stone"
    assert rel.report["files"]["full"] == "minerals_full.csv"
    assert rel.report["path_base"]["minerals_full.csv"] == "mineral_images"
    assert rel.available_subsets() == [3] and rel.problems == []
    assert rel.ru_names["Quartz"] == "Кварц"
    assert rel.images_root == tmp_path.resolve() / "mineral_images"


def test_variants_spelling_aliases_and_root_relative_paths(tmp_path):
    make_release(tmp_path, full_name="mineral_full.csv", path_base="root",
                 columns={"en_name": "name", "path": "image_path"})
    rel = open_release(tmp_path)
    assert rel.report["files"]["full"] == "mineral_full.csv"
    assert rel.report["columns"]["mineral_full.csv"]["en_name"] == "name"
    assert rel.report["columns"]["mineral_full.csv"]["path"] == "image_path"
    assert rel.report["path_base"]["mineral_full.csv"] == "."
    assert all(Path(p).is_file() for p in rel.full["path"])
    assert len(rel.subset(3)) == 15


def test_kaggle_archive_folder_one_level_down(tmp_path):
    make_release(tmp_path / "archive")
    rel = open_release(tmp_path)
    assert rel.root == (tmp_path / "archive").resolve() and len(rel.full) == 18


def test_kaggle_nested_images_folder(tmp_path):
    make_release(tmp_path)
    images = tmp_path / "mineral_images"
    images.rename(tmp_path / "tmp")
    images.mkdir()
    (tmp_path / "tmp").rename(images / "mineral_images")
    rel = open_release(tmp_path)
    assert rel.report["path_base"]["minerals_full.csv"] == "mineral_images/mineral_images"
    assert all(Path(p).is_file() for p in rel.full["path"])


def test_subset_labels_sorted_by_english_name(tmp_path):
    rel = open_release(make_release(tmp_path))
    sub = rel.subset(3)
    assert rel.classes(3) == ["Calcite", "Pyrite", "Quartz"]
    assert rel.classes(3, lang="ru") == ["Кальцит", "Пирит", "Кварц"]
    assert dict(zip(sub["en_name"], sub["label"])) == {"Calcite": 0, "Pyrite": 1, "Quartz": 2}
    assert rel.classes(None) == ["Calcite", "Fluorite", "Pyrite", "Quartz"]


def test_missing_column_is_a_clear_error(tmp_path):
    make_release(tmp_path)
    df = pd.read_csv(tmp_path / "minerals_full.csv").drop(columns=["en_name"])
    df.to_csv(tmp_path / "minerals_full.csv", index=False)
    with pytest.raises(LayoutError, match=r"minerals_full.csv: no column for 'en_name' \(tried en_name, name"):
        open_release(tmp_path)


def test_no_release_here(tmp_path):
    with pytest.raises(LayoutError, match="no minerals_full.csv or mineral_full.csv.*Kaggle"):
        open_release(tmp_path)
    with pytest.raises(LayoutError, match="no such folder"):
        open_release(tmp_path / "absent")


def test_duplicate_ids_and_escaping_paths_are_listed(tmp_path):
    make_release(tmp_path)
    df = pd.read_csv(tmp_path / "minerals_full.csv")
    df.loc[1, "id"] = df.loc[0, "id"]
    df.loc[2, "path"] = "../../etc/passwd"
    df.loc[3, "path"] = "/etc/passwd"
    df.loc[17, "en_name"] = None
    df.to_csv(tmp_path / "minerals_full.csv", index=False)
    rel = open_release(tmp_path)
    assert len(rel.full) == 14 and "nan" not in set(rel.full["en_name"])
    assert "minerals_full.csv: 1 rows without a path or a species name, dropped (e.g. id 1017)" in rel.problems
    text = "\n".join(rel.problems)
    assert "minerals_full.csv: 1 duplicate ids (e.g. 1000)" in text
    assert "minerals_full.csv: 2 paths leave the release folder" in text
    assert len(rel.subset(3)) == 12
    assert "minerals_3.csv: 3 rows not found in minerals_full.csv, dropped" in "\n".join(rel.problems)


def test_python_literal_boxes_and_bad_boxes(tmp_path):
    make_release(tmp_path)
    df = pd.read_csv(tmp_path / "minerals_full.csv")
    df.loc[0, "mineral_boxes"] = "[{'label': 'a gem', 'confidence': 0.5, 'box': [0, 0, 1, 1]}]"
    df.loc[1, "mineral_boxes"] = "[{oops"
    df.loc[2, "mineral_boxes"] = None
    df.to_csv(tmp_path / "minerals_full.csv", index=False)
    rel = open_release(tmp_path)
    assert rel.full["mineral_boxes"][0][0]["label"] == "a gem"
    assert rel.full["mineral_boxes"][1] == [] and rel.full["mineral_boxes"][2] == []
    assert any("unreadable mineral_boxes in 1 rows" in p and "1001" in p for p in rel.problems)


def test_size_table_aliases(tmp_path):
    make_release(tmp_path)
    df = pd.read_csv(tmp_path / "minerals_size.csv").rename(columns={"SIZESM": "size_sm"}).astype({"size_sm": object})
    df.loc[4, "size_sm"] = "n/a"
    df.to_csv(tmp_path / "minerals_size.csv", index=False)
    rel = open_release(tmp_path)
    size = rel.size_table()
    assert len(size) == 4 and size["size_cm"].gt(0).all() and size["en_name"].eq("Quartz").all()
    assert rel.report["columns"]["minerals_size.csv"]["size_cm"] == "size_sm"
    rel.size_table()
    assert sum("minerals_size.csv: 1 rows without a positive size" in p for p in rel.problems) == 1


def test_segmentation_pairs_and_orphans(tmp_path):
    make_release(tmp_path, segm=3)
    (tmp_path / "segm" / "mask" / "S_2.JPG").unlink()
    rel = open_release(tmp_path)
    pairs = rel.segmentation()
    assert [p[0].name for p in pairs] == ["S_0.JPG", "S_1.JPG"]
    assert any("1 photos have no mask" in p and "S_2.JPG" in p for p in rel.problems)


def test_optional_files_absent(tmp_path):
    make_release(tmp_path, subsets=(), segm=0, size_rows=0)
    shutil.rmtree(tmp_path / "segm", ignore_errors=True)
    rel = open_release(tmp_path)
    assert rel.available_subsets() == []
    with pytest.raises(LayoutError, match="no minerals_10.csv; subsets present: none"):
        rel.subset(10)
    with pytest.raises(LayoutError, match="no minerals_size.csv"):
        rel.size_table()
    with pytest.raises(LayoutError, match="no segm/img"):
        rel.segmentation()


def test_subset_by_path_without_ids(tmp_path):
    make_release(tmp_path)
    sub = pd.read_csv(tmp_path / "minerals_3.csv")
    sub = pd.concat([sub, sub.head(1)])[["path"]]  # one duplicate row
    sub.loc[len(sub)] = ["1_syst/not/in_full.jpg"]
    sub.to_csv(tmp_path / "minerals_3.csv", index=False)
    rel = open_release(tmp_path)
    out = rel.subset(3)
    assert len(out) == 15 and out["id"].is_unique
    assert rel.report["columns"]["minerals_3.csv"] == {"path": "path"}
    assert "minerals_3.csv: 1 rows not found in minerals_full.csv, dropped" in rel.problems
    assert "minerals_3.csv: 1 duplicate rows, kept the first of each" in rel.problems
