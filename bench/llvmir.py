"""Small LLVM IR helpers for Numba intrinsics that must keep vector registers under control.

LLVM's auto-vectoriser, as Numba drives it, keeps array accumulators in memory; the FMA
microbenchmark and the Numba GEMM micro-kernel therefore spell their vector code out as
IR (``<W x float>`` values and ``llvm.fma``), from Python through ``numba.extending.intrinsic``.
Only imported by code that already needs Numba (llvmlite ships with it).
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils

__all__ = ["I32", "I64", "fma_function", "splat", "vector_type"]

I32, I64 = ir.IntType(32), ir.IntType(64)


def vector_type(element: ir.Type, bits: int) -> ir.VectorType:
    """The widest vector of ``element`` in ``bits`` (e.g. <8 x float> for 256 bits)."""
    width = 32 if isinstance(element, ir.FloatType) else 64
    return ir.VectorType(element, bits // width)


def splat(builder: ir.IRBuilder, vty: ir.VectorType, scalar: ir.Value) -> ir.Value:
    """Broadcast ``scalar`` to every lane (insertelement + zero-mask shufflevector: one vbroadcast)."""
    undef = ir.Constant(vty, ir.Undefined)
    first = builder.insert_element(undef, scalar, ir.Constant(I32, 0))
    return builder.shuffle_vector(first, undef, ir.Constant(ir.VectorType(I32, vty.count), [0] * vty.count))


def fma_function(module: ir.Module, vty: ir.VectorType) -> ir.Function:
    """Declaration of ``llvm.fma`` for ``vty`` (fused multiply-add, one rounding)."""
    width = 32 if isinstance(vty.element, ir.FloatType) else 64
    return cgutils.get_or_insert_function(module, ir.FunctionType(vty, [vty] * 3), f"llvm.fma.v{vty.count}f{width}")
