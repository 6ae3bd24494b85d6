"""Decoding: modes, EXIF, draft mode, and bad files that must raise ImageError naming the file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from minerals.data.images import ImageError, load_image, load_mask


def _save(path, arr, mode=None, **kw):
    Image.fromarray(arr, mode=mode).save(path, **kw)
    return path


@pytest.fixture
def jpeg(tmp_path):
    rng = np.random.default_rng(0)
    return _save(tmp_path / "IMG_0001.JPG", rng.integers(0, 255, (768, 1024, 3), dtype=np.uint8), quality=90)


def test_rgb_jpeg_full_and_downscaled(jpeg):
    full = load_image(jpeg)
    assert full.mode == "RGB" and full.size == (1024, 768)
    small = load_image(jpeg, max_side=224)
    assert small.mode == "RGB" and max(small.size) == 224 and small.size == (224, 168)


def test_draft_keeps_at_least_max_side(tmp_path):
    path = _save(tmp_path / "tall.jpg", np.full((1000, 300, 3), 128, np.uint8))
    img = load_image(path, max_side=250)
    assert img.size == (75, 250)


@pytest.mark.parametrize("mode,arr", [
    ("L", np.full((40, 50), 200, np.uint8)),
    ("RGBA", np.dstack([np.full((40, 50, 3), 10, np.uint8), np.zeros((40, 50), np.uint8)])),
    ("LA", np.dstack([np.full((40, 50), 10, np.uint8), np.full((40, 50), 255, np.uint8)])),
])
def test_modes_to_rgb_png(tmp_path, mode, arr):
    img = load_image(_save(tmp_path / f"x_{mode}.png", arr, mode=mode))
    assert img.mode == "RGB" and img.size == (50, 40)
    if mode == "RGBA":  # fully transparent: composited onto white, not the hidden dark colour
        assert np.asarray(img).min() == 255


def test_sixteen_bit_png_is_rescaled(tmp_path):
    arr = np.full((20, 30), 65535 // 2, np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    assert Image.open(path).mode.startswith("I")
    out = np.asarray(load_image(path))
    assert out.shape == (20, 30, 3) and abs(int(out[0, 0, 0]) - 128) <= 1


def test_cmyk_jpeg(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (300, 200), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    img = load_image(path, max_side=100)
    r, g, b = np.asarray(img)[50, 50]
    assert img.mode == "RGB" and max(img.size) == 100 and r > 200 and g < 60 and b < 60


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (10, 10), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.info["transparency"] = 0
    path = tmp_path / "p.png"
    img.save(path, transparency=0)
    assert np.asarray(load_image(path)).min() == 255


def test_exif_orientation_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif)
    assert load_image(path).size == (20, 40)


def test_truncated_jpeg_names_file(jpeg, tmp_path):
    data = jpeg.read_bytes()
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(data[: len(data) // 2])
    for side in (None, 224):
        with pytest.raises(ImageError, match="cut.jpg.*truncated"):
            load_image(bad, side)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty.jpg.*empty file"):
        load_image(empty)
    with pytest.raises(ImageError, match="nothere.jpg: file not found"):
        load_image(tmp_path / "nothere.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ImageError, match="notes.jpg: not a readable image"):
        load_image(text)


def test_decompression_bomb_refused(jpeg, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageError, match="IMG_0001.JPG.*decompression bomb"):
        load_image(jpeg)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 600_000)  # between 1x and 2x: a warning in PIL, an error here
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(jpeg)


def test_mask_thresholds_noisy_jpeg(tmp_path):
    mask = np.zeros((60, 80, 3), np.uint8)
    mask[10:40, 20:60] = 255
    path = _save(tmp_path / "m.JPG", mask, quality=60)
    out = load_mask(path, shape=(60, 80))
    assert out.dtype == bool and out.shape == (60, 80)
    assert out[10:40, 20:60].mean() > 0.97 and out.sum() < 30 * 40 * 1.05


def test_mask_errors(tmp_path):
    path = _save(tmp_path / "m.png", np.zeros((10, 12), np.uint8))
    with pytest.raises(ImageError, match=r"m.png: mask is 12x10 px but its photo is 13x10"):
        load_mask(path, shape=(10, 13))
    with pytest.raises(ImageError, match="gone.png: mask file not found"):
        load_mask(tmp_path / "gone.png")
