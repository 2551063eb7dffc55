"""``gemmbench list``: every backend found, available or not and why, and what could not be loaded."""

from __future__ import annotations

import argparse

from ..registry import discover

NAME = "list"
HELP = "show every backend found, available or not and why"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="also show descriptions and origins")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    reg = discover()
    width = max([len(n) for n in reg.names()] + [8])
    for entry in reg.entries.values():
        reason = entry.probe()
        state = "available" if reason is None else f"unavailable: {reason}"
        print(f"{entry.name:<{width}}  {state}")
        if args.verbose:
            print(f"{'':<{width}}  {entry.cls.description} [{entry.origin}]")
    for problem in reg.problems:
        print(f"{'(broken)':<{width}}  {problem.origin}: {problem.error}")
    return 0
