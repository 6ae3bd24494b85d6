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
# # Zero-shot segmentation with class-activation maps
#
# **Overview.** The paper segments the specimen in a photo with no mask supervision at all: a classifier
# trained only to name species (or CLIP, asked how well the photo matches "a photo of a mineral") is
# explained with a Grad-CAM-family class-activation map (the grad-cam package), and the map is
# thresholded into a mask. This page computes the CAMs of every method of the profile on every backbone,
# turns each into masks with several rules (Otsu, a percentile, 15 % of the maximum as in the Grad-CAM
# paper, clean-ups, and a GrabCut refinement seeded by the CAM), and scores them against the hand-made
# masks of the `segm` subset. It regenerates the table `segmentation` and the figures
# `segmentation_grid`, `segmentation_methods` and `segmentation_overlays`.
#
# **Needs.** `smoke`: the generated synthetic release (its `segm` photos and masks), the few-shot
# EfficientNet-Lite0 of the few-shot page (trained here on a cache miss), the offline ImageNet
# EfficientNet-Lite0 and a tiny CLIP with random weights; no network. `paper`: the real release's 107
# `segm` masks, the few-shot checkpoints and open_clip weights from the local caches; a GPU.
#
# **Protocol.** Each photo is resized whole (no crop) to the backbone's input; a CNN's CAM target is its
# top class, CLIP's the mean embedding of the mineral prompts. CAMs are computed once per backbone and
# method and cached; every mask rule is scored on those cached maps, so the threshold sweep never runs a
# model again. Masks are scored at `max_side` px by IoU, Dice and pixel accuracy; the table gives the
# mean over photos with a bootstrap 95 % interval of the mean IoU, the seconds per photo (CAM plus mask)
# and the model's forward passes per photo (ScoreCAM and AblationCAM run one per scored channel).

# %% tags=["parameters", "hide-input"]
# profile: "smoke" (CPU, synthetic data, minutes) or "paper" (GPU, the real release); data_root and device:
# empty for the profile's defaults (smoke: the generated synthetic release); papermill -p NAME VALUE sets one.
profile, data_root, device, seed, results_dir = "smoke", "", "", 0, "results"

# %% tags=["remove-input"]
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

import minerals.pipeline.session
from minerals.cam import section as cam_eval
from minerals.cam.grid import method_rule_grid
from minerals.cam.mask import overlay

s = minerals.pipeline.session.start("05_segmentation", profile, data_root, device, seed, results_dir)
display(Markdown(s.banner()))

cfg = cam_eval.SegmentationConfig.from_section(s.profile.section("segmentation"))
display(Markdown(f"**Backbones** {', '.join(f'`{b}`' for b in cfg.backbones)} · **methods** "
                 f"{', '.join(cfg.methods)} · **mask rules** {', '.join(cfg.thresholds)}"))

# %% [markdown]
# ## Compute (finished runs are reused)

# %% tags=["hide-input"]
tables = cam_eval.run(s, cfg)
table, per_image = tables["segmentation"], tables["segmentation_images"]
s.save_table("segmentation", table)
display(Markdown(f"{per_image['image'].nunique()} `segm` photos scored at {cfg.max_side or 'full'} px on the longer side."))

# %% [markdown]
# ## Every method, backbone and mask rule
#
# One heatmap per backbone: the mean IoU over photos of each CAM method (rows) and mask rule (columns),
# with the number of photos it is scored on; the best cell of each backbone is framed. The full table
# (Dice, pixel accuracy, bootstrap 95 % intervals, seconds and forward passes per photo) is a download.

# %% tags=["hide-input"]
miou, n_images = method_rule_grid(table), method_rule_grid(table, "n_images")
height = 0.36 * sum(len(grid) + 3 for grid in miou.values())
fig, axes = plt.subplots(len(miou), 1, figsize=(6.8, height), squeeze=False, layout="constrained")
for ax, (backbone, grid) in zip(axes[:, 0], miou.items()):
    values = grid.to_numpy(float)
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    best_cell = np.unravel_index(np.nanargmax(values), values.shape)
    for (i, j), value in np.ndenumerate(values):
        if not np.isnan(value):
            ax.text(j, i, f"{value:.2f} (n {n_images[backbone].iat[i, j]:.0f})", ha="center", va="center", fontsize=9,
                    color="black" if value > 0.55 else "white")
    ax.add_patch(plt.Rectangle((best_cell[1] - 0.5, best_cell[0] - 0.5), 1, 1, fill=False, edgecolor="red", lw=2))
    ax.set_xticks(range(grid.shape[1]), grid.columns)
    ax.set_yticks(range(grid.shape[0]), grid.index)
    ax.tick_params(length=0)
    ax.set_title(backbone, loc="left")
axes[-1, 0].set_xlabel("mask rule")
fig.colorbar(image, ax=axes[:, 0], label="mean IoU (n = photos scored)", shrink=0.6, aspect=30)
s.save_figure("segmentation_grid", fig)
plt.show()
display(s.table_download("segmentation", f"Full table segmentation ({len(table)} rows, CSV)"))

# %% [markdown]
# ## The best mask rule of each method
#
# Bars: the best mean IoU over the mask rules for each method and backbone, with its bootstrap 95 %
# interval (the numbers are in the full table, the CSV download above).

# %% tags=["hide-input"]
best = table.loc[table.groupby(["backbone", "method"], sort=False)["miou"].idxmax()]
fig, ax = plt.subplots(figsize=(6.8, 4), layout="constrained")
width = 0.8 / len(cfg.backbones)
xs = np.arange(len(cfg.methods))
for j, backbone in enumerate(cfg.backbones):
    rows = best[best["backbone"] == backbone].set_index("method").reindex(list(cfg.methods))
    ax.bar(xs + j * width, rows["miou"], width, label=backbone,
           yerr=[rows["miou"] - rows["miou_low"], rows["miou_high"] - rows["miou"]], capsize=2)
ax.set_xticks(xs + width * (len(cfg.backbones) - 1) / 2, cfg.methods, rotation=30, ha="right")
ax.set(ylabel="mean IoU (best mask rule)", ylim=(0, 1))
ax.set_title("Zero-shot segmentation: CAM methods")
fig.legend(loc="outside lower center", ncol=2, frameon=False, fontsize=9.5)  # under the axes: no bar hidden
s.save_figure("segmentation_methods", fig)
plt.show()

# %% [markdown]
# ## Best and worst photos of the best setting
#
# The best setting among the rows scored on every photo. Columns: the photo, its hand-made mask, the
# CAM, and the predicted mask (outline on the photo).

# %% tags=["hide-input"]
top = cam_eval.best(table)
cases = cam_eval.cases(s, cfg, per_image, top["backbone"], top["method"], top["threshold"], k=cfg.overlay_cases)
fig = plt.figure(figsize=(6.8, 2.1 * len(cases) + 0.4), layout="constrained")
for row, case in zip(np.atleast_1d(fig.subfigures(len(cases), 1)), cases):
    row.suptitle(f"{case['rank']}: {case['name']} · IoU {case['iou']:.2f}", x=0.01, ha="left", fontsize=10)
    panels = [case["image"], case["truth"], overlay(case["image"], case["cam"]), overlay(case["image"], None,
                                                                                       case["mask"])]
    for ax, panel, title in zip(row.subplots(1, 4), panels, ["photo", "truth", "CAM", "predicted mask"]):
        ax.imshow(panel, cmap="gray" if panel.ndim == 2 else None)
        ax.set_title(title, fontsize=9.5)
        ax.axis("off")
fig.suptitle(f"{top['backbone']} · {top['method']} · {top['threshold']}", fontsize=11)
s.save_figure("segmentation_overlays", fig)
plt.show()

# %% [markdown]
# ## Target check and cost

# %% tags=["hide-input"]
if table["backbone"].str.startswith("fewshot:").any():
    row = cam_eval.best(table, "fewshot:")
    verdict = "meets" if row["miou"] >= 0.5 else "misses"
    display(Markdown(f"Best mean IoU of the few-shot classifier on all {row['n_images']} photos: "
                     f"**{row['miou']:.3f}** ({row['miou_low']:.3f}–{row['miou_high']:.3f}) with {row['method']} · "
                     f"{row['threshold']}, which {verdict} the 0.5 target of this section."))
cost = table.groupby(["backbone", "method"], sort=False)[["forwards_per_image", "s_per_image", "n_images"]].min()
display(cost.rename(columns={"forwards_per_image": "forwards / photo", "s_per_image": "s / photo", "n_images": "n"})
        .style.format({"forwards / photo": "{:.1f}", "s / photo": "{:.2f}", "n": "{:d}"}))

# %% tags=["remove-cell"]
s.finish()

# %% [markdown]
# ## Summary
#
# The heatmap and the bars above are the result; read them with their n and intervals. In the `smoke`
# profile the photos are synthetic (a specimen on a plain backdrop with a cube and a card), so the
# numbers show that every path runs and how the methods rank on easy scenes, not what they do on museum
# photos; ScoreCAM and AblationCAM are scored on a few photos and a fraction of their channels only, so
# their rows are rough. The tiny CLIP has random weights: its rows are a control of what a map with no
# learned meaning scores. On a CNN whose head is global average pooling and one linear layer (both
# EfficientNet-Lite0 backbones), Grad-CAM, XGrad-CAM and HiRes-CAM give the same map up to scale, so
# their rows agree: the gradient of a class score is then the same at every position. GrabCut's
# refinement uses the photo's colours, so it helps most where the
# specimen stands out from the backdrop, as it does in the synthetic scenes. The `paper` profile runs
# the full grid on the 107 real masks.
#
# ## References
#
# - Nesteruk S. et al. *MineralImage5k: A benchmark for zero-shot raw mineral visual recognition and
#   description.* Computers & Geosciences 178, 105414 (2023).
# - Selvaraju R. R. et al. *Grad-CAM: Visual explanations from deep networks via gradient-based
#   localization.* ICCV 2017 (the 15 % threshold).
# - Gildenblat J. and contributors. *PyTorch library for CAM methods* (grad-cam),
#   github.com/jacobgil/pytorch-grad-cam.
# - Rother C., Kolmogorov V., Blake A. *GrabCut: interactive foreground extraction using iterated graph
#   cuts.* SIGGRAPH 2004.
