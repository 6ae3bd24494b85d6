"""`minerals size`: a specimen's size in cm from the reference cube in its photo (zero-shot)."""

from __future__ import annotations

import dataclasses
import json
import sys

from minerals.cli import CommandError, add_command

DESCRIPTION = """\
Estimate each specimen's longest extent in cm from the reference cube in its photo. Writes one CSV
row per photo: path,size_cm,cm_per_px,cube_side_px,confidence,status,cube_kind,cube_trusted (status
is `ok` or why the estimator abstained; size_cm is then empty; cube_kind: grey_1cm or printed_bar, taken
as 1.27 cm, or engraved, the black cube engraved "1 CM", taken as 1 cm: an open question, see
minerals.size.kinds; cube_trusted: the cube passed the estimator's checks, so cm_per_px holds even when
the specimen could not be sized, e.g. cut by the frame). `--method improved` (default) reads the scale
from the cube's printed 1 cm bar, its 10 mm ruler or its front face (and its text, when these are
ambiguous) and segments the specimen; `--method baseline` is the upstream method, which needs the release's mineral_boxes (use
--root). `--root DIR --evaluate` scores both methods (or --method) against the release's
minerals_size.csv. The confidence (0-1) ranks the estimates; by default photos below 0.056 abstain
(the lowest threshold with no tune photo off by more than 50 % and no real tune photo's cube wrong, see the size page);
`--min-confidence 0` accepts every photo the estimator can measure."""


def register(subparsers) -> None:
    p = add_command(subparsers, "size", "zero-shot specimen size from the reference cube", DESCRIPTION)
    p.add_argument("inputs", nargs="*", metavar="IMAGE_OR_DIR", help="photos, or folders searched for photos")
    p.add_argument("--root", help="a release folder: measure the photos of its minerals_size.csv")
    p.add_argument("--evaluate", action="store_true", help="with --root: score against minerals_size.csv")
    p.add_argument("--method", choices=("baseline", "improved"),
                   help="estimator (default: improved; with --evaluate: both)")
    p.add_argument("--out", help="write the predictions CSV here (default: print it)")
    p.add_argument("--overlays", metavar="DIR", help="write one PNG per photo: cube, specimen outline, extent")
    p.add_argument("--paper-faithful", action="store_true", help="baseline: truncate sizes to whole cm as upstream")
    p.add_argument("--text-detector", choices=("card", "craft"), default="card",
                   help="baseline label-card boxes: fast card detector (default) or CRAFT via easyocr (slow)")
    p.add_argument("--no-ocr", action="store_true",
                   help="improved: never read the cube's text (cheap cues only; easyocr not needed)")
    p.add_argument("--min-confidence", type=float, metavar="C",
                   help="improved: abstain below this confidence, 0-1 (default: minerals.size.result.MIN_CONFIDENCE)")
    p.add_argument("--limit", type=int, default=0, help="with --root: only the first N photos")
    p.add_argument("--json", action="store_true", help="with --evaluate: print the metrics as one JSON list")
    p.set_defaults(func=run)


def run(args) -> int:
    from minerals.size.result import SizeConfig

    if args.inputs and args.root:
        raise CommandError("give photos or --root DIR, not both")
    if not args.inputs and not args.root:
        raise CommandError("nothing to measure: give photos or folders, or --root DIR (see minerals size --help)")
    if args.evaluate and not args.root:
        raise CommandError("--evaluate needs --root DIR (a release with minerals_size.csv)")
    if args.paper_faithful and args.method != "baseline":
        raise CommandError("--paper-faithful changes the baseline only; add --method baseline")
    if args.limit < 0:
        raise CommandError(f"--limit must be >= 0, got {args.limit}")
    if args.min_confidence is not None and not 0.0 <= args.min_confidence <= 1.0:
        raise CommandError(f"--min-confidence must be within 0-1, got {args.min_confidence}")
    cfg = SizeConfig(paper_faithful=args.paper_faithful, text_detector=args.text_detector, limit=args.limit,
                     ocr=not args.no_ocr)
    if args.min_confidence is not None:
        cfg = dataclasses.replace(cfg, min_confidence=args.min_confidence)
    if args.root:
        return _run_release(args, cfg)
    return _run_files(args, cfg)


def _run_files(args, cfg) -> int:
    from minerals.cli.batch import photo_paths
    from minerals.size.predict import predict

    preds = predict(photo_paths(args.inputs), args.method or "improved", cfg, overlays=args.overlays)
    _emit(preds, args.out)
    return 0


def _run_release(args, cfg) -> int:
    import pandas as pd

    from minerals.data import open_release
    from minerals.data.layout import LayoutError
    from minerals.size.evaluate import evaluate_release, summarise

    try:
        table = open_release(args.root).size_table()
    except (LayoutError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    methods = [args.method] if args.method else (["baseline", "improved"] if args.evaluate else ["improved"])
    preds = []
    for method in methods:
        overlays = f"{args.overlays}/{method}" if args.overlays and len(methods) > 1 else args.overlays
        preds.append(evaluate_release(table, method, dataclasses.replace(cfg, paper_faithful=cfg.paper_faithful
                                                                         and method == "baseline"), overlays))
    if args.out or not args.evaluate:
        _emit(pd.concat(preds, ignore_index=True) if args.evaluate else preds[0].drop(columns=["method", "true_cm"]),
              args.out)
    if args.evaluate:
        rows = [summarise(p) for p in preds]
        if args.json:
            print(json.dumps(rows, default=float))
        else:
            print(pd.DataFrame(rows)[["method", "n", "coverage", "mae_cm", "rmse_cm", "r2", "mape", "bias_cm"]]
                  .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def _emit(df, out) -> None:
    from minerals.size.predict import write_predictions

    if out:
        write_predictions(df, out)
        print(f"wrote {len(df)} rows to {out}", file=sys.stderr)
    else:
        df.to_csv(sys.stdout, index=False)
