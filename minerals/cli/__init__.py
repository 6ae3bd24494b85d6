"""The `minerals` command. Each command group lives in its own module with `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from minerals import __version__

# Command-group modules under minerals.cli, in --help order.
GROUPS = ("reproduce", "check", "data", "fewshot", "zeroshot", "size", "segment", "identify")


class CommandError(Exception):
    """An error reported to the user as one line, exit status 2 (or `code`)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minerals",
        description="MineralImage5k companion: regenerate the paper's tables (reproduce, check), work with "
                    "the dataset (data), and run each method on your own photos.",
    )
    parser.add_argument("--version", action="version", version=f"minerals {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in GROUPS:
        try:
            module = importlib.import_module(f"minerals.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"minerals.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"minerals {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `minerals ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
