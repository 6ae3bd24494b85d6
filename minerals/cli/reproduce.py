"""`minerals reproduce` (execute the notebooks of a profile) and `minerals book` (build the book)."""

from __future__ import annotations

import argparse

from minerals.cli import CommandError, add_command, add_run_flags
from minerals.profiles import ProfileError

DESCRIPTION = """\
Convert each notebook of notebooks/ with jupytext and execute it with papermill, injecting the
profile, data root, device, seed and results folder. Tables go to RESULTS/<profile>/tables/<id>.csv,
figures to RESULTS/<profile>/figures/<id>.png, one run record per notebook to
RESULTS/<profile>/runs/; executed notebooks to build/notebooks/. Finished computations are reused,
so an interrupted run resumes."""

EXAMPLES = """\
examples:
  minerals reproduce --profile smoke
  minerals reproduce --profile paper --data-root ~/data/mineralimage5k --device cuda
  minerals reproduce --profile smoke --only few_shot size"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "reproduce", "execute the section notebooks of a profile (tables, figures, run records)",
                    DESCRIPTION, EXAMPLES)
    add_run_flags(p)
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help="run only these notebooks: ids (02_few_shot), names (few_shot) or numbers (2)")
    p.add_argument("--no-progress", action="store_true", help="hide the per-cell progress bars")
    p.set_defaults(func=run_reproduce)

    b = sub.add_parser(
        "book", help="build the Jupyter Book from the executed notebooks",
        description="Stage the book (pages, executed notebooks of the profile, the generated reproduction "
                    "report) and build it with Jupyter Book 1 into _build/html, warnings as errors; checks "
                    "that every page's HTML exists. Run `minerals reproduce` first.")
    b.add_argument("--profile", default="smoke", help="whose executed notebooks to render (default: smoke)")
    b.add_argument("--results", default="results", help="results folder (default: ./results)")
    b.set_defaults(func=run_book)


def run_reproduce(args: argparse.Namespace) -> int:
    from minerals.pipeline.reproduce import ReproduceError, format_timings, reproduce
    from minerals.pipeline.session import SessionError

    try:
        runs = reproduce(args.profile, only=args.only, data_root=args.data_root, device=args.device,
                         seed=args.seed, results_dir=args.results, progress=not args.no_progress)
    except (ProfileError, ReproduceError, SessionError) as exc:
        raise CommandError(str(exc), code=1) from exc
    print(format_timings(runs))
    return 0


def run_book(args: argparse.Namespace) -> int:
    from minerals.pipeline.book import BookError, build

    try:
        html = build(args.profile, args.results)
    except BookError as exc:
        raise CommandError(str(exc), code=1) from exc
    print(f"book built: {html / 'index.html'}")
    return 0
