"""The ``gemmbench`` command line: subcommands from ``commands.COMMANDS``, errors caught once.

Every error a user can cause is a ``GemmbenchError``; ``main`` catches that base alone and
prints one line naming the problem and the valid choices, exit code 2. Ctrl-C keeps the
rows already written (they are flushed row by row) and exits 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import __version__
from .commands import COMMANDS, load
from .errors import GemmbenchError

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand of ``COMMANDS`` registered."""
    parser = _Parser(prog="gemmbench", description="GEMM microbenchmarks: honest timing, CSV results, rooflines.")
    parser.add_argument("--version", action="version", version=f"gemmbench {__version__}")
    modules = [load(name) for name in COMMANDS]
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(m.NAME for m in modules) + "}")
    for module in modules:
        module.add_arguments(sub.add_parser(module.NAME, help=module.HELP))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns its exit code (2 for a usage error)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except GemmbenchError as exc:
        print(f"gemmbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gemmbench: interrupted; finished rows are kept (continue with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
