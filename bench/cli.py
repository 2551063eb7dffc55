"""The ``gemmbench`` command line: subcommands from ``commands.COMMANDS``, errors caught once.

Every error a user can cause is a ``GemmbenchError``; ``main`` catches that base alone and
prints one line naming the problem and the valid choices, exit code 2. Ctrl-C and SIGTERM keep
the rows already written (they are flushed row by row) and exit 130 and 143; workers die with
this process (see ``worker._command``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
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


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: rows already written are kept."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns its exit code (2 usage error, 130 Ctrl-C, 143 SIGTERM)."""
    args = build_parser().parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()  # signals can only be set there
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return int(args.func(args))
    except GemmbenchError as exc:
        print(f"gemmbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # 'gemmbench ... | head': the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as exc:
        how, code = ("terminated", 143) if isinstance(exc, Terminated) else ("interrupted", 130)
        print(f"gemmbench: {how}; finished rows are kept (continue with --resume)", file=sys.stderr)
        return code
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
