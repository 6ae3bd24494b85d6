"""`minerals zeroshot run|classify|names`: zero-shot CLIP over the release, or over your own photos."""

from __future__ import annotations

import argparse
import json

from minerals.cli import CommandError, add_command, add_run_flags
from minerals.profiles import ProfileError

DESCRIPTION = """\
Zero-shot CLIP on MineralImage5k: prompt ensembles over the 10/36/98/360-class subsets and the full
5,139-species set, a per-template ablation, and a linear probe on the same features. Weights come
from open_clip's hub tags (cached; fails fast offline) or a local checkpoint."""


def _model_flags(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--model", required=required,
                   help="open_clip architecture (ViT-B-32, ViT-L-14, ...) or minerals-tiny (random weights)")
    p.add_argument("--pretrained", default="",
                   help="open_clip tag (openai, laion2b_s34b_b79k); with --checkpoint, the tag the file holds, "
                        "which gives its preprocessing")
    p.add_argument("--checkpoint", default="",
                   help="local weights: a file (with open_clip_config.json beside it, or --pretrained TAG) or a "
                        "folder holding open_clip_config.json and the weights; works offline")


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "zeroshot", "zero-shot classification with CLIP: the benchmark grid, or your own photos",
                    DESCRIPTION)
    groups = p.add_subparsers(dest="zeroshot_command", metavar="{run,classify,names}", required=True)

    r = groups.add_parser(
        "run", help="run (or resume) the profile's grid and write the tables",
        description="Score every model x subset x prompt ensemble of the profile's [zeroshot] table, the "
                    "per-template ablation and the k-shot linear probe. Run records go to "
                    "RESULTS/<profile>/runs/zeroshot/ (finished runs are reused), feature caches to "
                    "RESULTS/<profile>/artifacts/zeroshot/, tables to RESULTS/<profile>/tables/.",
        epilog="examples:\n  minerals zeroshot run\n"
               "  minerals zeroshot run --profile paper --data-root ~/mi5k --device cuda\n"
               "  minerals zeroshot run --profile paper --data-root ~/mi5k --model ViT-B-32 "
               "--checkpoint ~/weights/ViT-B-32.pt --pretrained openai",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_flags(r)
    _model_flags(r, required=False)
    r.add_argument("--subsets", nargs="+", help="override the profile's subsets (10 36 98 360 full)")
    r.set_defaults(func=run_grid)

    c = groups.add_parser(
        "classify", help="top-k species of your photos by zero-shot CLIP over a class list",
        description="Rank the classes of --classes (a text file, one English name per line) for each photo.",
        epilog="example:\n  minerals zeroshot classify a.jpg b.jpg --model ViT-B-32 --checkpoint ~/w/ViT-B-32.pt "
               "--pretrained openai --classes species.txt --top 5",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("photos", nargs="+", help="image files")
    _model_flags(c, required=True)
    c.add_argument("--classes", required=True, help="text file with one class name per line")
    c.add_argument("--templates", default="mineral",
                   help="prompt ensemble of resources/prompts.json (default: mineral)")
    c.add_argument("--top", type=int, default=5, help="how many classes to list (default: 5)")
    c.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    c.add_argument("--json", action="store_true", help="print one JSON object per photo")
    c.set_defaults(func=run_classify)

    n = groups.add_parser(
        "names", help="how the release's species names are normalised, and which still look odd",
        description="List raw English names that normalisation merges or fixes (resources/class_names.csv) and "
                    "names that still look odd, so that misspellings can be added to that file.")
    n.add_argument("--data-root", required=True, help="dataset root (holds minerals_full.csv)")
    n.set_defaults(func=run_names)


def run_grid(args: argparse.Namespace) -> int:
    import dataclasses

    import minerals.pipeline.session
    from minerals.zeroshot import section as zeroshot
    from minerals.models.clip import ClipError
    from minerals.data import ImageError, LayoutError

    try:
        s = minerals.pipeline.session.open_session("cli:zeroshot", args.profile, args.data_root, args.device, args.seed,
                                          args.results)
        cfg = zeroshot.ZeroShotConfig.from_section(s.profile.section("zeroshot"))
    except (ProfileError, minerals.pipeline.session.SessionError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    if args.model:
        cfg = dataclasses.replace(cfg, models=(zeroshot.ModelSpec(args.model, args.pretrained, args.checkpoint),))
    if args.subsets:
        subsets = tuple(x if x == "full" else int(x) for x in args.subsets)
        cfg = dataclasses.replace(cfg, subsets=subsets)
    try:
        tables = zeroshot.run(s, cfg)
    except (ClipError, LayoutError, ImageError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    for name, df in tables.items():
        if name != "examples":
            s.save_table(name, df)
    print(tables["zeroshot"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"tables written to {s.root / 'tables'}")
    return 0


def run_classify(args: argparse.Namespace) -> int:
    from minerals.data import ImageError, load_image
    from minerals.identify.classifiers import zeroshot_classifier
    from minerals.models.clip import ClipError, load_clip
    from minerals.zeroshot import prompts
    from minerals.zeroshot.scoring import read_classes

    try:
        classes = read_classes(args.classes)
        bundle = load_clip(args.model, args.pretrained or None, args.checkpoint or None, args.device)
        classifier = zeroshot_classifier(bundle, classes, args.templates)
    except (ClipError, prompts.PromptError) as exc:
        raise CommandError(str(exc)) from exc
    for photo in args.photos:
        try:
            prob = classifier.probabilities([load_image(photo)])[0]
        except ImageError as exc:
            print(json.dumps({"photo": photo, "error": str(exc)}) if args.json else f"{photo}: error: {exc}")
            continue
        order = prob.argsort()[::-1][:min(args.top, len(classes))]
        ranked = [{"class": classes[i], "prob": round(float(prob[i]), 4)} for i in order]
        if args.json:
            print(json.dumps({"photo": photo, "model": bundle.name, "pretrained": bundle.tag, "top": ranked},
                             ensure_ascii=False))
        else:
            print(f"{photo}: " + ", ".join(f"{r['class']} {r['prob']:.3f}" for r in ranked))
    if bundle.random_weights:
        print("note: random weights, so these rankings mean nothing")
    return 0


def run_names(args: argparse.Namespace) -> int:
    from minerals.zeroshot import prompts
    from minerals.data import LayoutError, open_release

    try:
        release = open_release(args.data_root)
    except LayoutError as exc:
        raise CommandError(str(exc)) from exc
    raw = sorted(release.full["en_name"].astype(str).unique())
    names, _ = prompts.normalise_classes(raw)
    changed = [(r, prompts.normalise_name(r)) for r in raw if prompts.normalise_name(r) != r]
    print(f"{len(raw)} raw English names -> {len(names)} species after normalisation")
    for r, n in changed:
        print(f"  {r!r} -> {n!r}")
    odd = prompts.odd_names(raw)
    print(f"{len(odd)} names still look odd" + (":" if odd else ""))
    for r in odd:
        print(f"  {r!r}")
    return 0
