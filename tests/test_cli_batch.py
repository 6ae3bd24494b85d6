"""`minerals.cli.batch`: the photo list and CAM flags that segment, size and identify share."""

from __future__ import annotations

import pytest

from minerals.cam import DEFAULT_METHOD, DEFAULT_THRESHOLD, PAPER_METHOD, PAPER_THRESHOLD
from minerals.cli import CommandError
from minerals.cli.batch import cam_pipeline, photo_paths


def test_photo_paths_expand_folders_and_name_what_is_missing(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/b.jpg", "d/sub/a.PNG", "d/notes.txt", "c.jpg"):
        (tmp_path / name).write_bytes(b"x")
    assert photo_paths([str(tmp_path / "c.jpg"), str(tmp_path / "d")]) == [
        tmp_path / "c.jpg", tmp_path / "d" / "b.jpg", tmp_path / "d" / "sub" / "a.PNG"]
    with pytest.raises(CommandError, match=r"gone\.jpg: no such file or folder; check the path"):
        photo_paths([str(tmp_path / "gone.jpg")])
    assert photo_paths([str(tmp_path / "gone.jpg")], keep_missing=True) == [tmp_path / "gone.jpg"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="no photos found in .*empty"):
        photo_paths([str(tmp_path / "empty")])


def test_cam_pipeline_defaults_paper_and_conflict():
    flags = ("--method", "--threshold", "--paper")
    assert cam_pipeline(None, None, False, flags) == (DEFAULT_METHOD, DEFAULT_THRESHOLD)
    assert cam_pipeline("gradcam", None, False, flags) == ("gradcam", DEFAULT_THRESHOLD)
    assert cam_pipeline(None, None, True, flags) == (PAPER_METHOD, PAPER_THRESHOLD)
    with pytest.raises(CommandError, match="--paper sets --method and --threshold"):
        cam_pipeline("gradcam", None, True, flags)
