"""The cube finder on the hand-labelled real-photo test set (tests/data/real_photos, 28 crops of the two
reference images). Thresholds were chosen on the `tune` half; the figures that count are the `report` half's."""

from pathlib import Path

import pandas as pd
import pytest

from minerals.size import kinds
from minerals.size.realphotos import gallery, in_marked_box, measure_real_photos, score_real_photos, summary

REAL = Path(__file__).parent / "data" / "real_photos"
MEASURED_TARGET = 0.80  # issue 15: the cube measured inside its marked box in >= 80 % of the photos that show one
FOUND_FLOOR = 0.55   # regression guard on both halves: found (measured, or an honest abstention that does not
                     # doubt the cube); 0.82 report, 0.69 tune with cube finder v5 and 128-px text crops
                     # ("measured": the cube trusted in its box, its scale taken, whether or not the specimen was sized)
REASONS = ("no cube found", "two cube", "two cubes", "cube uncertain", "cube edge uncertain", "cube too small",
           "cube cut by the frame", "text says", "specimen cut by the frame", "no specimen found",
           "specimen outline uncertain")


@pytest.fixture(scope="module")
def measured():
    return measure_real_photos(REAL)


@pytest.fixture(scope="module")
def scored(measured):
    return score_real_photos(REAL, measured=measured)


def test_every_photo_without_a_cube_abstains(scored):
    none = scored[~scored.cube_visible]
    assert len(none) >= 4
    assert (none.status != "ok").all(), none[["file", "status"]]


def test_never_measured_with_a_wrong_cube(scored):
    """Found or abstained: no cube outside its marked box, or on a photo without one, is trusted (its scale
    taken, even where the specimen then could not be sized), on both halves."""
    wrong = scored[scored.outcome == "wrong"]
    assert wrong.empty, wrong[["file", "status"]]


def test_abstentions_name_their_reason(scored):
    reasons = scored.status[scored.status != "ok"]
    assert reasons.str.startswith(REASONS).all(), reasons[~reasons.str.startswith(REASONS)]


def test_cube_found_in_its_marked_box(scored, capsys):
    """The issue's target on the report half; with the text reader (easyocr), as the default configuration runs."""
    pytest.importorskip("easyocr")
    table = summary(scored).set_index("split")
    with capsys.disabled():
        print("\n" + table.to_string())
    assert (table.found >= FOUND_FLOOR).all(), table.found
    assert (table.kind_right >= 0.8).all(), table.kind_right  # the kind found (its edge gives the scale)
    report = scored[(scored.split == "report") & scored.cube_visible]
    done = report.outcome == "measured"
    if done.mean() < MEASURED_TARGET:
        missed = ", ".join(f"{r.file} ({r.outcome}: {r.status[:40]})" for r in report[~done].itertuples())
        pytest.xfail(f"cube measured in {done.sum()}/{len(report)} report-half photos ({done.mean():.0%} < "
                     f"{MEASURED_TARGET:.0%}, issue 15; found in {report.outcome.isin(('measured', 'found')).sum()}); "
                     f"not measured: {missed}")


def test_a_trusted_cube_counts_whether_or_not_the_specimen_was_sized():
    from minerals.size.realphotos import outcome
    from minerals.size.result import SizeEstimate

    cut = SizeEstimate(cube_box=(10, 10, 20, 20), cube_trusted=True).abstain("specimen cut by the frame")
    assert outcome(cut, (8, 8, 22, 22)) == "measured"
    assert outcome(cut, (50, 50, 70, 70)) == "wrong" and outcome(cut, None) == "wrong"
    doubted = SizeEstimate(cube_box=(10, 10, 20, 20)).abstain("cube uncertain (confidence 0.05)")
    assert outcome(doubted, (8, 8, 22, 22)) == "doubted" and outcome(doubted, None) == "abstained"
    small = SizeEstimate(cube_box=(10, 10, 20, 20)).abstain("cube too small (10 px < 16 px)")
    assert outcome(small, (8, 8, 22, 22)) == "found" and outcome(small, (50, 50, 70, 70)) == "missed-abstained"


def test_a_cut_specimen_still_reports_the_trusted_scale():
    """poster_b0 (tune half): the grey cube is measured, the specimen runs off the top of the photo."""
    from minerals.size.predict import predict

    row = predict([REAL / "poster_b0.png"], progress=False).iloc[0]
    assert row.status == "specimen cut by the frame" and pd.isna(row.size_cm)
    assert bool(row.cube_trusted) and row.cube_kind == "grey_1cm" and 0.02 < row.cm_per_px < 0.05


def test_marked_box_rule():
    assert in_marked_box((10, 10, 20, 20), (0, 0, 30, 30))  # centre inside
    assert in_marked_box((0, 0, 10, 10), (2, 2, 12, 12))  # IoU 0.47
    assert not in_marked_box((0, 0, 10, 10), (8, 8, 40, 40))


def test_edge_per_cube_kind():
    assert kinds.edge_cm("grey_1cm") == 1.27
    assert kinds.edge_cm("engraved") == 1.0
    assert kinds.edge_cm("engraved", {"engraved": 1.27}) == 1.27
    with pytest.raises(ValueError, match="unknown cube kind 'pink'"):
        kinds.edge_cm("pink")


def test_risk_coverage_moves_with_the_threshold():
    from minerals.size.evaluate import risk_coverage

    preds = pd.DataFrame({"size_cm": [1.0, 2.0, 6.0, None], "true_cm": [1.0, 2.2, 3.0, 2.0],
                          "confidence": [0.9, 0.5, 0.2, 0.0]})
    curve = risk_coverage(preds)
    assert list(curve["coverage"]) == [0.25, 0.5, 0.75]
    assert curve["max_ape"].iloc[-1] == 1.0 and curve["max_ape"].iloc[1] < 0.5
    assert curve["mape"].is_monotonic_increasing


def test_gallery_has_one_overlay_per_photo(measured):
    shots = gallery(REAL, measured=measured)
    assert len(shots) == 28 and all(img.ndim == 3 for _, img in shots)
