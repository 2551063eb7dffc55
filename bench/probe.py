"""Probing optional accelerator stacks in a child process, with a timeout.

Importing some stacks in the tool's own process is unsafe: ``import torch_npu`` can call
``sys.exit`` or abort when the CANN runtime is missing, raise on a CUDA build of torch,
or hang on a wedged driver. The probe code runs in a fresh interpreter instead and
prints one JSON object; anything else (a crash, a timeout, garbage) becomes a reason.
"""

from __future__ import annotations

import functools
import json
import subprocess

from .hostfacts import python_argv

__all__ = ["ProbeResult", "probe_stack", "run_probe"]

ProbeResult = dict


@functools.cache
def run_probe(code: str, timeout_s: float = 30.0) -> ProbeResult:
    """Run ``code`` (which prints one JSON object) in a child interpreter; never raises.

    Returns that object, or ``{"ok": False, "reason": ...}`` when the child failed.
    """
    try:
        out = subprocess.run(python_argv(code), capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"ok": False, "reason": f"probe timed out after {timeout_s:g} s (driver or runtime hung)"}
    except OSError as exc:
        return {"ok": False, "reason": f"probe could not start: {exc}"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if lines:
        try:
            return json.loads(lines[-1])
        except json.JSONDecodeError:
            pass
    last = (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1]
    return {"ok": False, "reason": f"probe failed: {last[:300]}"}


def probe_stack(module: str, missing: str, code: str, timeout_s: float = 30.0) -> str | None:
    """``None`` if ``module`` is installed and ``code`` reports ok in a child, else the one-line reason.

    ``missing`` is the reason when the module is not installed (checked without importing it).
    """
    from importlib.util import find_spec

    if find_spec(module) is None:
        return missing
    result = run_probe(code, timeout_s)
    return None if result.get("ok") else str(result.get("reason"))
