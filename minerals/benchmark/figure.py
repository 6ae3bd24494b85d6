"""The leaderboard's figure: each entry's headline metric with its 95 % interval, one panel per task and split."""

from __future__ import annotations

import re
import textwrap

import pandas as pd

COLOURS = {"baseline": "tab:blue", "submission": "tab:orange"}
LABELS = {"top1": "top-1 accuracy", "mae_cm": "MAE (cm)", "miou": "mean IoU"}


def leaderboard_figure(board: pd.DataFrame, top: int = 8, width: float = 6.8):
    """Horizontal interval plot of `benchmark_leaderboard` rows (`section.ordered`): the best `top` entries
    of each task/subset/split panel; submissions in orange, the best baseline (the paired tests' reference)
    a diamond."""
    import matplotlib.pyplot as plt

    groups = [(key, g.head(top)) for key, g in board.groupby(["task", "subset", "split"], sort=False)]
    heights = [max(len(g), 1) * 0.42 + 0.7 for _, g in groups] or [1.0]
    fig, axes = plt.subplots(len(heights), 1, figsize=(width, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, ((task, subset, split), g) in zip(axes[:, 0], groups):
        y = list(range(len(g)))[::-1]
        value, low, high = (g[c].astype(float).to_numpy() for c in ("value", "low", "high"))
        for yi, v, lo, hi, kind, vs in zip(y, value, low, high, g["kind"], g["vs"].fillna("")):
            err = [[0.0], [0.0]] if pd.isna(lo) or pd.isna(hi) else [[v - lo], [hi - v]]
            ax.errorbar(v, yi, xerr=err, fmt="o" if vs else "D", color=COLOURS[kind], capsize=3)
        names = [re.sub(r"-[0-9a-f]{8}$", "", m) for m in g["method"]]  # run hashes stay in the table
        ax.set_yticks(y, [textwrap.fill(m, 32, max_lines=2, placeholder="...") for m in names])
        where = " · ".join(str(p) for p in (f"{subset} classes" if str(subset).isdigit() else subset, split) if p)
        ax.set_title(f"{task}{' · ' + where if where else ''}", loc="left")
        ax.set_xlabel(LABELS.get(g["metric"].iloc[0], g["metric"].iloc[0]))
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
