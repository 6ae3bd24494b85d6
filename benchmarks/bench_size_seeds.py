"""Does the default confidence threshold hold on fresh photos of the styles it was chosen on?

    .venv/bin/python benchmarks/bench_size_seeds.py [--seeds 404,505,606,707] [--photos 120] [--no-rule]

Renders `--photos` size photos per tune style (`minerals.size.evaluate.TUNE_STYLES`, 512 px) at each generator
seed of `--seeds` (none of them among `evaluate.TUNE_RELEASES`, the photos the threshold is chosen on), runs the
improved estimator once per photo at confidence 0 and prints, per seed and style and overall, at the default
threshold (`minerals.size.result.MIN_CONFIDENCE`): coverage, MAPE, median and largest error of the accepted photos
and how many of them err by more than 50 % (`evaluate.GROSS_ERROR`), split by their source: the scale (the cube
mistaken or mismeasured: cm per px off by more than `SCALE_WRONG`, against the generator's truth) or the specimen's
outline (the scale right: the specimen found in part, or with something else); and the mean error of the scale
alone (`scale_mape_%`: the cube finder's own accuracy). Unless `--no-rule`, it also prints the
threshold `evaluate.choose_threshold` picks on the tune releases (with the real photos' tune half,
`realphotos.wrong_cube_confidences`) alone and with these seeds added. About 0.2 s per
photo on one core (rendering included, once: releases are cached).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from minerals.size.evaluate import (GROSS_ERROR, TUNE_RELEASES, TUNE_STYLES, choose_threshold, style_predictions,
                                    tune_predictions)
from minerals.size.realphotos import wrong_cube_confidences
from minerals.size.result import MIN_CONFIDENCE, SizeConfig

REAL_PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "real_photos"
SCALE_WRONG = 0.25  # a gross error whose scale (cm per px) is off by more than this fraction comes from the cube


def figures(preds: pd.DataFrame, threshold: float) -> dict:
    """Coverage and errors of the photos accepted at `threshold` (rows of `evaluate.style_predictions` at confidence 0,
    with the generator's `true_cm_per_px`): MAPE, median and largest error, gross errors (> `GROSS_ERROR`) split into those
    of the scale (the cube mistaken or mismeasured: cm per px off by more than `SCALE_WRONG`) and those of the
    specimen's outline (the scale right), and `scale_mape_%`, the mean error of the scale alone (the cube finder's)."""
    accepted = preds[preds["size_cm"].notna() & (preds["confidence"] >= threshold)]
    ape = (accepted["size_cm"] - accepted["true_cm"]).abs() / accepted["true_cm"]
    scale = (accepted["cm_per_px"] / accepted["true_cm_per_px"] - 1).abs()
    gross = ape > GROSS_ERROR
    return {"photos": len(preds), "accepted": len(accepted), "coverage": len(accepted) / max(1, len(preds)),
            "mape_%": 100 * ape.mean(), "median_%": 100 * ape.median(), "max_%": 100 * ape.max(),
            "gross": int(gross.sum()), "of_scale": int((gross & (scale > SCALE_WRONG)).sum()),
            "of_outline": int((gross & (scale <= SCALE_WRONG)).sum()), "scale_mape_%": 100 * scale.mean()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="404,505,606,707", help="comma-separated generator seeds")
    parser.add_argument("--photos", type=int, default=120, help="size photos per tune style and seed")
    parser.add_argument("--no-rule", action="store_true", help="skip the threshold rule (saves the tune releases' run)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    used = sorted({seed for seed, _ in TUNE_RELEASES} & set(seeds))
    if used:
        parser.error(f"seeds {used} are the tune releases' (evaluate.TUNE_RELEASES): pick others")
    cfg = replace(SizeConfig(methods=("improved",)), min_confidence=0.0)
    runs = [(seed, style) for seed in seeds for style in TUNE_STYLES]
    preds = pd.concat([style_predictions(style, args.photos, seed, cfg)
                       for seed, style in tqdm(runs, desc="seeds x styles", unit="release")], ignore_index=True)
    rows = [{"seed": seed, "style": style, **figures(g, MIN_CONFIDENCE)}
            for (seed, style), g in preds.groupby(["seed", "style"])]
    rows += [{"seed": seed, "style": "all", **figures(g, MIN_CONFIDENCE)} for seed, g in preds.groupby("seed")]
    rows.append({"seed": "all", "style": "all", **figures(preds, MIN_CONFIDENCE)})
    pd.set_option("display.width", 200, "display.max_columns", 20)
    print(f"\nImproved estimator at the default threshold {MIN_CONFIDENCE:g} (chosen on evaluate.TUNE_RELEASES and the real tune photos), "
          f"{args.photos} photos per tune style and seed, 512 px; errors of the accepted photos:")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}" if v < 1 else f"{v:.1f}"))
    if not args.no_rule:
        tune = tune_predictions(cfg)
        wrong = wrong_cube_confidences(REAL_PHOTOS)
        print(f"\nchoose_threshold (no accepted error above {100 * GROSS_ERROR:.0f} %, no real tune photo's cube "
              f"trusted outside its box: {len(wrong)} to exclude): on the tune releases ({len(tune)} photos) "
              f"{choose_threshold(tune, wrong_cubes=wrong):.4f} (synthetic photos alone {choose_threshold(tune):.4f}); "
              f"with these seeds added ({len(tune) + len(preds)} photos) "
              f"{choose_threshold(pd.concat([tune, preds], ignore_index=True), wrong_cubes=wrong):.4f}")


if __name__ == "__main__":
    main()
