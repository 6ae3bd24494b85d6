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
# # Enter the benchmark
#
# **Overview.** The paper offers MineralImage5k as an open benchmark with baseline solutions for the
# community to beat. This page is the way in for a method that is not ours, in any framework: predict the
# photos of an official split, score the predictions with the same metric code as the paper's sections,
# and compare them with our baselines on the same photos. It shows (1) a model brought as a plain Python
# callable and scored on a split, with two trivial baselines that any method must beat; (2) the
# leaderboard: every result record committed under `submissions/` beside our baselines, per task and
# split, with 95 % intervals and a paired test against the best baseline; (3) how to submit. It
# regenerates the tables `benchmark_byom` and `benchmark_leaderboard` and the figure `benchmark_scores`.
#
# **Needs.** The release of the profile (`smoke`: the generated synthetic one, no network). Our baselines
# on the leaderboard are the predictions the earlier pages export (`results/<profile>/predictions/`): run
# those pages first (`minerals reproduce` runs them in order); the two trivial baselines need nothing else.

# %% tags=["parameters", "hide-input"]
# profile: "smoke" (CPU, synthetic data, minutes) or "paper" (GPU, the real release); data_root and device:
# empty for the profile's defaults (smoke: the generated synthetic release); papermill -p NAME VALUE sets one.
profile, data_root, device, seed, results_dir = "smoke", "", "", 0, "results"

# %% tags=["remove-input"]
import matplotlib.pyplot as plt
from IPython.display import Image, Markdown, display

import minerals.pipeline.session
from minerals.benchmark import section
from minerals.benchmark.figure import leaderboard_figure

s = minerals.pipeline.session.start("07_benchmark", profile, data_root, device, seed, results_dir)
display(Markdown(s.banner()))
cfg = section.BenchmarkConfig.from_section(s.profile.section("benchmark"))
if s.release.report.get("synthetic"):
    display(Markdown("**Synthetic data.** Every photo and number on this page comes from the generated synthetic "
                     "release; none of them is a result on the real MineralImage5k."))

# %% [markdown]
# ## Bring your own model
#
# Any function from a list of photo paths to one ranked list of species names per photo (best first) can
# be scored on an official split; `score_callable` calls it once with every photo of the split, writes
# the predictions file a submission would hold and returns the result record of `minerals evaluate`:
#
# ```python
# from minerals.benchmark import byom
# from minerals.data import open_release
#
# release = open_release("~/data/mineralimage5k")
#
# def my_model(paths: list[str]) -> list[list[str]]:
#     return [["Quartz", "Calcite", "Fluorite"] for _ in paths]  # your network here
#
# record = byom.score_callable(my_model, release, subset=10, split="test", out="my_model.csv",
#                              ks=(1, 3), method={"name": "My model", "link": "https://...",
#                                                 "description": "one line about it"})
# record["metrics"]["top1"], record["metrics"]["top1_ci_low"], record["metrics"]["top1_ci_high"]
# ```
#
# The two callables below are the floor to beat, scored exactly this way on each subset of the profile:
# **most frequent species** ranks the species by their photo count in the train split, whatever the
# photo; **colour-histogram NN** ranks them by the nearest train photo of each species, comparing RGB
# histograms (8 bins per channel, chi-squared distance). Intervals are 95 % percentile bootstraps over
# the test photos; `s/photo` is the wall time of building the callable, running it and scoring, per test photo.

# %% tags=["hide-input"]
tables = section.run(s, cfg)
byom_table, board = tables["benchmark_byom"], tables["benchmark_leaderboard"]
s.save_table("benchmark_byom", byom_table)
s.save_table("benchmark_leaderboard", board)
shown = byom_table.assign(**{"top-1 (95 % CI)": [f"{v:.1%} ({lo:.1%}–{hi:.1%})" for v, lo, hi in
                                                 byom_table[["top1", "top1_ci_low", "top1_ci_high"]].to_numpy()]})
display(shown[["subset", "split", "method", "n", "n_classes", "top-1 (95 % CI)", "top3", "top5", "balanced_acc",
               "s_per_image"]]
        .rename(columns={"n": "photos", "n_classes": "classes", "top3": "top-3", "top5": "top-5",
                         "balanced_acc": "balanced acc.", "s_per_image": "s/photo"})
        .style.format({"top-3": "{:.1%}", "top-5": "{:.1%}", "balanced acc.": "{:.1%}", "s/photo": "{:.4f}"})
        .hide(axis="index"))
display(s.table_download("benchmark_byom", "Full table benchmark_byom (CSV: every top-k and interval)"))

# %% [markdown]
# ## The leaderboard
#
# One row per result record: the two trivial baselines above, every prediction file our pages exported
# (few-shot and zero-shot classification, size, CAM segmentation), and every record committed under
# `submissions/` whose split is one of this build's. The headline metric is top-1 accuracy for
# classification, mean absolute error in cm on the photos with an estimate for size (lower is better) and
# mean IoU for segmentation. Each row is compared with the best baseline of its task and split (`vs`, the
# diamond in the figure) on the photos both scored: the difference of the headline metric with its 95 %
# paired-bootstrap interval and two-sided p-value, and for top-1 McNemar's exact test on the photos that
# exactly one of the two gets right. A p-value of 0 means that no bootstrap resample reached zero.

# %% tags=["hide-input"]
def interval(v, lo, hi, fmt):
    return "" if v != v else f"{v:{fmt}} ({lo:{fmt}} to {hi:{fmt}})"


rows = board.assign(
    score=[interval(v, lo, hi, ".3f") for v, lo, hi in board[["value", "low", "high"]].astype(float).to_numpy()],
    difference=[interval(v, lo, hi, "+.3f") for v, lo, hi in
                board[["diff", "diff_low", "diff_high"]].astype(float).to_numpy()])
display(rows[["task", "subset", "split", "rank", "method", "kind", "metric", "score", "n", "vs", "difference",
              "p_bootstrap", "p_mcnemar"]]
        .rename(columns={"p_bootstrap": "p (bootstrap)", "p_mcnemar": "p (McNemar)", "n": "photos"})
        .style.format({"p (bootstrap)": "{:.3f}", "p (McNemar)": "{:.3g}"}, na_rep="–").hide(axis="index"))
display(s.table_download("benchmark_leaderboard", "Full table benchmark_leaderboard (CSV: links, descriptions, "
                                                  "split hashes, paired photo counts)"))

# %% tags=["hide-input"]
fig = leaderboard_figure(board, top=8)
path = s.save_figure("benchmark_scores", fig)
plt.close(fig)
display(Image(filename=str(path)))

# %% [markdown]
# Each panel is one task and split: the headline metric of the best eight entries with its 95 % interval;
# orange are submissions, the diamond is the best baseline that the other rows are tested against.

# %% tags=["hide-input"]
elsewhere = tables["elsewhere"]
if len(elsewhere):
    display(Markdown(f"**Submissions on other data.** {len(elsewhere)} record(s) of `submissions/` were scored on "
                     "splits that this build does not have (for example the real release, in a smoke build); they "
                     "are listed with their own numbers and no test:"))
    display(elsewhere[["task", "subset", "split", "method", "metric", "value", "low", "high", "n", "split_sha256"]]
            .style.format(precision=3).hide(axis="index"))

# %% [markdown]
# ## How to submit
#
# 1. **Get the split.** `minerals data split --profile paper --data-root DIR --subset 98 --split test --out
#    test98.csv` writes `id,path,en_name,label` of the photos to predict and prints the file's sha256
#    (`--task size` and `--task segmentation` for the other tasks). Train on the `train` (and `val`)
#    split only.
# 2. **Predict** with any code: a CSV `id,rank_1,...,rank_k` of species names for classification
#    (k ≥ 10 to be scored on top-10), `id,size_cm` for size (an empty cell abstains), or a folder of mask
#    PNGs named `<id>.png` for segmentation.
# 3. **Score it** with the paper's metric code and name the method:
#    `minerals evaluate classification preds.csv --profile paper --data-root DIR --subset 98 --split test
#    --method "My model" --link https://... --description "one line" --out submissions/my-model.json`.
#    A bad file is refused with one line naming the problem and the first offending ids.
# 4. **Open a pull request** adding the record to `submissions/`. The record carries the split's sha256,
#    the data fingerprint and the predictions' sha256, so the leaderboard compares it only with baselines
#    on the same photos; the book's next build puts it on this page. `submissions/README.md` describes the
#    record and holds an example made on the smoke profile's synthetic data (not a result).

# %% tags=["remove-cell"]
s.finish()

# %% [markdown]
# ## Summary

# %% tags=["remove-input"]
lines = []
for (task, subset, split), g in board.groupby(["task", "subset", "split"], sort=False):
    best = g.iloc[0]
    where = " · ".join(str(p) for p in (task, subset, split) if p)
    tested = g[g["vs"].fillna("") != ""]
    below = int((tested["diff_high"].astype(float) < 0).sum() if best["metric"] != "mae_cm"
                else (tested["diff_low"].astype(float) > 0).sum())
    lines.append(f"- **{where}**: best {best['method']} ({best['metric']} {best['value']:.3f}, 95 % CI "
                 f"{best['low']:.3f}–{best['high']:.3f}, {best['n']} photos); {below} of the {len(tested)} other "
                 "entries are worse with a paired interval that excludes zero.")
submitted = int((board["kind"] == "submission").sum())
lines.append(f"- {submitted} submitted record(s) on this build's splits, {len(elsewhere)} on other data.")
display(Markdown("\n".join(lines)))

# %% [markdown]
# In the `smoke` profile the photos are synthetic and the models tiny or briefly trained: the page proves
# that a method brought from outside is scored with the sections' own metric code on the same photos, and
# that the leaderboard's tests run, not how any method does on real specimens.
#
# ## References
#
# - Nesteruk S. et al. *MineralImage5k: A benchmark for zero-shot raw mineral visual recognition and
#   description.* Computers & Geosciences 178, 105414 (2023).
# - McNemar Q. *Note on the sampling error of the difference between correlated proportions or
#   percentages.* Psychometrika 12, 153–157 (1947).
# - Efron B., Tibshirani R. J. *An Introduction to the Bootstrap.* Chapman & Hall (1993).
