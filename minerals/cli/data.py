"""`minerals data download|verify|synth|split|info`: get, check, generate, split and describe a release."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from minerals.cli import CommandError, add_command

DESCRIPTION = """\
Work with the MineralImage5k release: `download` fetches the original files from their public Yandex
Disk folder (resumable, checksummed, safely extracted), `verify` decodes every photo and compares
the subset counts with the paper, `synth` writes the synthetic museum-photo release in the same
layout, `info` says what open_release found. The Kaggle mirror (sergeynesteruk/minerals) is an
alternative root: pass its folder as --root."""

EXAMPLES = """\
examples:
  minerals data download --root ~/data/mineralimage5k
  minerals data verify --root ~/data/mineralimage5k --json > verify.json
  minerals data synth --root /tmp/synth --classes 12 --per-class 40
  minerals data info --root /tmp/synth"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "data", "download, verify, generate or describe the MineralImage5k release",
                    DESCRIPTION, EXAMPLES)
    cmds = p.add_subparsers(dest="data_command", required=True)

    d = cmds.add_parser("download", help="fetch the original release from Yandex Disk",
                        description="Download the release's files from the public Yandex Disk folder through the "
                                    "public-resources API, resuming interrupted files, verifying sha256 checksums "
                                    "(recorded in download_manifest.json) and extracting the archives safely. "
                                    "Rerun the same command to resume or re-verify.")
    d.add_argument("--root", type=Path, default=None, metavar="DIR",
                   help="where to put the release (default: $MINERALS_CACHE/mineralimage5k)")
    d.add_argument("--no-extract", action="store_true", help="keep the archives packed")
    d.add_argument("--retries", type=int, default=5, help="attempts per file after a cut connection (default: 5)")
    d.add_argument("--public-key", default=None, help="public folder link (default: the paper's)")
    d.add_argument("--api", default=None, help="API base URL (default: https://cloud-api.yandex.net/v1/disk)")
    d.set_defaults(func=run_download)

    v = cmds.add_parser("verify", help="decode every photo and compare the counts with the paper",
                        description="Decode every photo and mask of a release in parallel, count each subset, "
                                    "report the schema (files, column aliases, path bases) and compare with the "
                                    "paper's subset table. Exits 1 when any problem is found (missing or corrupt "
                                    "files, duplicate ids, paths leaving the folder, ...).")
    v.add_argument("--root", type=Path, required=True, metavar="DIR", help="the release folder")
    v.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    v.add_argument("--workers", type=int, default=None, help="decoding processes (default: all CPUs)")
    v.set_defaults(func=run_verify)

    s = cmds.add_parser("synth", help="write the synthetic museum-photo release",
                        description="Generate a miniature release in the real layout (photos, CSVs, size and "
                                    "segmentation subsets, truth columns). Same seed, same bytes.")
    s.add_argument("--root", type=Path, required=True, metavar="DIR", help="output folder")
    s.add_argument("--classes", type=int, default=12, help="number of species (default: 12)")
    s.add_argument("--per-class", type=int, default=40, help="photos per species (default: 40)")
    s.add_argument("--image-size", type=int, default=512, help="longest side in px (default: 512)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    s.add_argument("--workers", type=int, default=1, help="processes drawing photos (default: 1; same bytes)")
    s.set_defaults(func=run_synth)

    sp = cmds.add_parser("split", help="write the official photos of a task and split as a CSV (the benchmark)",
                         description="Write the photos a benchmark submission must predict: for classification the "
                                     "seeded train/val/test split of a subset (the same manifests every section "
                                     "uses) or 'full' (every photo, the zero-shot set) as id,path,en_name,label; for "
                                     "size id,path,en_name; for segmentation id,path (masks are named by the id). "
                                     "Paths are relative to the release folder. Prints the file's sha256, which "
                                     "every `minerals evaluate` record carries as split_sha256.",
                         epilog="examples:\n  minerals data split --subset 10 --split test --out test10.csv\n"
                                "  minerals data split --profile paper --data-root ~/data/mi5k --subset full --out "
                                "full.csv\n  minerals data split --task size --out size.csv",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    from minerals.cli import add_run_flags

    add_run_flags(sp)
    sp.add_argument("--task", choices=("classification", "size", "segmentation"), default="classification",
                    help="which subset (default: classification)")
    sp.add_argument("--subset", default=None, metavar="N",
                    help="classification: class count of the subset (10, 30, ...) or 'full'")
    sp.add_argument("--split", choices=("train", "val", "test", "all"), default="test",
                    help="classification split (default: test)")
    sp.add_argument("--out", type=Path, required=True, metavar="FILE", help="CSV to write")
    sp.set_defaults(func=run_split)

    i = cmds.add_parser("info", help="what open_release finds in a folder (no decoding)",
                        description="Open a release and print which files, column aliases and path bases were used, "
                                    "the subset counts and any problems, without decoding photos.")
    i.add_argument("--root", type=Path, required=True, metavar="DIR", help="the release folder")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.set_defaults(func=run_info)


def run_download(args: argparse.Namespace) -> int:
    from minerals.data import download
    from minerals.cache import cache_dir

    root = args.root or cache_dir() / "mineralimage5k"
    try:
        manifest = download.download_release(root, args.public_key or download.PUBLIC_KEY,
                                             args.api or download.API_BASE, not args.no_extract, args.retries)
    except download.DownloadError as exc:
        raise CommandError(str(exc)) from exc
    print(f"{len(manifest['files'])} files verified in {root}; next: minerals data verify --root {root}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from minerals.data import LayoutError
    from minerals.data.verify import verify

    try:
        report = verify(args.root, workers=args.workers)
    except LayoutError as exc:
        raise CommandError(str(exc)) from exc
    if args.json:
        print(json.dumps(report, ensure_ascii=False, allow_nan=False))
    else:
        print(_format_verify(report))
    return 1 if report["problems"] else 0


def _format_verify(report: dict) -> str:
    kind = "synthetic" if report["synthetic"] else "release"
    lines = [f"{kind} {report['root']}: {report['images']} photos, {report['classes']} species, "
             f"at least {report['min_per_class']} per species"]
    for n, sub in report["subsets"].items():
        splits = ", ".join(f"{k} {v}" for k, v in sub["splits"].items())
        lines.append(f"  minerals_{n}.csv: {sub['classes']} classes, {sub['images']} photos, min {sub['min_per_class']}"
                     f" per class ({splits})")
    lines.append(f"  size: {report['size']} photos; segmentation: {report['segmentation']} pairs")
    schema = report["schema"]
    lines.append("schema: " + "; ".join(f"{f} {cols}" for f, cols in schema["columns"].items()))
    lines.append("paths relative to: " + "; ".join(f"{f} -> {b}" for f, b in schema["path_base"].items()))
    lines.append("compared with the paper's subset table:")
    for row in report["paper"]:
        paper = "/".join("-" if row[f"paper_{c}"] is None else str(row[f"paper_{c}"])
                         for c in ("classes", "images", "min_per_class"))
        found = "/".join("-" if row[f"found_{c}"] is None else str(row[f"found_{c}"])
                         for c in ("classes", "images", "min_per_class"))
        verdict = {True: "match", False: "differs", None: "nothing to compare" if found.strip("-/") else "absent"}[
            row["match"]]
        lines.append(f"  {row['subset']:>12}: paper {paper:>16}  found {found:>16}  {verdict}")
    decode = report["decode"]
    lines.append(f"decoded {decode['photos']} photos in {decode['seconds']} s ({decode['per_second']}/s, "
                 f"{decode['workers']} workers)")
    problems = report["problems"]
    lines.append(f"{len(problems)} problems" + (":" if problems else ""))
    lines += [f"  {p}" for p in problems[:50]]
    if len(problems) > 50:
        lines.append(f"  ... and {len(problems) - 50} more (see --json)")
    return "\n".join(lines)


def run_synth(args: argparse.Namespace) -> int:
    from minerals.data import synth

    try:
        root = synth.generate(args.root, classes=args.classes, per_class=args.per_class, image_size=args.image_size,
                              seed=args.seed, workers=args.workers)
    except (ValueError, FileExistsError) as exc:
        raise CommandError(str(exc)) from exc
    print(f"synthetic release written to {root}; next: minerals data verify --root {root}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from minerals.data import LayoutError, open_release
    from minerals.data.verify import subset_counts

    try:
        release = open_release(args.root)
        counts = subset_counts(release)
    except LayoutError as exc:
        raise CommandError(str(exc)) from exc
    if args.json:
        print(json.dumps({"report": release.report, "counts": counts}, ensure_ascii=False, default=str))
        return 0
    print(repr(release))
    for key in ("files", "columns", "path_base", "splits"):
        print(f"{key}: {json.dumps(release.report.get(key, {}), ensure_ascii=False)}")
    print(f"counts: {json.dumps(counts)}")
    for line in release.report["notes"] + release.problems:
        print(f"  {line}")
    return 0


def run_split(args: argparse.Namespace) -> int:
    from minerals.benchmark import splits
    from minerals.data import LayoutError
    from minerals.pipeline.session import SessionError, open_session
    from minerals.profiles import ProfileError

    if args.task == "classification" and not args.subset:
        raise CommandError("--task classification needs --subset N (a class count, or 'full')")
    try:
        session = open_session("cli:data-split", args.profile, args.data_root, "cpu", args.seed, args.results)
        max_images = int(session.profile.section("segmentation").get("max_images", 0))
        frame = splits.split_frame(session.release, args.task, args.subset, args.split, args.seed, max_images)
    except (ProfileError, SessionError, LayoutError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    digest = splits.write_split(frame, args.out)
    print(f"{args.out}: {len(frame)} photos, sha256 {digest}")
    return 0
