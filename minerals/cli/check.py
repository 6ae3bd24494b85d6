"""`minerals check`: compare the regenerated tables with the smoke reference or the paper's ledger."""

from __future__ import annotations

import argparse
import json

from minerals.cli import CommandError, add_command

DESCRIPTION = """\
Compare RESULTS/<profile>/tables/*.csv number by number.
  smoke: against the committed smoke tables (minerals/resources/smoke_reference/):
         exact when this machine's CPU kernel class (recorded in every run) is the
         reference's, else each number within the 95 % band of its own sampling noise
         (rules in smoke_reference/tolerances.toml); timing columns are ignored
  paper: against the paper's published numbers (minerals/resources/ledger.csv),
         within sampling noise
Prints the mode and why, every failed or missing claim (expected, ours, delta, allowed
band, n photos), then the verdict; exits 1 when any claim fails or is missing."""

EXAMPLES = """\
examples:
  minerals check --profile smoke
  minerals check --profile paper --json
  minerals check --profile smoke --update-reference   # after an intended change"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "check", "compare the regenerated tables with the smoke reference or the paper's numbers",
                    DESCRIPTION, EXAMPLES)
    p.add_argument("--profile", default="smoke", choices=("smoke", "paper"),
                   help="smoke: against the committed smoke tables; paper: against the ledger (default: smoke)")
    p.add_argument("--results", default="results", metavar="DIR",
                   help="results folder that holds <profile>/tables/ (default: ./results)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--mode", default="auto", choices=("auto", "exact", "statistical"),
                   help="smoke only: auto (exact on the reference's kernel class, else statistical), or force "
                        "one (default: auto)")
    p.add_argument("--all", action="store_true", help="list every claim, not only the failed and missing ones")
    p.add_argument("--update-reference", action="store_true",
                   help="smoke only: copy the regenerated tables into minerals/resources/smoke_reference/ "
                        "(timing columns dropped), then check")
    p.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from minerals import check

    try:
        if args.update_reference:
            if args.profile != "smoke":
                raise CommandError("--update-reference applies to the smoke profile only; the paper's numbers "
                                   "live in minerals/resources/ledger.csv")
            outcome = check.update_reference(args.results)
            if not args.json:
                for table_id, what in outcome.items():
                    print(f"reference {table_id}: {what}")
        claims = check.compare(args.profile, args.results, mode=args.mode)
    except check.CheckError as exc:
        raise CommandError(str(exc)) from exc
    if not claims:
        raise CommandError(f"nothing to check for the {args.profile} profile: no reference tables and no tables "
                           "declared in minerals/resources/notebooks.toml", code=1)
    if args.json:
        print(json.dumps(check.to_json(claims, args.profile, args.results), indent=2, allow_nan=False))
    else:
        source = check.REFERENCE_NAME if args.profile == "smoke" else "minerals/resources/ledger.csv"
        print(f"{check.tables_dir(args.profile, args.results).resolve()} against {source}")
        print(check.mode_sentence(claims))
        if args.all or not check.passed(claims):
            print(check.format_lines(claims, everything=args.all))
        print(check.summary_line(claims))
    return 0 if check.passed(claims) else 1
