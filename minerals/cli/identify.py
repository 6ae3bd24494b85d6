"""`minerals identify`: species candidates, where the mineral is, and how big it is, for each photo."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from pathlib import Path

from minerals.cli import CommandError
from minerals.cli.batch import add_cam_flags, cam_pipeline, photo_paths

CAM_FLAGS = ("--cam-method", "--cam-threshold", "--paper-cam")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "identify", help="top-k species, CAM, specimen mask and size of your photos (one pass)",
        description=textwrap.fill(
            "For each photo: the top-k species with their probabilities (a few-shot checkpoint, or zero-shot CLIP "
            "over a class list), the class-activation map of the top species, the specimen mask, and the "
            "specimen's size from the 1.27 cm reference cube with its confidence. The model is loaded once and "
            "photos are scored in batches. A photo that cannot be used (not an image, unreadable, too small, too "
            "large) gets an error entry and the others are still processed. Folders are searched for image "
            "files. Without a model flag it uses the best classifier available and says which: the best few-shot "
            "checkpoint of the results folder, else zero-shot CLIP ViT-B-32 (OpenAI weights) over every species.",
            100),
        epilog="examples:\n"
               "  minerals identify photo.jpg   # the best classifier available (it says which)\n"
               "  minerals identify photo.jpg --classifier results/smoke/artifacts/fewshot/<run>/best.pt\n"
               "  minerals identify photos/ --model clip:ViT-B-32@openai --classes species.txt --top 5 --json \\\n"
               "      --out reports/   # = --clip ViT-B-32 --pretrained openai (older spelling)\n"
               "  minerals identify photos/ --model clip:ViT-B-32@vit_b32.pt --classes species.txt\n"
               "  minerals identify photo.jpg --clip minerals-tiny --classes species.txt   # random weights: "
               "a smoke test\n\n"
               "--json prints one JSON object per photo (JSON lines): path, status, error, classifier, warning,\n"
               "width, height, top [{species, score}], cam {method, species, area_fraction, box},\n"
               "mask {source, area_fraction, box, file}, size {method, size_cm, cm_per_px, cube_side_px,\n"
               "confidence, status}, report. Boxes are [x0, y0, x1, y1] in the photo's pixels.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="image files or folders of images")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--model", metavar="SPEC",
                       help="the classifier as a model spec (minerals.models.registry): clip:MODEL@TAG, "
                            "clip:MODEL@/path/weights.pt (zero-shot over --classes) or checkpoint:/path/best.pt")
    model.add_argument("--classifier", metavar="CHECKPOINT",
                       help="a few-shot checkpoint (best.pt) from `minerals fewshot train`; it carries its classes")
    model.add_argument("--clip", metavar="MODEL",
                       help="zero-shot with an open_clip architecture (ViT-B-32) or a shipped config (minerals-tiny, "
                            "random weights)")
    p.add_argument("--checkpoint", metavar="PATH", help="local CLIP weights (file or open_clip folder) for --clip")
    p.add_argument("--results", default="results", metavar="DIR",
                   help="without a model flag: the best few-shot checkpoint of this results folder is used "
                        "(default: ./results), else zero-shot CLIP ViT-B-32/openai over every species")
    p.add_argument("--data-root", default="", metavar="DIR",
                   help="without a model flag or --classes: zero-shot over every species of this release "
                        "(default: the shipped species list)")
    p.add_argument("--pretrained", metavar="TAG", help="open_clip pretrained tag of the --clip weights (openai, ...)")
    p.add_argument("--classes", metavar="FILE", help="zero-shot class list: one species name per line (with --clip)")
    p.add_argument("--templates", default=None, metavar="NAME",
                   help="prompt ensemble from resources/prompts.json for --clip (default: mineral)")
    p.add_argument("--top", type=int, default=None, metavar="K", help="species per photo (default: 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object per photo instead of a summary")
    p.add_argument("--out", metavar="DIR",
                   help="write NNNN_<name>.png (report), NNNN_<name>.mask.png (specimen mask) and identify.jsonl")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--batch-size", type=int, default=None, help="photos per batch (default: 8)")
    add_cam_flags(p, *CAM_FLAGS)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run_identify)


def run_identify(args: argparse.Namespace) -> int:
    args.default = None
    if not (args.model or args.classifier or args.clip):  # before torch loads: offline fails in well under a second
        from minerals.identify import default

        args.default = default.best_checkpoint(args.results)
        try:
            if args.default is None:
                default.require_clip_weights()
                args.species = (default.species(args.data_root or None) if not args.classes else None)
        except default.DefaultModelError as exc:
            raise CommandError(str(exc)) from exc
    from minerals.identify.identifier import IdentifyConfig, IdentifyError, Identifier, write_records

    try:
        cam = cam_pipeline(args.cam_method, args.cam_threshold, args.paper_cam, CAM_FLAGS)
        cfg = IdentifyConfig.from_section({}, top_k=args.top, batch_size=args.batch_size, cam_method=cam[0],
                                          cam_threshold=cam[1], templates=args.templates)
    except IdentifyError as exc:
        raise CommandError(str(exc)) from exc
    photos = photo_paths(args.photos, keep_missing=True)  # a missing file gets its error entry
    start = time.perf_counter()
    classifier = _load(args, cfg)
    print(f"loaded {classifier.name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if classifier.warning:
        print(f"warning: {classifier.warning}", file=sys.stderr)
    records = []
    for item in Identifier(classifier, cfg).run(photos, out_dir=args.out, progress=not args.no_progress):
        records.append(item.record)
        print(json.dumps(item.record, ensure_ascii=False) if args.json else summary(item.record), flush=True)
    if args.out:
        write_records(Path(args.out) / "identify.jsonl", records)
    failed = sum(r["status"] != "ok" for r in records)
    if failed == len(records):
        raise CommandError(f"none of the {len(records)} photos could be identified (see the error entries)", code=1)
    return 0


def _load(args: argparse.Namespace, cfg):
    from minerals.models.clip import ClipError
    from minerals.identify.identifier import IdentifyError, load_fewshot, load_zeroshot, read_classes
    from minerals.models.classifiers import ModelError
    from minerals.zeroshot.prompts import PromptError
    from minerals.cache import cache_dir

    try:
        if not (args.model or args.classifier or args.clip):
            return _default(args, cfg)
        if args.model:
            args = _from_spec(args)
        if args.classifier:
            if args.classes or args.checkpoint or args.pretrained:
                raise CommandError("--classes, --checkpoint and --pretrained go with --clip; a few-shot checkpoint "
                                   "(--classifier) carries its own classes")
            return load_fewshot(args.classifier, args.device)
        if not args.classes:
            raise CommandError("--clip needs --classes FILE: the species to choose from, one name per line")
        return load_zeroshot(args.clip, read_classes(args.classes), args.pretrained, args.checkpoint, cfg.templates,
                             args.device, cache_dir=cache_dir() / "clip_text")
    except (IdentifyError, ClipError, ModelError, PromptError) as exc:
        raise CommandError(str(exc)) from exc


def _default(args: argparse.Namespace, cfg):
    """No model flag: the best few-shot checkpoint of `--results`, else zero-shot CLIP ViT-B-32/openai
    (`run_identify` has found the checkpoint, or checked the weights and read the species list)."""
    from minerals.identify import default
    from minerals.identify.identifier import load_fewshot, load_zeroshot, read_classes
    from minerals.cache import cache_dir

    if args.default is not None:
        path, summary = args.default
        print(f"classifier: few-shot checkpoint {path} (validation top-1 {summary.get('best_val_top1', 'n/a')}), the "
              f"best in {args.results}", file=sys.stderr)
        return load_fewshot(path, args.device)
    names, source = (read_classes(args.classes), args.classes) if args.classes else args.species
    print(f"classifier: zero-shot CLIP {default.CLIP_MODEL}/{default.CLIP_TAG} over {len(names)} species "
          f"({source}); no few-shot checkpoint in {args.results}", file=sys.stderr)
    return load_zeroshot(default.CLIP_MODEL, names, default.CLIP_TAG, None, cfg.templates, args.device,
                         cache_dir=cache_dir() / "clip_text")


def _from_spec(args: argparse.Namespace) -> argparse.Namespace:
    """`--model SPEC` as the older flags: checkpoint:P -> --classifier P, clip:M@T -> --clip M --pretrained T."""
    from minerals.models.registry import parse_spec

    spec = parse_spec(args.model)
    if spec.kind not in ("clip", "checkpoint"):
        raise CommandError(f"--model {args.model}: identify needs species classes, so clip:MODEL@TAG (with --classes) "
                           "or checkpoint:PATH (a few-shot best.pt); ImageNet classifiers have none")
    if args.checkpoint or args.pretrained:
        raise CommandError("--checkpoint and --pretrained are part of --model (clip:MODEL@TAG or clip:MODEL@FILE)")
    if spec.kind == "checkpoint":
        return argparse.Namespace(**{**vars(args), "classifier": spec.name})
    return argparse.Namespace(**{**vars(args), "clip": spec.name, "pretrained": spec.tag,
                                 "checkpoint": spec.checkpoint})


def summary(record: dict) -> str:
    """One human-readable line per photo."""
    if record["status"] != "ok":
        return f"{record['path']}: error: {record['error']}"
    top = "  ".join(f"{t['species']} {t['score']:.2f}" for t in record["top"])
    size = record["size"]
    measured = (f"{size['size_cm']:.1f} cm (confidence {size['confidence']:.2f})" if size["size_cm"] is not None
                else f"no size ({size['status']})")
    report = f" | report {record['report']}" if record["report"] else ""
    return f"{record['path']}: {top} | {measured}{report}"
