"""``gemmbench specs``: the built-in accelerator spec sheet, with sources and confidence."""

from __future__ import annotations

import argparse

from ..specs import SPECS

NAME = "specs"
HELP = "print the built-in accelerator spec sheet with sources"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    for s in SPECS:
        peaks = ", ".join(f"{k} {v:g}" for k, v in s.peaks.items())
        print(f"{s.name:<24} {s.bandwidth_gbs:7.0f} GB/s  {s.memory_gb:4.0f} GB  [{peaks}] TFLOP/s")
        print(
            f"{'':<24} source: {s.source}; confidence {s.confidence}"
            + (f"; derived: {', '.join(s.derived)}" if s.derived else "")
            + (f"; {s.notes}" if s.notes else "")
        )
    return 0
