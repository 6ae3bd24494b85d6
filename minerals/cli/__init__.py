"""The `minerals` command. Each command group lives in its own module with `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from minerals import __version__

# Command-group modules under minerals.cli, in --help order.
GROUPS = ("reproduce", "check", "data", "evaluate", "fewshot", "zeroshot", "size", "segment", "identify")


class CommandError(Exception):
    """An error reported to the user as one line, exit status 2 (or `code`)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def add_command(sub: argparse._SubParsersAction, name: str, summary: str, description: str,
                examples: str | None = None) -> argparse.ArgumentParser:
    """The parser of command `name`: `summary` in the command list, `description` and `examples` (both
    preformatted text, line breaks kept) in its --help."""
    return sub.add_parser(name, help=summary, description=description, epilog=examples,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """The flags of every command that runs a profile: --profile, --data-root, --device, --seed, --results."""
    from minerals.profiles import available_profiles

    p.add_argument("--profile", default="smoke",
                   help=f"settings: {' or '.join(available_profiles())} (default: smoke)")
    p.add_argument("--data-root", default="",
                   help="dataset root (holds minerals_full.csv); smoke defaults to generated synthetic data")
    p.add_argument("--device", default="", help="cpu, cuda or cuda:N (default: the profile's device)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--results", default="results", help="results folder (default: ./results)")


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


def _pin_profile(name: str | None) -> None:
    """Apply the profile's CPU kernel class before the command loads torch (`minerals.runtime`)."""
    from minerals.profiles import ProfileError, load_profile
    from minerals.runtime import RuntimeSetupError, pin_cpu

    if not name:
        return
    try:
        pin_cpu(load_profile(name).settings)
    except ProfileError:
        return  # the command itself reports an unknown profile, with the known names
    except RuntimeSetupError as exc:
        raise CommandError(f"profile {name!r}: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        _pin_profile(getattr(args, "profile", None))
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
