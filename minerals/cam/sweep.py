"""Segmentation defaults chosen across photo styles: backbones x CAM methods x mask rules, leave-one-style-out.

`sweep` scores every pipeline (backbone, method, mask rule) on a few photos of each synthetic style
(`minerals.data.styles.STYLES`, exact masks) through `section.evaluate` (resumable, CAMs cached);
`style_scores` reduces that to one mean IoU per style and pipeline; `leave_one_style_out` picks, for
each style in turn, the pipeline with the best mean over the *other* styles and reports it on the
held-out one (its IoU, its rank there, the paper's GradCAM + Otsu beside it); `best_pipeline` is the
choice over every style, the one `minerals segment` and identify use by default (`minerals.cam.DEFAULT_*`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import pandas as pd

from minerals.cam import DEFAULT_BACKBONE, PAPER_METHOD, PAPER_THRESHOLD
from minerals.cam.section import SegmentationConfig, evaluate, load_samples

PIPELINE = ["backbone", "method", "threshold"]
LOSO_COLUMNS = ["held_out", "backbone", "method", "threshold", "miou", "rank", "pipelines", "paper_miou",
                "best_miou", "train_miou"]


def style_samples(style: str, photos: int, max_side: int, image_size: int = 512, seed: int = 101) -> list:
    """`photos` segmentation samples (`section.Sample`) of one synthetic style, scored at `max_side` px."""
    from minerals.data import open_release
    from minerals.data.styles import style_release

    release = open_release(style_release(style, n_segm=photos, image_size=image_size, seed=seed))
    return load_samples(release.segmentation(), max_side)


def sweep(samples_by_style: dict[str, list], backbones: Sequence, cfg: SegmentationConfig, store, cache,
          device: str = "cpu") -> pd.DataFrame:
    """Per photo: `style, backbone, method, threshold, image, iou, dice, pixel_acc, s_per_image`, every
    pipeline of `cfg` on every style's samples (each method on all of them: `perturbation_images` ignored)."""
    from tqdm.auto import tqdm

    cfg = replace(cfg, perturbation_images=0, max_images=0)
    frames = []
    for style, samples in tqdm(samples_by_style.items(), desc="styles", unit="style"):
        per_image = evaluate(samples, backbones, cfg, store, cache, device).per_image
        frames.append(per_image.assign(style=style, s_per_image=per_image["cam_s_per_image"] + per_image["mask_s"]))
    return pd.concat(frames, ignore_index=True)


def style_scores(per_image: pd.DataFrame) -> pd.DataFrame:
    """One row per style and pipeline: `miou` (mean IoU over the style's photos), `s_per_image`, `n_images`."""
    return (per_image.groupby(["style", *PIPELINE], sort=False)
            .agg(miou=("iou", "mean"), s_per_image=("s_per_image", "mean"), n_images=("iou", "size"))
            .reset_index())


def ranked_pipelines(scores: pd.DataFrame) -> pd.DataFrame:
    """Pipelines by mean over styles of their per-style mIoU (each style weighs the same), best first."""
    return (scores.groupby(PIPELINE, sort=False)["miou"].mean().rename("miou").reset_index()
            .sort_values("miou", ascending=False, kind="stable").reset_index(drop=True))


def best_pipeline(scores: pd.DataFrame) -> dict:
    """`{backbone, method, threshold, miou}` of the pipeline with the best mean of per-style mIoU."""
    return ranked_pipelines(scores).iloc[0].to_dict()


def leave_one_style_out(scores: pd.DataFrame, paper_backbone: str = DEFAULT_BACKBONE) -> pd.DataFrame:
    """For each style: the pipeline chosen on the other styles, its mIoU on the held-out style and its
    `rank` there (1 = best of `pipelines`), the paper's GradCAM + Otsu on `paper_backbone` there
    (`paper_miou`), the best any pipeline reaches there (`best_miou`, an oracle), and the chosen one's
    mean over the styles it was chosen on (`train_miou`); a last row `overall` averages the held-out rows."""
    styles = list(dict.fromkeys(scores["style"]))
    if len(styles) < 2:
        raise ValueError(f"leave-one-style-out needs at least two styles, got {styles}")
    rows = []
    for held in styles:
        chosen = best_pipeline(scores[scores["style"] != held])
        here = scores[scores["style"] == held].sort_values("miou", ascending=False, kind="stable").reset_index(drop=True)
        hit = here[(here[PIPELINE] == pd.Series({k: chosen[k] for k in PIPELINE})).all(axis=1)]
        paper = here[(here["backbone"] == paper_backbone) & (here["method"] == PAPER_METHOD)
                     & (here["threshold"] == PAPER_THRESHOLD)]
        rows.append({"held_out": held, **{k: chosen[k] for k in PIPELINE}, "miou": float(hit["miou"].iloc[0]),
                     "rank": int(hit.index[0]) + 1, "pipelines": len(here),
                     "paper_miou": float(paper["miou"].iloc[0]) if len(paper) else float("nan"),
                     "best_miou": float(here["miou"].iloc[0]), "train_miou": float(chosen["miou"])})
    table = pd.DataFrame(rows, columns=LOSO_COLUMNS)
    overall = {"held_out": "overall", "backbone": "", "method": "", "threshold": "",
               **table[["miou", "rank", "paper_miou", "best_miou", "train_miou"]].mean().to_dict(),
               "pipelines": int(table["pipelines"].max())}
    return pd.concat([table, pd.DataFrame([overall])], ignore_index=True)[LOSO_COLUMNS]


def per_style_table(scores: pd.DataFrame, pipelines: Sequence[tuple[str, str, str]]) -> pd.DataFrame:
    """mIoU per style (columns) of the given `(backbone, method, threshold)` pipelines (rows), with their
    mean over styles, their rank among every pipeline by that mean, and seconds per photo."""
    ranked = ranked_pipelines(scores).assign(rank=lambda d: d.index + 1)
    wide = scores.pivot_table(index=PIPELINE, columns="style", values="miou", sort=False)
    seconds = scores.groupby(PIPELINE, sort=False)["s_per_image"].mean()
    rows = []
    for pipe in pipelines:
        match = ranked[(ranked[PIPELINE] == pd.Series(dict(zip(PIPELINE, pipe)))).all(axis=1)]
        if match.empty:
            raise ValueError(f"pipeline {pipe} was not swept")
        rows.append({**dict(zip(PIPELINE, pipe)), **wide.loc[pipe].to_dict(), "mean_miou": float(match["miou"].iloc[0]),
                     "rank": int(match["rank"].iloc[0]), "s_per_image": float(seconds.loc[pipe])})
    return pd.DataFrame(rows)
