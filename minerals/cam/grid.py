"""The `segmentation` table as grids for a heatmap: per backbone, CAM method x mask rule."""

from __future__ import annotations

import pandas as pd


def method_rule_grid(table: pd.DataFrame, value: str = "miou") -> dict[str, pd.DataFrame]:
    """Per backbone (in table order), a method x mask rule DataFrame of `value` (e.g. `miou`, `n_images`).

    Rows and columns keep the order in which methods and rules first appear in `table`; a setting the
    table lacks is NaN. Raises ValueError naming the missing columns when `table` is not a segmentation table.
    """
    missing = [c for c in ("backbone", "method", "threshold", value) if c not in table.columns]
    if missing:
        raise ValueError(f"segmentation table lacks column(s) {', '.join(missing)}")
    methods, rules = list(dict.fromkeys(table["method"])), list(dict.fromkeys(table["threshold"]))
    return {backbone: rows.pivot(index="method", columns="threshold", values=value).reindex(index=methods, columns=rules)
            for backbone, rows in table.groupby("backbone", sort=False)}
