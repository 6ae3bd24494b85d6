"""`minerals evaluate classification|size|segmentation`: score a predictions file on the official split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from minerals.cli import CommandError, add_command, add_run_flags

DESCRIPTION = """\
Score predictions with the same metric code as the paper's sections, on the official split
(`minerals data split`). Prints a table (or --json), writes a result record (metrics, the split's
sha256, the data fingerprint, the file's sha256, per-photo outcomes) and refuses a bad file with one
line naming the problem and the first offending ids. A record with --method/--link/--description in
submissions/ enters the leaderboard page of the book."""

EXAMPLES = """\
examples:
  minerals data split --subset 10 --split test --out test10.csv   # the photos to predict
  minerals evaluate classification preds.csv --subset 10 --split test
  minerals evaluate classification preds.csv --task zeroshot --subset full --json
  minerals evaluate size sizes.csv --method 'My ruler' --link https://... --description '...'
  minerals evaluate segmentation masks/"""


FORMATS = {
    "classification": "CSV id,rank_1,...,rank_k: species names best first (normalised like the sections: case, "
                      "spacing, known misspellings), or class indices with --labels (classes sorted by English name, "
                      "as in `minerals data split`)",
    "size": "CSV id,size_cm: the specimen's largest extent in cm; an empty cell = the method abstains",
    "segmentation": "a folder with one mask PNG per photo named <id>.png (the photo's stem), white = mineral, at "
                    "the photo's size or at the scoring size (longer side = the profile's [segmentation] max_side)",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "evaluate",
                    "score a predictions file on the benchmark's official split (any method, any framework)",
                    DESCRIPTION, EXAMPLES)
    tasks = p.add_subparsers(dest="evaluate_task", required=True)
    for task, fmt in FORMATS.items():
        t = tasks.add_parser(task, help=fmt.split(":")[0], description=f"Predictions: {fmt}.")
        t.add_argument("predictions", type=Path, metavar="DIR" if task == "segmentation" else "FILE")
        if task == "classification":
            t.add_argument("--subset", default=None, metavar="N", help="class count of the subset, or 'full'")
            t.add_argument("--split", choices=("train", "val", "test", "all"), default="test",
                           help="split of the subset (default: test)")
            t.add_argument("--task", dest="protocol", choices=("fewshot", "zeroshot"), default="fewshot",
                           help="fewshot: the subset's classes as the few-shot section; zeroshot: the zero-shot "
                                "section's normalised class list, also on --subset full (default: fewshot)")
            t.add_argument("--labels", action="store_true", help="cells are class indices, not species names")
            t.add_argument("--ks", default="1,3,5,10", help="top-k to score (default: 1,3,5,10)")
        add_run_flags(t)
        t.add_argument("--json", action="store_true", help="print the record as one JSON object")
        t.add_argument("--out", type=Path, default=None, metavar="FILE",
                       help="result record (default: <results>/<profile>/evaluations/<task>/<file>.json)")
        t.add_argument("--method", default="", help="method name for the leaderboard")
        t.add_argument("--link", default="", help="link to the paper or code")
        t.add_argument("--description", default="", help="one line about the method")
        t.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from minerals.benchmark import SubmissionError, evaluate
    from minerals.benchmark.section import evaluate_options
    from minerals.data import LayoutError
    from minerals.pipeline.session import SessionError, open_session
    from minerals.profiles import ProfileError
    from minerals.results import write_json

    task = args.evaluate_task
    try:
        session = open_session(f"cli:evaluate-{task}", args.profile, args.data_root, "cpu", args.seed, args.results)
        profile = session.profile
        if task == "classification":
            task = "zeroshot" if args.protocol == "zeroshot" else "classification"
        kwargs = evaluate_options(profile, task)
        if task in ("classification", "zeroshot"):
            kwargs.update(subset=args.subset, split=args.split, labels=args.labels, ks=_ks(args.ks))
        method = {"name": args.method or args.predictions.stem, "link": args.link, "description": args.description}
        record = evaluate(task, args.predictions, session.release, seed=args.seed, method=method, **kwargs)
    except (ProfileError, SessionError, LayoutError, SubmissionError) as exc:
        raise CommandError(str(exc)) from exc
    record["profile"] = profile.name
    out = args.out or session.root / "evaluations" / task / f"{args.predictions.stem}.json"
    write_json(out, record)
    if args.json:
        print(json.dumps(record, ensure_ascii=False, default=_plain))
    else:
        print(format_record(record))
        print(f"record: {out}")
    return 0


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(k) for k in text.split(",") if k.strip())
    except ValueError as exc:
        raise CommandError(f"--ks {text!r}: write positive integers separated by commas, e.g. 1,5") from exc
    if not ks or min(ks) < 1:
        raise CommandError(f"--ks {text!r}: write positive integers separated by commas, e.g. 1,5")
    return ks


def _plain(value):
    return float(value) if hasattr(value, "__float__") else str(value)


def format_record(record: dict) -> str:
    """A short table: each headline metric with its 95 % interval."""
    m = record["metrics"]
    lines = [f"{record['task']} · {record['method'].get('name', '')} · {record['n']} photos · split sha256 "
             f"{record['split_sha256'][:16]} · data {record['data_fingerprint']}"]
    for name, value in m.items():
        if isinstance(value, (dict, list)) or name.endswith(("_low", "_high")) or name in ("n", "n_classes"):
            continue
        low = m.get(f"{name}_ci_low", m.get(f"{name}_low"))
        high = m.get(f"{name}_ci_high", m.get(f"{name}_high"))
        ci = f"  [{low:.4f}, {high:.4f}]" if low is not None and high is not None else ""
        lines.append(f"  {name:<14} {value:.4f}{ci}")
    return "\n".join(lines)
