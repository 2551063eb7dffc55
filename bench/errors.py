"""The one error base of gemmbench, and the one-line exception formatter.

Every error a user can cause (a bad option, an unknown backend, a foreign CSV, an
impossible case) is a ``GemmbenchError``. The command line catches exactly this base,
once, in ``cli.main``: one line on stderr naming the problem and the valid choices,
exit code 2. Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

import traceback

__all__ = ["GemmbenchError", "UsageError", "one_line"]


class GemmbenchError(Exception):
    """Base of every error gemmbench reports to a user as one line (exit code 2)."""


class UsageError(GemmbenchError, ValueError):
    """Bad input from the user that no more specific error describes."""


def one_line(exc: BaseException, limit: int = 400) -> str:
    """``Type: message`` of an exception on one line (error rows, broken-module reports)."""
    line = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return line.replace("\n", " ")[:limit]
