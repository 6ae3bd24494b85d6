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
# # The dataset
#
# **Overview.** MineralImage5k is photos of raw specimens from the Fersman Mineralogical Museum: one
# specimen on a neutral backdrop, a grey 1.27 cm reference cube, often a label card. The paper cuts it
# into a zero-shot set (every species), classification subsets of the 10, 36, 98 and 360 most frequent
# species, a size subset (measured specimen sizes) and a segmentation subset (hand-drawn masks). This
# page opens the release, decodes every photo, counts each subset beside the paper's subset table, and
# shows how photos spread over species, a few photos with their detector boxes, and the measured sizes.
# It regenerates the table `subsets` and the figures `class_frequency`, `samples` and
# `size_distribution`.
#
# **Needs.** `smoke`: the synthetic release, generated on first use (no network). `paper`: the real
# release (`minerals data download --root DIR`, or the Kaggle mirror `sergeynesteruk/minerals`) passed
# as `data_root`.

# %% tags=["parameters", "hide-input"]
# profile: "smoke" (CPU, synthetic data, minutes) or "paper" (GPU, the real release); data_root and device:
# empty for the profile's defaults (smoke: the generated synthetic release); papermill -p NAME VALUE sets one.
profile, data_root, device, seed, results_dir = "smoke", "", "", 0, "results"

# %% tags=["remove-input"]
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

import minerals.pipeline.session
from minerals.data import load_image
from minerals.data.verify import subset_counts, subsets_table, verify

s = minerals.pipeline.session.start("01_dataset", profile, data_root, device, seed, results_dir)
display(Markdown(s.banner()))
release = s.release
synthetic = release.report["synthetic"]
if synthetic:
    display(Markdown("**Synthetic data.** Every count, photo and size on this page comes from the generated "
                     "synthetic release, a miniature in the real layout. None of them is a number of the real "
                     "MineralImage5k; only the `paper_*` columns are the paper's."))

# %% [markdown]
# ## What was found on disk
#
# The loader accepts the spellings seen in the release and its mirrors (`minerals_full.csv` or
# `mineral_full.csv`, `path` or `path_final`, `SIZESM` or `size_sm`, ...) and says which it used.

# %% tags=["remove-input"]
report = release.report
display(Markdown("\n".join([
    f"- full table: `{report['files']['full']}`, paths relative to `{report['path_base'][report['files']['full']]}`",
    f"- subset files: {', '.join(f'`{f}`' for f in report['files']['subsets'].values()) or 'none'}",
    f"- size table: `{report['files']['size']}`; segmentation: `{report['files']['segmentation']}`",
    f"- columns used: `{report['columns']}`",
])))

# %% [markdown]
# ## Every photo decodes
#
# `minerals data verify` decodes every photo and mask (JPEG draft mode, in parallel) and lists missing or
# corrupt files, duplicate ids and paths that leave the folder.

# %% tags=["remove-input"]
checked = verify(s.data_root, workers=2, progress=False)
display(Markdown(f"Decoded {checked['decode']['photos']} photos at {checked['decode']['per_second']} photos/s; "
                 f"{len(checked['problems'])} problems."))
if checked["problems"]:
    display(Markdown("\n".join(f"- `{problem}`" for problem in checked["problems"][:20])))

# %% [markdown]
# ## Subsets beside the paper's table
#
# `found_*` are counted here, `paper_*` are the paper's subset table. `match` is empty where the subset
# file is absent or the paper gives no number. Numbered subsets are split train/val/test: by the file's
# own split column when it has one, else by a seeded stratified 60/20/20 split saved as a manifest.

# %% tags=["hide-input"]
counts = subset_counts(release)
table = subsets_table(release, counts)
s.save_table("subsets", table)
shown = ["subset", "task", "paper_classes", "found_classes", "paper_images", "found_images", "paper_min_per_class",
         "found_min_per_class", "match"]
display(table[shown].style.format(na_rep="–", precision=0, thousands=",").hide(axis="index"))
display(s.table_download("subsets"))
splits = {n: c["splits"] for n, c in counts["subsets"].items()}
display(Markdown("Splits: " + "; ".join(f"{n} classes: {sp}" for n, sp in splits.items())))

# %% [markdown]
# ## Photos per species

# %% tags=["hide-input"]
per_species = release.full["en_name"].value_counts()
fig, ax = plt.subplots(figsize=(8, 4))
if len(per_species) <= 40:
    ax.bar(per_species.index, per_species.values, color="tab:blue")
    ax.tick_params(axis="x", rotation=60)
    ax.set(xlabel="species", ylabel="photos")
else:  # thousands of species: rank against count on log axes
    ax.loglog(np.arange(1, len(per_species) + 1), per_species.values)
    ax.set(xlabel="species rank", ylabel="photos")
for n in release.available_subsets():
    cut = counts["subsets"][str(n)]["min_per_class"]
    ax.axhline(cut, ls="--", lw=1, color="grey")
    ax.annotate(f"{n}-class subset: ≥ {cut}", (0.99, cut), xycoords=("axes fraction", "data"), ha="right",
                va="bottom", fontsize=9.5)
ax.set_title(f"{len(release.full)} photos of {len(per_species)} species" + (" (synthetic)" if synthetic else ""))
s.save_figure("class_frequency", fig)
plt.show()

# %% [markdown]
# ## Sample photos with their detector boxes
#
# `mineral_boxes` are the zero-shot OWL-ViT detections shipped with the release (normalised 0–1
# coordinates). As in the real data, the reference cube and the label card often come out as extra
# "stones".

# %% tags=["hide-input"]
rng = np.random.default_rng(s.seed)
species = sorted(per_species.index)
picks = [release.full[release.full["en_name"] == name].sample(1, random_state=rng.integers(1 << 31)).iloc[0]
         for name in rng.permutation(species)[:8]]
cols = min(2, len(picks))
rows = -(-len(picks) // cols)
fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.1 * rows), squeeze=False)  # 9 pt in the column
colours = {"a stone": "tab:orange", "a rock": "tab:red", "a mineral": "tab:green", "a gem": "tab:purple",
           "a crystal": "tab:cyan", "a mineral ore": "tab:brown"}
for ax, row in zip(axes.flat, picks):
    image = load_image(row["path"], max_side=384)
    ax.imshow(image)
    for box in row["mineral_boxes"]:
        x1, y1, x2, y2 = np.asarray(box["box"]) * [image.width, image.height, image.width, image.height]
        colour = colours.get(box.get("label"), "white")
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.5, ec=colour))
        ax.text(x1, y1, f"{box.get('label', '?')} {box.get('confidence', 0):.2f}", fontsize=9, color="white",
                va="bottom", bbox={"fc": colour, "alpha": 0.7, "pad": 1, "lw": 0})
    ax.set_title(f"{row['en_name']} / {row['ru_name']}", fontsize=10)
    ax.axis("off")
for ax in list(axes.flat)[len(picks):]:
    ax.axis("off")
fig.tight_layout()
s.save_figure("samples", fig)
plt.show()
strip, axes = plt.subplots(1, 5, figsize=(7.5, 1.6))
for ax, row in zip(axes, picks):
    ax.imshow(load_image(row["path"], max_side=256))
    ax.axis("off")
s.save_figure("sample_strip", strip)  # the front page's strip of example photos
plt.show()

# %% [markdown]
# ## Measured specimen sizes
#
# The size subset gives the longest extent of each specimen in cm (`SIZESM`), the target of the
# zero-shot size estimation section.

# %% tags=["hide-input"]
sizes = release.size_table()["size_cm"]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.hist(sizes, bins=np.geomspace(max(sizes.min(), 0.1), sizes.max(), 30), color="tab:green")
ax.set(xscale="log", xlabel="specimen size (cm, log scale)", ylabel="photos",
       title=f"{len(sizes)} measured specimens: median {sizes.median():.1f} cm" + (" (synthetic)" if synthetic else ""))
ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # photos come whole
ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: f"{x:g}" if str(round(x, 6))[0] in "25" else ""))
s.save_figure("size_distribution", fig)
plt.show()

# %% tags=["remove-cell"]
s.finish()

# %% [markdown]
# ## Summary
#
# The `subsets` table puts the counts found on disk beside the paper's subset table; the `data` column
# says whether they are synthetic. In the `smoke` profile the release is a generated miniature: its
# counts are expected to differ from the paper's in every row and say nothing about MineralImage5k;
# what this page checks there is that every photo decodes, every subset and split is built, and every
# figure is drawn from the same code the real release goes through. With the real release (`paper`),
# the `match` column shows which of the paper's counts the files reproduce; no `minerals_36.csv` is
# known in the published release, so that row stays empty unless one is supplied.
#
# ## References
#
# - Nesteruk et al. MineralImage5k: A benchmark for zero-shot raw mineral visual recognition and
#   description. *Computers & Geosciences* 178, 105414 (2023).
# - Minderer et al. Simple Open-Vocabulary Object Detection with Vision Transformers (OWL-ViT), ECCV 2022.
