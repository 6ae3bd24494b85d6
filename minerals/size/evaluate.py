"""Scoring size estimates against the release's measured sizes (`minerals_size.csv`).

`evaluate_release` runs one method over the size table and returns predictions joined with the truth;
`summarise` turns them into one row of the `size` table (`method,n,coverage,mae_cm,rmse_cm,r2,mape`,
then bias and 95 % bootstrap intervals). Errors are computed over the photos with an estimate;
coverage says how many those are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from minerals.data import open_release
from minerals.data.styles import STYLES, style_release
from minerals.metrics import bootstrap_ci, coverage, size_errors
from minerals.size.overlay import draw_overlay
from minerals.size.predict import Photo, measure_file, predict
from minerals.size.result import SizeConfig

# Synthetic photo styles (`minerals.data.styles`): the confidence threshold is chosen on the tune styles, and
# the estimator is reported on the held-out ones, never used for choosing.
TUNE_STYLES = ("default", "grey_low_key", "small_far_specimen")
TUNE_RELEASES = ((101, 40), (202, 80), (303, 80))  # (seed, photos per tune style): 600 photos for choosing
HELD_OUT_STYLES = {name: STYLES[name] for name in ("dark_colour_front", "pale_cards_stands", "colour_sweep_tilted",
                                                   "engraved_pale_sweep", "grey_ruler_dark")}
GROSS_ERROR = 0.5  # an estimate off by more than 50 % of the measured size

TABLE_COLUMNS = ["method", "n", "coverage", "mae_cm", "rmse_cm", "r2", "mape", "bias_cm",
                 "mae_cm_low", "mae_cm_high", "mape_low", "mape_high", "coverage_low", "coverage_high",
                 "rmse_cm_low", "rmse_cm_high", "r2_low", "r2_high", "bias_cm_low", "bias_cm_high"]
ERROR_STATISTICS = ("mae_cm", "rmse_cm", "r2", "mape", "bias_cm")


def size_photos(size_table: pd.DataFrame, limit: int = 0) -> list[Photo]:
    """Photos of a release's size table (`Release.size_table()`), the first `limit` when > 0."""
    rows = size_table if limit <= 0 else size_table.head(limit)
    boxes = rows["mineral_boxes"] if "mineral_boxes" in rows else [()] * len(rows)
    return [Photo(path=Path(p), mineral_boxes=tuple(b) if isinstance(b, list) else ()) for p, b in zip(rows["path"], boxes)]


def evaluate_release(size_table: pd.DataFrame, method: str, cfg: SizeConfig, overlays=None,
                     progress: bool = True) -> pd.DataFrame:
    """Predictions for the size table's photos with `true_cm` (the release's size) and `method` added."""
    rows = size_table if cfg.limit <= 0 else size_table.head(cfg.limit)
    preds = predict(size_photos(rows), method, cfg, overlays=overlays, progress=progress)
    preds.insert(0, "method", method)
    preds["true_cm"] = rows["size_cm"].to_numpy(dtype=float)
    return preds


def summarise(preds: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict:
    """One `size` table row from the predictions of one method (`size_cm` NaN where it abstained)."""
    pred = preds["size_cm"].to_numpy(dtype=float)
    true = preds["true_cm"].to_numpy(dtype=float)
    has = np.isfinite(pred)
    pairs = np.stack([pred[has], true[has]], axis=1)
    errors = size_errors(pairs[:, 0], pairs[:, 1])
    cov_ci = bootstrap_ci(has.astype(float), np.mean, n_boot=n_boot, seed=seed)
    row = {"method": str(preds["method"].iloc[0]) if len(preds) else "", "n": int(len(preds)),
           "coverage": coverage(pred), **{k: errors[k] for k in ERROR_STATISTICS},
           "coverage_low": cov_ci[0], "coverage_high": cov_ci[1]}
    for name in ERROR_STATISTICS:  # a 95 % bootstrap interval of every error statistic over the accepted photos
        low, high = bootstrap_ci(pairs, lambda p, k=name: size_errors(p[:, 0], p[:, 1])[k], n_boot=n_boot, seed=seed)
        row[f"{name}_low"], row[f"{name}_high"] = low, high
    return {k: row[k] for k in TABLE_COLUMNS}


def risk_coverage(preds: pd.DataFrame) -> pd.DataFrame:
    """MAPE against coverage as the confidence threshold moves: one row per distinct confidence of an
    accepted photo (`threshold`, `coverage` = share of all photos accepted at it, `mape` and `max_ape`
    of the accepted ones). `preds`: rows of `evaluate_release` (`size_cm` NaN where it abstained)."""
    ok = preds[preds["size_cm"].notna()]
    ape = ((ok["size_cm"] - ok["true_cm"]).abs() / ok["true_cm"]).to_numpy()
    conf = ok["confidence"].to_numpy(dtype=float)
    rows = []
    for t in np.unique(conf)[::-1]:
        keep = conf >= t
        rows.append({"threshold": float(t), "coverage": float(keep.sum() / max(len(preds), 1)),
                     "mape": float(ape[keep].mean()), "max_ape": float(ape[keep].max())})
    return pd.DataFrame(rows, columns=["threshold", "coverage", "mape", "max_ape"])


def error_by_size(preds: pd.DataFrame, bins: int = 5) -> pd.DataFrame:
    """Absolute percentage error and coverage per true-size quantile bin (for 'error against size')."""
    df = preds.assign(ape=(preds["size_cm"] - preds["true_cm"]).abs() / preds["true_cm"])
    df["bin"] = pd.qcut(df["true_cm"], q=min(bins, df["true_cm"].nunique()), duplicates="drop")
    return (df.groupby(["method", "bin"], observed=True)
              .agg(n=("ape", "size"), coverage=("size_cm", lambda s: s.notna().mean()), mape=("ape", "mean"))
              .reset_index())


def run_methods(size_table: pd.DataFrame, cfg: SizeConfig, store, artifacts, data_id: str,
                progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate every method of `cfg` once, resuming through `store` (a `RunStore`).

    Predictions go to `artifacts/<run hash>.csv`; `data_id` identifies the photos in the run key
    (`minerals.size.section.data_key`: a fingerprint, the same wherever the data lie). Returns
    `(table, predictions)`: one `size` table row per method, and all predictions.
    """
    from dataclasses import asdict

    from minerals.results import key_hash
    from minerals.size.predict import write_predictions

    rows, preds = [], []
    for method in cfg.methods:
        key = {"section": "size", "method": method, "data": data_id, "config": asdict(cfg)}
        path = Path(artifacts) / f"{key_hash(key)}.csv"

        def compute(method=method, path=path):
            df = evaluate_release(size_table, method, cfg, progress=progress)
            write_predictions(df, path)
            return summarise(df, n_boot=cfg.n_boot)

        row = store.run(key, compute, force=not path.exists())
        rows.append(row)
        preds.append(pd.read_csv(path, keep_default_na=True))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS), pd.concat(preds, ignore_index=True)


def choose_threshold(preds: pd.DataFrame, max_ape: float = GROSS_ERROR, wrong_cubes=()) -> float:
    """The lowest confidence threshold at which no accepted photo errs by more than `max_ape` (a fraction) and no
    cube of `wrong_cubes` is trusted, halfway between the lowest confidence kept and the next one below it (or the
    highest of `wrong_cubes`, if higher); 1.0 when even the most confident photo errs that much. `preds`: rows of
    `evaluate_release` run with `min_confidence=0`; `wrong_cubes`: cube confidences (`SizeEstimate.cube_confidence`)
    of cubes taken outside their marked box on real photos (`realphotos.wrong_cube_confidences`)."""
    curve = risk_coverage(preds)
    floor = max(wrong_cubes, default=-1.0)
    safe = curve[(curve["max_ape"] <= max_ape) & (curve["threshold"] > floor)]
    if safe.empty:
        return 1.0
    kept = float(safe["threshold"].iloc[-1])
    below = curve["threshold"][curve["threshold"] < kept]
    lower = max(float(below.iloc[0]), floor) if len(below) else floor
    return (kept + lower) / 2 if lower >= 0 else kept


def held_out_release(style: str, photos: int, image_size: int = 512, seed: int = 101) -> Path:
    """A synthetic release of one of `minerals.data.styles.STYLES` with `photos` size photos, generated once."""
    return style_release(style, n_size=photos, image_size=image_size, seed=seed)


def style_predictions(style: str, photos: int, seed: int, cfg: SizeConfig, progress: bool = False) -> pd.DataFrame:
    """Predictions of the improved estimator on one synthetic style release (`held_out_release`, 512 px), with
    `style`, `seed` and the generator's scale at the specimen, `true_cm_per_px` (the photos are analysed at their
    own 512 px, so in the same pixels as the predicted `cm_per_px`)."""
    table = open_release(held_out_release(style, photos, seed=seed)).size_table()
    preds = evaluate_release(table, "improved", cfg, progress=progress)
    return preds.assign(style=style, seed=seed, true_cm_per_px=table["cm_per_px"].to_numpy(dtype=float))


def tune_predictions(cfg: SizeConfig, progress: bool = False) -> pd.DataFrame:
    """`style_predictions` on every tune release (`TUNE_RELEASES` x `TUNE_STYLES`): the photos on which
    `choose_threshold` picks `result.MIN_CONFIDENCE` (run with `min_confidence=0`)."""
    return pd.concat([style_predictions(style, photos, seed, cfg, progress=progress)
                      for seed, photos in TUNE_RELEASES for style in TUNE_STYLES], ignore_index=True)


def failure_gallery(preds, cfg, method: str = "improved", k: int = 8) -> list[tuple[str, np.ndarray]]:
    """`(title, overlay)` for up to `k` photos where `method` abstained or erred most, re-measured.

    `preds`: rows of `evaluate.evaluate_release` (path, method, size_cm, true_cm, status).
    """
    rows = preds[preds["method"] == method].copy()
    rows["ape"] = (rows["size_cm"] - rows["true_cm"]).abs() / rows["true_cm"]
    abstained = rows[rows["size_cm"].isna()].drop_duplicates("status")
    worst = rows[rows["size_cm"].notna()].sort_values("ape", ascending=False)
    picked = list(abstained.head(k // 2).itertuples()) + list(worst.head(k - min(len(abstained), k // 2)).itertuples())
    out = []
    for r in picked[:k]:
        est, rgb, _ = measure_file(Photo(Path(r.path)), method, cfg)
        if rgb is None:
            continue
        title = (f"{r.size_cm:.1f} cm, measured {r.true_cm:.1f} ({100 * (r.size_cm / r.true_cm - 1):+.0f} %)" if est.ok
                 else f"{est.status[:40]} (measured {r.true_cm:.1f} cm)")
        out.append((title, draw_overlay(rgb, est)))
    return out
