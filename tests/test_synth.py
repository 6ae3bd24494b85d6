"""The synthetic museum-photo release: layout, truth, determinism, reuse, style overrides."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from minerals.data import synth
from minerals.data.synth import PARAMS_FILE, SynthStyle, class_counts, ensure_synthetic, generate
from minerals.data.synth_scene import CUBE_EDGE_CM, draw_cube, feret_px, render_photo
from minerals.data.synth_specimen import HABITS, load_species, render_specimen, Light

TINY = dict(classes=4, per_class=3, image_size=128, seed=0, n_segm=3)
FULL_COLUMNS = ["id", "path", "en_name", "ru_name", "height", "width", "description", "mineral_boxes",
                "true_class", "true_size_cm", "cm_per_px", "cube_side_px", "cube_kind", "specimen_box", "cube_box",
                "card_box"]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("synth") / "root", **TINY)


def test_layout_columns_and_images(tiny):
    full = pd.read_csv(tiny / "minerals_full.csv", keep_default_na=False)
    assert list(full.columns[:len(FULL_COLUMNS)]) == FULL_COLUMNS
    assert len(full) == sum(class_counts(4, 3)) and full["id"].is_unique
    assert full["en_name"].nunique() == 4
    assert any("/" not in p for p in full["path"]) and any(p.count("/") == 2 for p in full["path"])
    for row in full.itertuples():
        img = cv2.imread(str(tiny / "mineral_images" / row.path))
        assert img is not None, row.path
        assert img.shape[:2] == (row.height, row.width) and max(img.shape[:2]) == 128
        for hit in json.loads(row.mineral_boxes):
            assert hit["label"] in synth.OWL_LABELS and all(0 <= v <= 1 for v in hit["box"])
        x0, y0, x1, y1 = json.loads(row.specimen_box)
        assert 0 <= x0 < x1 <= row.width and 0 <= y0 < y1 <= row.height
    sub = pd.read_csv(tiny / "minerals_10.csv")
    assert list(sub.columns) == ["id", "path", "en_name", "ru_name"] and len(sub) == len(full)
    assert not (tiny / "minerals_36.csv").exists()
    size = pd.read_csv(tiny / "minerals_size.csv", keep_default_na=False)
    assert list(size.columns[:3]) == ["path_final", "ru_name", "SIZESM"]
    assert len(size) == len(full) // 4 and set(size["path_final"]) <= set(full["path"])
    assert (size["cube_box"] != "").all()
    merged = size.merge(full, left_on="path_final", right_on="path")
    np.testing.assert_allclose(merged["SIZESM"], merged["true_size_cm_y"], atol=0.051)
    imgs = sorted(p.name for p in (tiny / "segm" / "img").iterdir())
    masks = sorted(p.name for p in (tiny / "segm" / "mask").iterdir())
    assert imgs == masks and len(imgs) == 3
    # the cube kind drawn is recorded in both tables, empty exactly where there is no cube
    assert set(full["cube_kind"]) <= set(CUBE_EDGE_CM) | {""}
    assert ((full["cube_kind"] == "") == (full["cube_box"] == "")).all()
    assert (merged["cube_kind_x"] == merged["cube_kind_y"]).all() and (size["cube_kind"] != "").all()
    params = json.loads((tiny / PARAMS_FILE).read_text())
    assert params["classes"] == 4 and params["style"]["card_probability"] == SynthStyle().card_probability


def test_segm_masks_are_noisy_binary_jpegs(tiny):
    for path in (tiny / "segm" / "mask").iterdir():
        mask = cv2.imread(str(path))
        assert mask.ndim == 3 and mask.shape[2] == 3
        fg, bg = (mask >= 200).all(2), (mask <= 20).all(2)
        assert fg.mean() > 0.02 and bg.mean() > 0.2
        assert (fg | bg).mean() > 0.9  # JPEG noise only near the edges
        img = cv2.imread(str(tiny / "segm" / "img" / path.name))
        assert img.shape == mask.shape


def test_same_seed_same_bytes_any_workers(tmp_path, tiny):
    again = generate(tmp_path / "again", **TINY, workers=2)
    assert _files(again) == _files(tiny)
    other = generate(tmp_path / "other", **{**TINY, "seed": 1})
    a, b = _files(other), _files(tiny)
    assert a.keys() != b.keys() or a != b


def test_class_counts_long_tail():
    counts = class_counts(14, 40)
    assert counts[:10] == sorted(counts[:10], reverse=True)
    assert counts[0] == 80 and counts[9] == 40
    assert all(1 <= c < 40 for c in counts[10:]) and counts[10:] == sorted(counts[10:], reverse=True)


def test_photo_truth_is_what_was_drawn():
    species = load_species()
    style = SynthStyle(card_probability=1.0, cube_probability=1.0)
    for i in range(6):
        photo = render_photo(species[i], np.random.default_rng([3, i]), 384, style)
        t = photo.truth
        ys, xs = np.nonzero(photo.mask)
        assert t["specimen_box"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        # the longest extent measured on the (warped) photo agrees with the truth up to the mild perspective
        assert feret_px(photo.mask) * t["cm_per_px"] == pytest.approx(t["true_size_cm"], rel=0.06)
        # the cube's front face is its kind's edge up to the depth jitter and the perspective
        assert t["cube_side_px"] * t["cm_per_px"] == pytest.approx(CUBE_EDGE_CM[t["cube_kind"]], rel=0.08)
        x0, y0, x1, y1 = t["cube_box"]
        assert not photo.mask[int(y0) + 1:int(y1) - 1, int(x0) + 1:int(x1) - 1].any()
        assert t["card_box"] is None or not _boxes_overlap(t["card_box"], t["specimen_box"])


def _boxes_overlap(a, b) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


@pytest.mark.parametrize("habit", HABITS)
def test_every_habit_draws_a_whole_specimen(habit):
    for i, species in enumerate(s for s in load_species() if habit in s.habits):
        spec = render_specimen(species, 120, np.random.default_rng(i), Light.from_angles(130, 45), habit=habit)
        m = spec.mask
        assert m.dtype == np.uint8 and set(np.unique(m)) == {0, 1}
        assert spec.rgb.shape[:2] == m.shape and 30 < max(m.shape) < 200
        assert spec.rgb[m.astype(bool)].std() > 3  # shaded, not flat
        # cropped with a 2 px margin: a specimen touching the frame was cut by its canvas
        assert not (m[:2].any() or m[-2:].any() or m[:, :2].any() or m[:, -2:].any()), species.en_name


def test_species_are_told_apart_by_colour_on_average():
    """Look-alikes overlap, but unlike species differ: mean specimen colour of Malachite vs Azurite."""
    species = {s.en_name: s for s in load_species()}
    light = Light.from_angles(130, 45)

    def mean_rgb(name):
        return np.mean([render_specimen(species[name], 80, np.random.default_rng(k), light).rgb.reshape(-1, 3)
                        [render_specimen(species[name], 80, np.random.default_rng(k), light).mask.ravel() > 0].mean(0)
                        for k in range(4)], axis=0)

    green, blue = mean_rgb("Malachite"), mean_rgb("Azurite")
    assert green[1] > green[2] and blue[2] > blue[1]


def test_ensure_synthetic_reuses_then_regenerates(tmp_path):
    root = tmp_path / "cache"
    params = dict(classes=3, per_class=2, image_size=96, n_segm=1)
    ensure_synthetic(root, **params)
    marker = root / "mineral_images" / "marker"
    marker.write_text("kept")
    assert ensure_synthetic(root, **params) == root and marker.exists()
    ensure_synthetic(root, **{**params, "seed": 5})
    assert not marker.exists() and json.loads((root / PARAMS_FILE).read_text())["seed"] == 5
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]  # no temporary folders left
    # a concurrent builder that finds the same release already in place keeps it
    marker.parent.mkdir(exist_ok=True)
    marker.write_text("kept")
    synth._build(root, synth._resolve(**{**params, "seed": 5}), 1, keep_identical=True)
    assert marker.exists() and [p.name for p in tmp_path.iterdir()] == ["cache"]
    # ...while an explicit generate() rebuilds it
    generate(root, **{**params, "seed": 5})
    assert not marker.exists()
    with pytest.raises(TypeError, match="unknown parameters"):
        ensure_synthetic(root, source="synthetic")


def test_refuses_a_folder_that_is_not_a_synthetic_release(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "minerals_full.csv").write_text("id,path\n")
    with pytest.raises(FileExistsError, match="not a synthetic release"):
        generate(tmp_path / "real", **TINY)
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        ensure_synthetic(tmp_path / "file", **TINY)


def test_failure_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    calls = []

    def boom(job):
        calls.append(job)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return original(job)

    original = synth._render_job
    monkeypatch.setattr(synth, "_render_job", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        generate(tmp_path / "root", **TINY)
    assert list(tmp_path.iterdir()) == []


def test_style_overrides_and_bad_parameters(tmp_path):
    root = generate(tmp_path / "nocube", classes=2, per_class=2, image_size=96, n_size=0, n_segm=0,
                    style={"cube_probability": 0.0, "card_probability": 0.0})
    full = pd.read_csv(root / "minerals_full.csv", keep_default_na=False)
    assert (full["cube_box"] == "").all() and (full["card_box"] == "").all()
    assert len(pd.read_csv(root / "minerals_size.csv")) == 0
    with pytest.raises(ValueError, match="unknown style fields"):
        generate(tmp_path / "x", style={"cube_colour": 1})
    with pytest.raises(ValueError, match="low <= high"):
        generate(tmp_path / "x", style={"cube_frac": (0.2, 0.1)})
    with pytest.raises(ValueError, match="unknown backdrop kinds"):
        SynthStyle(backdrops={"plaid": 1.0})
    with pytest.raises(ValueError, match="classes must be between"):
        generate(tmp_path / "x", classes=len(load_species()) + 1)
    with pytest.raises(ValueError, match="only 0 photos show the cube"):
        generate(tmp_path / "y", classes=2, per_class=2, image_size=96, n_size=2, n_segm=0,
                 style={"cube_probability": 0.0})
    assert not (tmp_path / "y").exists()


def test_larger_subsets_are_written_when_there_are_enough_species(tmp_path):
    root = generate(tmp_path / "r", classes=36, per_class=2, image_size=64, n_segm=0)
    sub36 = pd.read_csv(root / "minerals_36.csv")
    sub10 = pd.read_csv(root / "minerals_10.csv")
    assert sub36["en_name"].nunique() == 36 and sub10["en_name"].nunique() == 10
    counts = pd.read_csv(root / "minerals_full.csv")["en_name"].value_counts()
    assert set(sub10["en_name"]) == set(counts.index[:10]) and counts.iloc[9] > counts.iloc[10]
    assert not (root / "minerals_98.csv").exists()


def _cube_photo(kind, seed=0, **style):
    fields = dict(cube_kinds={kind: 1.0}, cube_probability=1.0, **style)
    return render_photo(load_species()[seed % 6], np.random.default_rng([7, seed]), 320, SynthStyle(**fields))


def test_cube_kinds_match_the_size_package():
    from minerals.size.kinds import EDGE_CM
    assert CUBE_EDGE_CM == dict(EDGE_CM)
    assert set(SynthStyle().cube_kinds) == set(CUBE_EDGE_CM)  # the default mixes all three


@pytest.mark.parametrize("kind", sorted(CUBE_EDGE_CM))
def test_cube_edge_is_the_kinds_edge_exactly(kind):
    """Without depth jitter and perspective the truth is exact: cube px * cm per px = the kind's edge."""
    for seed in range(4):
        photo = _cube_photo(kind, seed, perspective=0.0, cube_scale_jitter=0.0)
        t = photo.truth
        assert t["cube_kind"] == kind
        assert t["cube_side_px"] * t["cm_per_px"] == pytest.approx(CUBE_EDGE_CM[kind], rel=1e-6)  # float32 corners
        # the specimen's true size is its pixel extent at the cube's scale
        scale = CUBE_EDGE_CM[kind] / t["cube_side_px"]
        assert t["true_size_cm"] == pytest.approx(feret_px(photo.mask) * scale, rel=1e-6)


def test_an_engraved_cube_is_smaller_in_pixels_for_the_same_scale():
    sides = {kind: _cube_photo(kind, 1, perspective=0.0, cube_scale_jitter=0.0).truth for kind in CUBE_EDGE_CM}
    assert sides["engraved"]["cm_per_px"] == pytest.approx(sides["grey_1cm"]["cm_per_px"], rel=1e-9)
    assert sides["engraved"]["cube_side_px"] / sides["grey_1cm"]["cube_side_px"] == pytest.approx(1 / 1.27, rel=1e-6)


@pytest.mark.parametrize("kind", sorted(CUBE_EDGE_CM))
def test_each_cube_kind_renders_its_look(kind):
    img = np.full((220, 220, 3), 200, np.uint8)
    x0, y0, c, dx, dy = 40.0, 70.0, 120.0, 25.0, 45.0
    draw_cube(img, np.random.default_rng(0), SynthStyle(cube_grey=(120, 120)), kind, x0, y0, c, dx, dy)
    front = img[int(y0) + 4:int(y0 + c) - 4, int(x0) + 4:int(x0 + c) - 4].mean(2)
    top = img[int(y0 - dy) + 6:int(y0) - 4, int(x0 + dx) + 6:int(x0 + c) - 6].mean(2)
    face = np.median(front)
    if kind == "engraved":  # black with white engraved letters
        assert face < 70 and (front > 150).mean() > 0.01
    else:  # grey metal with dark print
        assert 100 < face < 160 and (front < face - 50).mean() > 0.01
    # the top face is marked on the grey cube (its 10 mm ruler) and the engraved one ("S."), not the printed one
    top_marked = (np.abs(top - np.median(top)) > 50).mean() > 0.005
    assert top_marked == (kind != "printed_bar")


@pytest.mark.parametrize("kind", sorted(CUBE_EDGE_CM))
def test_cube_photos_are_deterministic_for_a_seed(kind):
    a, b = _cube_photo(kind, 2), _cube_photo(kind, 2)
    assert np.array_equal(a.image, b.image) and a.truth == b.truth
    assert not np.array_equal(a.image, _cube_photo(kind, 3).image)


def test_unknown_cube_kind_or_placement_is_named(tmp_path):
    with pytest.raises(ValueError, match="cube_kinds: unknown 'wooden'"):
        SynthStyle(cube_kinds={"engraved": 1.0, "wooden": 1.0})
    with pytest.raises(ValueError, match="cube_kinds: unknown 'wooden'"):
        generate(tmp_path / "x", **TINY, style={"cube_kinds": {"wooden": 1.0}})
    with pytest.raises(ValueError, match="cube_placement: unknown 'ceiling'"):
        SynthStyle(cube_placement={"ceiling": 1.0})
    with pytest.raises(ValueError, match="positive sum"):
        SynthStyle(cube_kinds={"engraved": 0.0})


def test_cube_far_from_the_specimen_or_beside_the_card():
    for seed in range(4):
        far = _cube_photo("grey_1cm", seed, perspective=0.0, cube_placement={"far": 1.0})
        spec, cube = far.truth["specimen_box"], far.truth["cube_outline_box"]
        assert max(spec[0] - cube[2], cube[0] - spec[2]) >= 0.15 * far.image.shape[1] - 1
        near = _cube_photo("engraved", seed, perspective=0.0, cube_placement={"card": 1.0}, card_probability=1.0)
        card, cube = near.truth["card_box"], near.truth["cube_outline_box"]
        gap = max(card[0] - cube[2], cube[0] - card[2])
        assert 0 <= gap <= 0.05 * near.image.shape[1] and cube[3] > card[1]  # on the table right next to the card
