"""``gemmbench workloads``: the catalogue, and the GEMMs of one step of a model (``workloads show``)."""

from __future__ import annotations

import argparse

from ..errors import UsageError
from ..options import parse_positive
from ..workloads.catalogue import catalogue, find_workload
from ..workloads.model import PHASES, WorkloadGemm, load_model, model_names

NAME = "workloads"
HELP = "list the workload catalogue, or show the GEMMs of one (dense LLMs, DeepBench, sweeps)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", nargs="?", choices=("list", "show"), default="list", help="list (default) or show NAME"
    )
    parser.add_argument(
        "name",
        nargs="?",
        help="a workload: pangu-ultra-135b, deepseek-v3:decode, deepbench-training, alignment, decode:llama3.1-8b",
    )
    parser.add_argument("--phase", choices=PHASES, default="train", help="for a model: train, prefill or decode")
    for flag, default, meta, text in (
        ("--tokens", 4096, "N", "token rows a step processes on one device (decode: sequences decoded)"),
        ("--tp", 1, "T", "tensor-parallel degree (splits N of column- and K of row-parallel layers)"),
        ("--seq", 4096, "S", "sequence length of train/prefill"),
        ("--context", 4096, "C", "cached tokens each decoded token attends to"),
    ):
        parser.add_argument(flag, type=parse_positive(flag), default=default, metavar=meta, help=f"{text} ({default})")
    parser.set_defaults(func=handle)


def _table(gemms: list[WorkloadGemm]) -> list[str]:
    total = sum(g.flops for g in gemms) or 1
    lines = [f"{'role':<34} {'M':>7} {'N':>7} {'K':>7} {'batch':>6} {'count':>6} {'trans':>5} {'FLOPs':>8}"]
    for g in gemms:
        lines.append(
            f"{g.role:<34} {g.m:>7} {g.n:>7} {g.k:>7} {g.batch:>6} {g.count:>6} {g.trans:>5} "
            f"{100 * g.flops / total:>7.1f}%"
        )
    lines.append(f"{len(gemms)} GEMMs, {total / 1e12:.3f} TFLOP per step on one device")
    return lines


def _model_header(name: str, args: argparse.Namespace) -> list[str]:
    model, _, phase = name.partition(":")
    config = load_model(model)
    total, active = config.param_count(), config.param_count(active=True)
    line = f"{config.name}: {total / 1e9:.1f} B parameters"
    if config.published_params:
        line += f" (published {config.published_params / 1e9:.1f} B)"
    if active != total:
        line += f", {active / 1e9:.1f} B active per token"
        if config.published_active_params:
            line += f" (published {config.published_active_params / 1e9:.1f} B)"
    step = f"phase {phase or args.phase}, {args.tokens} tokens, --tp {args.tp}"
    if (phase or args.phase) == "train":
        step += f"; model FLOPs 6ND + attention (PaLM): {config.model_flops(args.tokens, args.seq) / 1e12:.3f} TFLOP"
    return [line, f"source: {config.source}", step]


def handle(args: argparse.Namespace) -> int:
    if args.action == "list":
        for w in catalogue():
            print(f"{w.name:<24} {w.kind:<9} {w.description}  [{w.source}]")
        return 0
    if not args.name:
        raise UsageError("workloads show needs a name; see 'gemmbench workloads'")
    try:
        gemms = find_workload(args.name, args.phase, args.tokens, args.tp, args.seq, args.context)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.name.partition(":")[0] in model_names():
        for line in _model_header(args.name, args):
            print(line)
    for line in _table(gemms):
        print(line)
    return 0
