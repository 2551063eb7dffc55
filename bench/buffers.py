"""Host buffers that start on a page boundary.

NumPy's arrays start wherever malloc puts them: for large arrays on Linux that is 16 bytes
past a page, so every 64-byte row segment of a matrix straddles two cache lines and vector
loads split. On this project's VM NumPy/OpenBLAS ran 2 % and the Numba kernel 5 % slower
on 128x4096x4096 float32 with such operands, by an amount that depends on the sizes. So the
harness allocates operands page-aligned, and the CPU backends do the same for outputs and
work buffers: every backend sees the same placement, whatever the allocator does.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["ALIGN", "aligned_copy", "aligned_empty", "aligned_zeros", "is_aligned"]

#: Bytes; a page, so also a cache line and every vector width.
ALIGN = 4096


def aligned_empty(
    shape: int | tuple[int, ...], dtype: np.dtype | str | type, order: Literal["C", "F"] = "C"
) -> np.ndarray:
    """An uninitialised array whose data starts at a multiple of ``ALIGN`` bytes."""
    dt = np.dtype(dtype)
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = int(np.prod(dims, dtype=np.int64)) * dt.itemsize
    raw = np.empty(nbytes + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start : start + nbytes].view(dt).reshape(dims, order=order)


def aligned_zeros(shape: int | tuple[int, ...], dtype: np.dtype | str | type) -> np.ndarray:
    out = aligned_empty(shape, dtype)
    out[...] = 0
    return out


def aligned_copy(x: np.ndarray) -> np.ndarray:
    """Same values and storage order (a transposed view stays a transposed view), aligned."""
    order: Literal["C", "F"] = "F" if x.flags.f_contiguous and not x.flags.c_contiguous else "C"
    out = aligned_empty(x.shape, x.dtype, order)
    out[...] = x
    return out


def is_aligned(x: np.ndarray) -> bool:
    return x.ctypes.data % ALIGN == 0
