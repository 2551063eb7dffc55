"""The subcommands of ``gemmbench``, one module each.

Each module defines ``NAME`` (the subcommand), ``HELP`` (one line) and
``add_arguments(parser)``, which declares its options and sets ``func`` to the handler.
``COMMANDS`` is the one list the command line is built from: adding a subcommand is a
module here and its name in this list (docs/architecture.md, "Adding a subcommand").
Modules are imported only when the parser is built, and each imports its heavy parts
inside its handler, so ``import gemmbench.commands.plot`` never loads the measuring code.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["COMMANDS", "load"]

#: Module names, in the order ``gemmbench --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "list_backends",
    "run",
    "machine",
    "plot",
    "compare",
    "timeit_check",
    "specs",
    "workloads",
    "project",
    "report",
)


def load(module: str) -> ModuleType:
    """The command module ``module`` (one of ``COMMANDS``)."""
    return importlib.import_module(f"{__name__}.{module}")
