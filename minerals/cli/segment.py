"""`minerals segment`: zero-shot specimen masks from class-activation maps."""

from __future__ import annotations

import json

from minerals.cam import DEFAULT_BACKBONE, DEFAULT_METHOD, DEFAULT_THRESHOLD, PAPER_METHOD, PAPER_THRESHOLD
from minerals.cli import CommandError, add_command
from minerals.cli.batch import add_cam_flags, cam_pipeline, photo_paths

DESCRIPTION = """\
Segment the specimen in each photo without mask supervision: a class-activation map (grad-cam) of a
classifier, thresholded into a mask. Writes <name>_mask.png (white = specimen) and
<name>_overlay.png
(CAM heat map, mask outline) per photo into --out, and prints one JSON line per photo (folders: the
photos inside). A file that cannot be decoded gets a line with its status ("unreadable image: ...")
and
no mask; the other photos are still segmented, and the exit status is 0 as with `minerals size`.

Backbones: imagenet:NAME (timm/torchvision ImageNet classifier; the default EfficientNet-Lite0 works
offline), checkpoint:PATH (a few-shot best.pt), clip:MODEL[@TAG] (open_clip tower; the CAM target is
the similarity to --prompt). Mask rules: otsu, pct<P>, frac<F> (the Grad-CAM paper's frac0.15), each
optionally +grabcut, +lcc (largest component), +fill (fill holes), e.g. otsu+grabcut+lcc.

The default pipeline (%s + %s) is the best across synthetic photo styles, chosen leave-one-style-out
(benchmarks/bench_cam_styles.py); --paper uses the MineralImage5k paper's %s + %s.""" % (
    DEFAULT_METHOD, DEFAULT_THRESHOLD, PAPER_METHOD, PAPER_THRESHOLD)


def register(subparsers) -> None:
    p = add_command(subparsers, "segment", "zero-shot specimen masks from class-activation maps", DESCRIPTION)
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_DIR", help="photos, or folders searched for photos")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the mask and overlay PNGs")
    add_cam_flags(p, "--method", "--threshold", "--paper")
    p.add_argument("--backbone", default=DEFAULT_BACKBONE,
                   help=f"KIND:NAME of the classifier (default: {DEFAULT_BACKBONE})")
    p.add_argument("--layer", help="dotted path of the CAM target layer (default: the known one of the backbone)")
    p.add_argument("--prompt", action="append", metavar="TEXT",
                   help="clip backbones: a text prompt of the CAM target (repeatable; default: mineral prompts)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--max-side", type=int, default=1024, help="longest side of the photos and masks in px")
    p.add_argument("--batch-size", type=int, default=16, help="photos per CAM batch")
    p.set_defaults(func=run)


def run(args) -> int:
    from minerals.cam.methods import METHODS, CamError
    from minerals.models.registry import DEFAULT_PROMPTS, load_backbone
    from minerals.cam.mask import MaskRule
    from minerals.cam.segment import segment_files
    from minerals.models.clip import ClipError
    from minerals.data import ImageError
    from minerals.fewshot.section import CheckpointError
    from minerals.models.classifiers import ModelError

    args.method, args.threshold = cam_pipeline(args.method, args.threshold, args.paper,
                                               ("--method", "--threshold", "--paper"))
    if args.method not in METHODS:
        raise CommandError(f"unknown CAM method {args.method!r}; choose one of {', '.join(METHODS)}")
    if args.max_side < 32 or args.batch_size < 1:
        raise CommandError("--max-side must be >= 32 and --batch-size >= 1")
    paths = photo_paths(args.images)
    try:
        MaskRule.parse(args.threshold)
        backbone = load_backbone(args.backbone, device=args.device, prompts=args.prompt or DEFAULT_PROMPTS)
        results = segment_files(paths, backbone, args.out, args.method, args.threshold, args.device,
                                args.max_side, args.batch_size, args.layer)
    except (CamError, ImageError, CheckpointError, ModelError, ClipError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    for result in results:
        print(json.dumps(result))
    return 0
