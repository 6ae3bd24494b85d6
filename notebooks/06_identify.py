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
# # Identify a specimen from one photo
#
# **Overview.** The paper's methods answer a geologist's question about a single photo when they are
# joined: *which species is it, where is the mineral, and how big is it?* `minerals identify` runs, in
# one pass over any number of photos, a species classifier (a few-shot checkpoint, or zero-shot CLIP
# over a class list) for the top-k species, a class-activation map (Grad-CAM) of the top species, the
# specimen mask and the size estimate from the 1.27 cm reference cube with its confidence. This page
# runs it on test photos and regenerates the table `identify` and the figure `identify_report`.
#
# **Needs.** `smoke`: the generated synthetic release and the EfficientNet-Lite0 fine-tuned on its
# 10-class subset by the few-shot page (reused from its checkpoint; trained here if missing), no network.
# `paper`: the real release and the few-shot checkpoint of the `paper` profile.
#
# **On your own photos.** The same computation from a shell (a folder of photos works too):
#
# ```
# minerals identify photo.jpg more/ --classifier results/smoke/artifacts/fewshot/<run>/best.pt \
#     --top 5 --json --out reports/
# minerals identify photo.jpg --clip ViT-B-32 --checkpoint vit_b32.pt --pretrained openai --classes species.txt
# ```

# %% tags=["parameters", "hide-input"]
# profile: "smoke" (CPU, synthetic data, minutes) or "paper" (GPU, the real release); data_root and device:
# empty for the profile's defaults (smoke: the generated synthetic release); papermill -p NAME VALUE sets one.
profile, data_root, device, seed, results_dir = "smoke", "", "", 0, "results"

# %% tags=["remove-input"]
import pandas as pd
from IPython.display import Image, Markdown, display

import minerals.pipeline.session
from minerals.identify import identifier as identify
from minerals.identify import section
from minerals.identify.report import report_figure

s = minerals.pipeline.session.start("06_identify", profile, data_root, device, seed, results_dir)
display(Markdown(s.banner()))
cfg = identify.IdentifyConfig.from_section(s.profile.section("identify"))

# %% [markdown]
# ## The classifier: the few-shot model of the 10-class subset
#
# The checkpoint is the one the few-shot page trained (ImageNet EfficientNet-Lite0, fine-tuned), so
# nothing is retrained here. Its classes are the species of the subset; a photo of another species still
# gets the closest of these.

# %% tags=["remove-input"]
classifier = section.classifier(s)
display(Markdown(f"**Classifier:** {classifier.name}; classes: {', '.join(classifier.classes)}."))

# %% [markdown]
# ## One pass over test photos
#
# One test photo per species (seeded), plus a file that is not a photo, to show that a bad input gets
# an error entry while the other photos are processed. The classifier and its CAM hooks are set up
# once; photos are scored and explained in batches.

# %% tags=["hide-input"]
table = section.run(s, cfg)["identify"]
s.save_table("identify", table)


def verdict(row) -> str:
    """Whether the top-1 answer is the true species, or where the truth ranks."""
    if row["status"] != "ok":
        return f"– ({row['status']})"
    if pd.isna(row["true_rank"]):
        return "no (not in the top k)"
    return "yes" if row["true_rank"] == 1 else f"no (truth ranks {row['true_rank']})"


answers = table.assign(right=table.apply(verdict, axis=1), score=100 * table["top1_score"])
display(answers[["photo", "true_species", "top1", "score", "right", "true_size_cm", "size_cm", "size_status"]]
        .rename(columns={"true_species": "truth", "top1": "answer", "score": "score %", "true_size_cm": "true cm",
                         "size_cm": "estimate cm", "size_status": "size"})
        .style.format(precision=1, na_rep="–").hide(axis="index"))
display(s.table_download("identify", "Full table identify (CSV: errors, CAM area, mask source, size confidence)"))

# %% [markdown]
# Each photo's result is one JSON object (`minerals identify --json` prints one per line).

# %% tags=["remove-input"]
display(s.download(section.records_path(s), "Every photo's JSON record (JSON lines)"))

# %% [markdown]
# ## Report
#
# Per photo, a block of four panels: the photo; the class-activation map of the top species over it (the
# method named in the panel title; red = the regions that raised that species' score); the specimen
# outline, the reference cube (green) and the measured longest extent (red line), with the size and its
# confidence, or the reason the size estimator abstained; and the top-k species with their probabilities.
# `minerals identify --out DIR` writes one such block per photo.

# %% tags=["hide-input"]
path = s.save_figure("identify_report", report_figure(section.report_items(s, cfg, n=3)))
display(Image(filename=str(path)))

# %% tags=["remove-cell"]
s.finish()

# %% [markdown]
# ## Summary

# %% tags=["remove-input"]
ok = table[table["status"] == "ok"]
errors = table.loc[table["status"] != "ok", "photo"].tolist()
correct = int((ok["true_rank"] == 1).sum())
lines = [f"- {len(ok)} of {len(table)} inputs identified; error entries for: {', '.join(errors) or 'none'}.",
         f"- Top-1 species correct on {correct} of {len(ok)} photos; a handful of photos is not an accuracy "
         "estimate: the few-shot page scores the whole test split."]
scored = ok["size_error_cm"].notna()
if scored.any():
    lines.append(f"- Size estimated on {int(ok['size_cm'].notna().sum())} of {len(ok)} photos; mean absolute error "
                 f"{ok.loc[scored, 'size_error_cm'].abs().mean():.2f} cm on the {int(scored.sum())} with a known "
                 "size; the size page measures it on every photo.")
lines.append(f"- The classifier sees {classifier.resolution}-px inputs, so its Grad-CAM is the last feature map "
             "of that input (a few cells at small inputs) upsampled to the photo: a coarse region, not an outline. "
             "The specimen mask comes from the size estimator's segmentation when it found the specimen, from the "
             "thresholded CAM otherwise (`mask_source`).")
display(Markdown("\n".join(lines)))

# %% [markdown]
# In the `smoke` profile the photos and species are synthetic: the classifier learned the generator's
# species, so its answers say nothing about real specimens, and the CAM shows what separates the
# synthetic species rather than mineralogy. The page proves that the pieces join up: one model load,
# batched scoring and CAMs, size and mask per photo, error entries for bad files.
#
# ## References
#
# - Nesteruk S. et al. *MineralImage5k: A benchmark for zero-shot raw mineral visual recognition and
#   description.* Computers & Geosciences 178, 105414 (2023).
# - Selvaraju R. R. et al. *Grad-CAM: Visual explanations from deep networks via gradient-based
#   localization.* ICCV 2017.
