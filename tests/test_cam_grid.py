"""The segmentation table pivoted for the heatmap of notebook 05."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from minerals.cam.grid import method_rule_grid


def table() -> pd.DataFrame:
    rows = [("fewshot:a", m, r, 0.1 * i + 0.01 * j, 16 if m != "scorecam" else 4)
            for i, m in enumerate(["gradcam", "scorecam"]) for j, r in enumerate(["otsu", "pct70", "otsu+grabcut"])]
    rows.append(("clip:b", "gradcam", "pct70", 0.3, 16))
    return pd.DataFrame(rows, columns=["backbone", "method", "threshold", "miou", "n_images"])


def test_grid_per_backbone_in_table_order():
    grids = method_rule_grid(table())
    assert list(grids) == ["fewshot:a", "clip:b"]
    a = grids["fewshot:a"]
    assert list(a.index) == ["gradcam", "scorecam"] and list(a.columns) == ["otsu", "pct70", "otsu+grabcut"]
    assert a.loc["scorecam", "pct70"] == pytest.approx(0.11)
    assert method_rule_grid(table(), "n_images")["fewshot:a"].loc["scorecam"].tolist() == [4, 4, 4]
    b = grids["clip:b"]  # settings it lacks are NaN, with the same rows and columns
    assert b.shape == (2, 3) and b.loc["gradcam", "pct70"] == 0.3 and np.isnan(b.loc["scorecam", "otsu"])


def test_grid_names_missing_columns():
    with pytest.raises(ValueError, match="lacks column.*miou"):
        method_rule_grid(table().drop(columns="miou"))
