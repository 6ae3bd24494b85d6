"""Leave-one-style-out choice of the segmentation pipeline (minerals.cam.sweep) and the named styles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from minerals.cam import DEFAULT_BACKBONE, PAPER_METHOD, PAPER_THRESHOLD, sweep
from minerals.data.styles import STYLES, style_release
from minerals.data.synth_scene import SynthStyle

BACKBONE = DEFAULT_BACKBONE


def _scores(table: dict) -> pd.DataFrame:
    """`{(method, rule): [miou per style]}` -> a `style_scores` frame over styles s0, s1, ..."""
    rows = [{"style": f"s{i}", "backbone": BACKBONE, "method": m, "threshold": r, "miou": v, "s_per_image": 0.1,
             "n_images": 4} for (m, r), values in table.items() for i, v in enumerate(values)]
    return pd.DataFrame(rows)


def test_every_style_is_a_valid_synth_style():
    for name, fields in STYLES.items():
        SynthStyle(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    with pytest.raises(ValueError, match="unknown synthetic style 'nope'"):
        style_release("nope")


def test_style_scores_means_per_style_and_pipeline():
    per_image = pd.DataFrame({"style": ["a", "a", "b"], "backbone": BACKBONE, "method": "gradcam", "threshold": "otsu",
                              "image": ["1", "2", "3"], "iou": [0.2, 0.4, 0.9], "s_per_image": [1.0, 3.0, 2.0]})
    scores = sweep.style_scores(per_image)
    assert scores.set_index("style")["miou"].to_dict() == pytest.approx({"a": 0.3, "b": 0.9})
    assert scores.set_index("style")["n_images"].to_dict() == {"a": 2, "b": 1}


def test_choice_never_sees_the_held_out_style():
    # "overfit" wins on s0 by far but is poor elsewhere; "steady" is good on every other style.
    scores = _scores({("eigencam", "overfit"): [0.9, 0.1, 0.1], ("eigencam", "steady"): [0.5, 0.6, 0.6],
                      (PAPER_METHOD, PAPER_THRESHOLD): [0.3, 0.3, 0.2]})
    table = sweep.leave_one_style_out(scores).set_index("held_out")
    held = table.loc["s0"]
    assert (held["threshold"], held["miou"], held["rank"]) == ("steady", 0.5, 2)
    assert held["best_miou"] == 0.9 and held["paper_miou"] == 0.3 and held["train_miou"] == pytest.approx(0.6)
    assert table.loc["s1", "threshold"] == "steady"  # chosen on s0 and s2: (0.5 + 0.6) / 2 > (0.9 + 0.1) / 2
    assert table.loc["overall", "miou"] == pytest.approx(np.mean([0.5, 0.6, 0.6]))
    assert sweep.best_pipeline(scores)["threshold"] == "steady"


def test_leave_one_style_out_needs_two_styles():
    with pytest.raises(ValueError, match="at least two styles"):
        sweep.leave_one_style_out(_scores({("gradcam", "otsu"): [0.5]}))


def test_per_style_table_ranks_and_names_unswept_pipelines():
    scores = _scores({("eigencam", "otsu"): [0.5, 0.7], ("gradcam", "otsu"): [0.2, 0.4]})
    table = sweep.per_style_table(scores, [(BACKBONE, "gradcam", "otsu")])
    assert table.iloc[0][["s0", "s1", "mean_miou", "rank"]].tolist() == pytest.approx([0.2, 0.4, 0.3, 2])
    with pytest.raises(ValueError, match="was not swept"):
        sweep.per_style_table(scores, [(BACKBONE, "layercam", "otsu")])
