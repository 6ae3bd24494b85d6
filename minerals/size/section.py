"""The size section (notebook 04, `minerals check`): every table of the section from one call."""

from __future__ import annotations

import pandas as pd

from minerals.benchmark.export import predictions_dir, write_sizes
from minerals.benchmark.splits import size_frame
from minerals.data import open_release
from minerals.data.fingerprint import frame_fingerprint
from minerals.size.evaluate import TABLE_COLUMNS, held_out_release, run_methods
from minerals.size.result import SizeConfig

SECTION = "size"


def data_key(release) -> str:
    """The size photos and their measured sizes (`minerals.data.fingerprint`)."""
    sizes = release.size_table()
    return frame_fingerprint(release, sizes, ("size_cm",))


def export_predictions(release, preds: pd.DataFrame, folder) -> list:
    """Each method's estimates of the release's size photos as a benchmark submission `<folder>/<method>.csv`."""
    ids = size_frame(release)["id"].tolist()
    return [write_sizes(folder / f"{method}.csv", ids, rows["size_cm"].to_numpy(dtype=float))
            for method, rows in preds.groupby("method", sort=False)]


def run(session, cfg: SizeConfig) -> dict[str, pd.DataFrame]:
    """Tables `size` (the release's size subset, one row per method), `size_holdout` (the same on each
    held-out synthetic style of `cfg.holdout_styles`), `predictions` (every photo of `size`) and
    `holdout_predictions` (every photo of the held-out styles, with `style`).

    Resumes through `session.store("size")`; the data enter the run keys as `data_key`.
    """
    store, artifacts = session.store(SECTION), session.artifacts(SECTION)
    table, preds = run_methods(session.release.size_table(), cfg, store, artifacts, data_key(session.release))
    export_predictions(session.release, preds, predictions_dir(session.root, SECTION))
    held, held_preds = [], []
    for style in cfg.holdout_styles:
        release = open_release(held_out_release(style, cfg.holdout_photos))
        rows, style_preds = run_methods(release.size_table(), cfg, store, artifacts, data_key(release))
        held.append(rows.assign(style=style))
        held_preds.append(style_preds.assign(style=style))
    holdout = pd.concat(held, ignore_index=True) if held else pd.DataFrame(columns=TABLE_COLUMNS + ["style"])
    return {"size": table, "size_holdout": holdout[["style"] + TABLE_COLUMNS], "predictions": preds,
            "holdout_predictions": pd.concat(held_preds, ignore_index=True) if held_preds else preds.iloc[:0]}
