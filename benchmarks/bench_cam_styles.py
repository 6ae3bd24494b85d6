"""Segmentation defaults chosen across synthetic styles (leave-one-style-out), and their cost.

    python benchmarks/bench_cam_styles.py [--photos 8] [--max-side 224] [--methods gradcam,eigencam] [--checkpoint best.pt]

Renders `--photos` segmentation photos with exact masks in every style of `minerals.data.styles.STYLES`,
scores backbones x CAM methods x mask rules on each (`minerals.cam.sweep`), then prints:
the leave-one-style-out table (pipeline chosen on the other styles, its mIoU and rank on the held-out
style, the paper's GradCAM + Otsu there), the per-style mIoU of the pipeline chosen on every style, of
`minerals segment`'s default and of the paper's pipeline, and seconds per photo of the default against
GradCAM + Otsu through `minerals.cam.segment.segment_files` in the same run (medians of `--repeats`,
interleaved). Backbones: the offline ImageNet EfficientNet-Lite0, the random-weight tiny CLIP (a control)
and, with `--checkpoint`, a few-shot best.pt.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from minerals.cache import cache_dir
from minerals.cam import DEFAULT_BACKBONE, DEFAULT_METHOD, DEFAULT_THRESHOLD, PAPER_METHOD, PAPER_THRESHOLD, sweep
from minerals.cam.methods import METHODS, PERTURBATION
from minerals.cam.section import SegmentationConfig
from minerals.cam.segment import segment_files
from minerals.data.styles import STYLES
from minerals.models.registry import load_backbone
from minerals.results import RunStore

# GrabCut costs about 0.1-0.2 s per photo and rule on a CPU core: two GrabCut rules keep the sweep within minutes.
FAST_METHODS = tuple(m for m in METHODS if m not in PERTURBATION)
RULES = ("otsu", "pct50", "pct70", "frac0.15", "frac0.3", "otsu+lcc+fill", "otsu+grabcut", "frac0.15+grabcut")


def timing(backbone, photos: list[np.ndarray], pipelines: dict[str, tuple[str, str]], repeats: int) -> dict:
    """Median seconds per photo of `segment_files` for each named `(method, rule)`, rounds interleaved."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, image in enumerate(photos):
            paths.append(Path(tmp) / f"p{i}.png")
            Image.fromarray(image).save(paths[-1])
        times = {name: [] for name in pipelines}
        for round_ in range(repeats + 1):
            for name, (method, rule) in pipelines.items():
                start = time.perf_counter()
                segment_files(paths, backbone, Path(tmp) / name, method, rule, max_side=512)
                if round_:
                    times[name].append((time.perf_counter() - start) / len(paths))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=8, help="segmentation photos per style")
    parser.add_argument("--max-side", type=int, default=224, help="longest side (px) at which masks are scored")
    parser.add_argument("--checkpoint", help="a few-shot best.pt to sweep as a third backbone")
    parser.add_argument("--methods", default=",".join(FAST_METHODS),
                        help=f"comma-separated CAM methods (default: every method but the per-channel "
                             f"{', '.join(sorted(PERTURBATION))}, minutes per style on a CPU)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timing-photos", type=int, default=8)
    args = parser.parse_args()

    specs = ["imagenet:tf_efficientnet_lite0", "clip:minerals-tiny"] + ([f"checkpoint:{args.checkpoint}"]
                                                                         if args.checkpoint else [])
    backbones = [load_backbone(spec) for spec in specs]
    methods = tuple(args.methods.split(","))
    cfg = SegmentationConfig(backbones=tuple(specs), methods=methods, thresholds=RULES, resolution=224,
                             score_channels=16, ablation_ratio=0.00625, perturbation_batch=8, max_side=args.max_side)
    samples = {style: sweep.style_samples(style, args.photos, args.max_side) for style in STYLES}
    folder = cache_dir() / "bench_cam_styles"
    per_image = sweep.sweep(samples, backbones, cfg, RunStore(folder / "runs"), folder / "cams")
    scores = sweep.style_scores(per_image)
    pd.set_option("display.width", 200, "display.max_columns", 30, "display.precision", 3)
    print(f"{len(STYLES)} styles x {args.photos} photos, {scores.groupby(sweep.PIPELINE).ngroups} pipelines "
          f"({len(specs)} backbones x {len(methods)} methods x {len(RULES)} mask rules), masks at {args.max_side} px\n")
    print("Leave-one-style-out (chosen on the other styles, scored on the held-out one):")
    print(sweep.leave_one_style_out(scores).to_string(index=False))
    best = sweep.best_pipeline(scores)
    chosen = (best["backbone"], best["method"], best["threshold"])
    default = (DEFAULT_BACKBONE, DEFAULT_METHOD, DEFAULT_THRESHOLD)
    paper = (DEFAULT_BACKBONE, PAPER_METHOD, PAPER_THRESHOLD)
    rows = list(dict.fromkeys([chosen, default, paper]))
    print(f"\nChosen on every style: {' '.join(chosen)} (mean mIoU {best['miou']:.3f}); "
          f"minerals segment default: {' '.join(default)}")
    print(sweep.per_style_table(scores, rows).to_string(index=False))
    print("\nBest 10 pipelines by mean per-style mIoU:")
    print(sweep.per_style_table(scores, [tuple(r) for r in sweep.ranked_pipelines(scores)[sweep.PIPELINE].head(10).to_numpy()])
          .to_string(index=False))

    photos = [s.image for style in samples.values() for s in style][::max(1, len(STYLES) * args.photos
                                                                          // args.timing_photos)]
    seconds = timing(backbones[0], photos, {"default": default[1:], "paper": paper[1:]}, args.repeats)
    print(f"\nminerals segment, {len(photos)} photos at <= 512 px, one process (medians of {args.repeats}): "
          f"default {' + '.join(default[1:])} {seconds['default']:.3f} s/photo, GradCAM + Otsu "
          f"{seconds['paper']:.3f} s/photo, ratio {seconds['default'] / seconds['paper']:.2f}")


if __name__ == "__main__":
    main()
