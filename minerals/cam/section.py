"""Zero-shot segmentation scored against the `segm` masks: CAM methods x backbones x mask rules.

`evaluate(samples, backbones, cfg, store, cache)` computes each (backbone, method)'s CAMs once, as a
resumable run record whose CAMs are cached in an `.npz`, then scores every mask rule on those CAMs:
the threshold sweep never runs the model again (adding rules adds no forward pass). The result holds
the `segmentation` table, the per-image scores, and what the overlay figure needs.

`run(session, cfg)` is the section: tables `segmentation` and `segmentation_images` (per photo); the
overlay figure's photos and CAMs come from `cases(session, cfg, per_image, ...)` (cached CAMs, no model).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import pandas as pd

from minerals.cam.methods import METHODS, PERTURBATION, CamError, ForwardCounter, compute_cams, find_target_layer
from minerals.models.registry import DEFAULT_PROMPTS, LoadedModel
from minerals.cam.mask import MaskRule, cam_to_mask
from minerals.data.fingerprint import files_fingerprint
from minerals.metrics import bootstrap_ci, mask_scores
from minerals.profiles import section_values
from minerals.results import RunStore, atomic_write, key_hash

SECTION = "segmentation"
TABLE_COLUMNS = ("backbone", "method", "threshold", "miou", "mdice", "s_per_image", "miou_low", "miou_high",
                 "mpixel_acc", "forwards_per_image", "n_images", "mdice_low", "mdice_high", "mpixel_acc_low",
                 "mpixel_acc_high")


class SegmentationDataError(ValueError):
    """A `segm` photo whose mask is missing, of another size, or empty."""


@dataclass(frozen=True)
class SegmentationConfig:
    """The profile's [segmentation] table.

    `max_images` caps the photos scored (0 = all); `perturbation_images` caps them further for
    ScoreCAM and AblationCAM (0 = same as the others); `score_channels` (0 = all) and
    `ablation_ratio` cut those methods' per-channel passes; `max_side` is the longest side in px at
    which masks are scored (0 = the mask's own size); `resolution` (0 = each backbone's own) is the
    CAM input side for backbones with convolutional target layers (ViT towers keep their own size).
    """

    backbones: tuple[str, ...] = ("fewshot:tf_efficientnet_lite0",)
    methods: tuple[str, ...] = tuple(METHODS)
    thresholds: tuple[str, ...] = ("otsu", "pct50", "frac0.15", "otsu+lcc+fill", "otsu+grabcut")
    fewshot_subset: int = 10
    prompts: tuple[str, ...] = DEFAULT_PROMPTS
    max_images: int = 0
    perturbation_images: int = 0
    batch_size: int = 16
    perturbation_batch: int = 32
    ablation_ratio: float = 1.0
    score_channels: int = 0
    max_side: int = 512
    resolution: int = 0
    n_boot: int = 1000
    overlay_cases: int = 2

    @classmethod
    def from_section(cls, section: dict) -> "SegmentationConfig":
        """Defaults overridden by the profile's values; ValueError names unknown settings, methods, rules."""
        cfg = cls(**section_values(cls, section, SECTION))
        bad = [m for m in cfg.methods if m not in METHODS]
        if bad:
            raise ValueError(f"[{SECTION}] unknown CAM method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}")
        for rule in cfg.thresholds:
            MaskRule.parse(rule)
        return cfg

    def method_options(self, method: str) -> dict:
        """The CAM settings that change `method`'s maps (part of its cache key)."""
        options = {"batch_size": self.batch_size}
        if method == "scorecam":
            options.update(perturbation_batch=self.perturbation_batch, score_channels=self.score_channels or None)
        elif method == "ablationcam":
            options.update(perturbation_batch=self.perturbation_batch, ablation_ratio=self.ablation_ratio)
        return options

    def resolution_for(self, backbone: LoadedModel) -> int | tuple[int, int]:
        """The CAM input size of `backbone` under this config."""
        if self.resolution and find_target_layer(backbone.model).layout == "nchw":
            return self.resolution
        return backbone.resolution

    def images_for(self, method: str, n: int) -> int:
        """How many of `n` photos `method` is scored on."""
        if method in PERTURBATION and self.perturbation_images:
            return min(n, self.perturbation_images)
        return n


@dataclass
class Sample:
    """One `segm` pair: `image` RGB uint8 `(H, W, 3)` and `truth` bool `(H, W)` at the scoring size."""

    name: str
    image: np.ndarray
    truth: np.ndarray
    files: tuple[str, ...] = ()  # (photo, mask) it was decoded from; () when made in memory


def load_samples(pairs: Sequence[tuple], max_side: int = 0, progress: bool = True) -> list[Sample]:
    """Decode `(photo, mask)` pairs, checking each mask; downscale both so the longer side <= `max_side`.

    Raises SegmentationDataError (or `minerals.data.ImageError`) naming the file when a mask is
    missing, has another size than its photo, or has no foreground pixel.
    """
    from tqdm.auto import tqdm

    from minerals.data import load_image, load_mask

    samples = []
    for image_path, mask_path in tqdm(pairs, desc="segm pairs", unit="photo", leave=False, disable=not progress):
        if mask_path is None or not Path(mask_path).is_file():
            raise SegmentationDataError(f"{image_path}: no mask (looked for {mask_path}); add it to segm/mask "
                                        "under the photo's name")
        image = load_image(image_path)
        truth = load_mask(mask_path, (image.height, image.width))
        if not truth.any():
            raise SegmentationDataError(f"{mask_path}: empty mask (no pixel >= 128), so IoU is undefined; "
                                        "fix or remove the pair")
        rgb = np.asarray(image)
        scale = max_side / max(truth.shape) if max_side else 1.0
        if scale < 1:
            size = (max(1, round(truth.shape[1] * scale)), max(1, round(truth.shape[0] * scale)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            truth = cv2.resize(truth.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
        samples.append(Sample(Path(image_path).name, rgb, truth, (str(image_path), str(mask_path))))
    return samples


def samples_key(samples: Sequence[Sample]) -> str:
    """The run-key identity of `samples`: their photo and mask files (`minerals.data.fingerprint`, the
    same wherever the folder lies) at their scoring size; samples made in memory by their pixels."""
    if samples and all(s.files for s in samples):
        files = [f for s in samples for f in s.files]
        sizes = [f"{s.truth.shape[0]}x{s.truth.shape[1]}" for s in samples for _ in s.files]
        return files_fingerprint(files, [sizes])
    return key_hash([[s.name, list(s.truth.shape), int(s.truth.sum()), int(s.image[::7, ::7].sum())]
                     for s in samples])


def cam_run(backbone: LoadedModel, method: str, samples: Sequence[Sample], cfg: SegmentationConfig,
            store: RunStore, cache: Path, device: str = "cpu") -> tuple[dict, Path]:
    """`(metrics, cams file)` of one backbone and method, computed only when no record exists.

    The `.npz` holds `cams` `(N, h, w)` float16 at the model resolution (`load_cams`); `metrics` holds
    `n_images`, `cam_s_per_image`, `forwards_per_image` and the file name.
    """
    options = cfg.method_options(method)
    resolution = cfg.resolution_for(backbone)
    key = {"backbone": backbone.identity, "method": method, "options": options, "resolution": resolution,
           "images": samples_key(samples)}
    path = Path(cache) / f"cams-{key_hash(key)}.npz"

    def compute() -> dict:
        with ForwardCounter(backbone.model) as counter:
            start = time.perf_counter()
            cams = compute_cams(backbone.model, [s.image for s in samples], method, resolution=resolution,
                                mean=backbone.mean, std=backbone.std, targets=backbone.targets(len(samples)),
                                device=device, **options)
            seconds = time.perf_counter() - start
        with atomic_write(path) as tmp, open(tmp, "wb") as fp:
            np.savez_compressed(fp, cams=cams.astype(np.float16))
        return {"n_images": len(samples), "cam_s_per_image": seconds / max(1, len(samples)),
                "forwards_per_image": counter.images / max(1, len(samples)), "cams": path.name}

    metrics = store.run(key, compute)
    if not path.is_file():  # the record survived its cache file: recompute both
        metrics = store.run(key, compute, force=True)
    return metrics, path


def load_cams(path: str | Path) -> np.ndarray:
    """`(N, h, w)` float32 CAMs from a file written by `cam_run`."""
    with np.load(path) as data:
        return data["cams"].astype(np.float32)


def score_cams(cams: np.ndarray, samples: Sequence[Sample], rules: Sequence[str]) -> pd.DataFrame:
    """Per photo and rule: `image, position` (the photo's index in `samples`), `threshold, iou, dice,
    pixel_acc, mask_s`. Uses no model."""
    if len(cams) != len(samples):
        raise CamError(f"{len(cams)} CAMs for {len(samples)} photos")
    rows = []
    for rule_text in rules:
        rule = MaskRule.parse(rule_text)
        for index, (cam, sample) in enumerate(zip(cams, samples)):
            start = time.perf_counter()
            mask = cam_to_mask(cam, rule, sample.truth.shape, sample.image)
            rows.append({"image": sample.name, "position": index, "threshold": rule.name,
                         **mask_scores(mask, sample.truth),
                         "mask_s": time.perf_counter() - start})
    return pd.DataFrame(rows)


def summarise(per_image: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The `segmentation` table: one row per backbone, method and threshold, with bootstrap 95 % CIs over photos."""
    rows = []
    for (backbone, method, threshold), group in per_image.groupby(["backbone", "method", "threshold"], sort=False):
        low, high = bootstrap_ci(group["iou"].to_numpy(), n_boot=n_boot, seed=seed)
        intervals = {f"{name}_{end}": bound for score, name in (("dice", "mdice"), ("pixel_acc", "mpixel_acc"))
                     for end, bound in zip(("low", "high"),
                                           bootstrap_ci(group[score].to_numpy(), n_boot=n_boot, seed=seed))}
        rows.append({**intervals, "backbone": backbone, "method": method, "threshold": threshold,
                     "miou": group["iou"].mean(), "mdice": group["dice"].mean(),
                     "s_per_image": group["cam_s_per_image"].iloc[0] + group["mask_s"].mean(),
                     "miou_low": low, "miou_high": high, "mpixel_acc": group["pixel_acc"].mean(),
                     "forwards_per_image": group["forwards_per_image"].iloc[0], "n_images": len(group)})
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


@dataclass
class SegmentationResult:
    """What `evaluate` found: the table, per-image scores, and where each (backbone, method)'s CAMs are."""

    table: pd.DataFrame
    per_image: pd.DataFrame
    samples: list[Sample]
    cam_files: dict[tuple[str, str], Path] = field(repr=False, default_factory=dict)

    def best(self, backbone_prefix: str = "") -> pd.Series:
        """`best(self.table, backbone_prefix)`."""
        return best(self.table, backbone_prefix)

    def cases(self, backbone: str, method: str, threshold: str, k: int = 2) -> list[dict]:
        """`pick_cases` on these samples and their cached CAMs."""
        return pick_cases(self.per_image, backbone, method, threshold, k, self.samples.__getitem__,
                          load_cams(self.cam_files[(backbone, method)]))


def best(table: pd.DataFrame, backbone_prefix: str = "") -> pd.Series:
    """The row of highest mean IoU among those scored on every photo (not on a perturbation subset)."""
    rows = table[table["backbone"].str.startswith(backbone_prefix)]
    rows = rows[rows["n_images"] == rows["n_images"].max()]
    if rows.empty:
        raise CamError(f"no segmentation rows for backbones starting with {backbone_prefix!r}")
    return rows.loc[rows["miou"].idxmax()]


def pick_cases(per_image: pd.DataFrame, backbone: str, method: str, threshold: str, k: int,
               sample_at: Callable[[int], Sample], cams: np.ndarray) -> list[dict]:
    """The `k` best and `k` worst photos of one setting: image, truth, CAM, mask, IoU, name, `rank`.

    `sample_at(i)` gives the photo at `position` i of `per_image`, `cams[i]` its CAM.
    """
    rows = per_image[(per_image["backbone"] == backbone) & (per_image["method"] == method)
                     & (per_image["threshold"] == threshold)].sort_values("iou", ascending=False)
    picked = [("best", r) for r in rows.head(k).itertuples()]
    picked += [("worst", r) for r in rows.tail(min(k, max(0, len(rows) - k))).itertuples()]
    out = []
    for rank, row in picked:
        sample, cam = sample_at(row.position), cams[row.position]
        out.append({"rank": rank, "name": row.image, "iou": row.iou, "image": sample.image, "truth": sample.truth,
                    "cam": cam, "mask": cam_to_mask(cam, threshold, sample.truth.shape, sample.image)})
    return out


def evaluate(samples: Sequence[Sample], backbones: Sequence[LoadedModel], cfg: SegmentationConfig, store: RunStore,
             cache: str | Path, device: str = "cpu", seed: int = 0) -> SegmentationResult:
    """Every backbone x method x rule of `cfg` on `samples` (capped by `cfg.max_images`)."""
    samples = list(samples)[:cfg.max_images or None]
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    frames, files = [], {}
    for backbone in backbones:
        for method in cfg.methods:
            subset = samples[:cfg.images_for(method, len(samples))]
            metrics, files[(backbone.spec, method)] = cam_run(backbone, method, subset, cfg, store, cache, device)
            scores = score_cams(load_cams(files[(backbone.spec, method)]), subset, cfg.thresholds)
            frames.append(scores.assign(backbone=backbone.spec, method=method,
                                        cam_s_per_image=metrics["cam_s_per_image"],
                                        forwards_per_image=metrics["forwards_per_image"], cams=metrics["cams"]))
    per_image = pd.concat(frames, ignore_index=True)
    return SegmentationResult(summarise(per_image, cfg.n_boot, seed), per_image, samples, files)


def segmentation_masks(result: SegmentationResult, folder: str | Path) -> list[Path]:
    """Masks of each backbone and method of `result` at its best mask rule
    (highest mean IoU), scored on every photo: `<folder>/<backbone>-<method>-<rule>/`. Returns the folders."""
    from minerals.benchmark.export import write_masks

    n = len(result.samples)
    rows = result.table[result.table["n_images"] == n]
    out = []
    for (backbone, method), group in rows.groupby(["backbone", "method"], sort=False):
        best = group.loc[group["miou"].idxmax()]
        cams = load_cams(result.cam_files[(backbone, method)])
        masks = [cam_to_mask(cam, best["threshold"], s.truth.shape, s.image) for cam, s in zip(cams, result.samples)]
        name = f"{backbone}-{method}-{best['threshold']}".replace(":", "_").replace("/", "_").replace("+", "_")
        out.append(write_masks(Path(folder) / name, [Path(s.name).stem for s in result.samples], masks))
    return out


def run(session, cfg: SegmentationConfig) -> dict[str, pd.DataFrame]:
    """The section for a notebook session: its release's `segm` pairs, every backbone of `cfg`, resumable.

    Returns the tables `segmentation` (`summarise`) and `segmentation_images` (per photo, backbone,
    method and rule, with `position` and `cams`: where `cases` finds its CAM). Each backbone and method's
    masks at its best rule go to `predictions/segmentation/` (a benchmark submission).
    """
    from minerals.benchmark.export import predictions_dir
    from minerals.models.registry import load_backbone

    samples = load_samples(_pairs(session, cfg), cfg.max_side)
    backbones = [load_backbone(spec, session, session.device, cfg.prompts, cfg.fewshot_subset)
                 for spec in cfg.backbones]
    result = evaluate(samples, backbones, cfg, session.store(SECTION), session.artifacts(SECTION), session.device,
                      session.seed)
    segmentation_masks(result, predictions_dir(session.root, SECTION))
    return {"segmentation": result.table, "segmentation_images": result.per_image}


def cases(session, cfg: SegmentationConfig, per_image: pd.DataFrame, backbone: str, method: str, threshold: str,
          k: int = 2) -> list[dict]:
    """`pick_cases` of a `run`: only the picked photos are decoded again, the CAMs come from the
    section's artifacts folder (no model runs)."""
    rows = per_image[(per_image["backbone"] == backbone) & (per_image["method"] == method)]
    if rows.empty:
        raise CamError(f"no segmentation_images rows for {backbone} · {method}")
    pairs = _pairs(session, cfg)
    return pick_cases(per_image, backbone, method, threshold, k,
                      lambda i: load_samples([pairs[i]], cfg.max_side, progress=False)[0],
                      load_cams(session.artifacts(SECTION) / rows["cams"].iloc[0]))


def _pairs(session, cfg: SegmentationConfig) -> list[tuple]:
    return session.release.segmentation()[:cfg.max_images or None]
