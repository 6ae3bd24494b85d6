"""One data fingerprint for every section's run keys: portable across folders, sensitive to content."""

from __future__ import annotations

import shutil

import pytest

from minerals.data.fingerprint import fingerprint


def _release(root):
    (root / "images").mkdir(parents=True)
    for name, data in (("a.jpg", b"aaaa"), ("b.jpg", b"bbbbbb")):
        (root / "images" / name).write_bytes(data)
    return [root / "images" / "a.jpg", root / "images" / "b.jpg"]


def test_moving_the_folder_keeps_the_fingerprint(tmp_path):
    paths = _release(tmp_path / "here")
    before = fingerprint(tmp_path / "here", paths, [[0, 1], ["train", "test"]])
    shutil.move(tmp_path / "here", tmp_path / "there")
    moved = [tmp_path / "there" / "images" / p.name for p in paths]
    assert fingerprint(tmp_path / "there", moved, [[0, 1], ["train", "test"]]) == before


def test_labels_and_bytes_change_the_fingerprint(tmp_path):
    paths = _release(tmp_path)
    base = fingerprint(tmp_path, paths, [[0, 1]])
    assert fingerprint(tmp_path, paths, [[1, 0]]) != base
    paths[0].write_bytes(b"aaaaa")
    assert fingerprint(tmp_path, paths, [[0, 1]]) != base
    with pytest.raises(ValueError, match="column of 1 values for 2 photos"):
        fingerprint(tmp_path, paths, [[0]])
