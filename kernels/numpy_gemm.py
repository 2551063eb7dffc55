"""NumPy backend: ``np.matmul`` into a preallocated output, i.e. the BLAS NumPy links.

float32/float64 go to BLAS sgemm/dgemm (transposed storage is passed to BLAS as a
transpose flag, not copied). float16 and bfloat16 have no BLAS path in NumPy: they run
NumPy's generic loops and are measured as what NumPy offers, not as a BLAS figure.
"""

from __future__ import annotations

import numpy as np

from gemmbench.backend import GemmCase, Kernel, Operands, Prepared, aligned_empty, blas_info


class NumpyGemm(Kernel):
    name = "numpy"
    dtypes = ("float32", "float64", "float16", "bfloat16")
    description = "np.matmul with out= (BLAS for float32/float64; batched cases as one 3-D call)"
    batched = True

    @classmethod
    def probe(cls) -> str | None:
        return None  # NumPy is the core dependency

    def supports(self, case: GemmCase) -> str | None:
        if case.dtype == "bfloat16":
            from importlib.util import find_spec

            if find_spec("ml_dtypes") is None:
                return "bfloat16 needs ml_dtypes (pip install 'gemmbench[lowp]')"
        return super().supports(case)

    def prepare(self, case: GemmCase, operands: Operands) -> Prepared:
        a, b = operands.a, operands.b
        c = aligned_empty(case.c_shape, a.dtype)  # batched: one 3-D matmul call
        matmul = np.matmul

        def launch() -> None:
            matmul(a, b, out=c)

        path = "blas" if case.dtype in ("float32", "float64") else "numpy loops"
        return Prepared(launch, c, {"path": path})

    def describe(self) -> dict[str, str]:
        blas = [p for p in blas_info() if p["user_api"] == "blas"]
        facts = {"numpy": np.__version__}
        for pool in blas[:1]:
            facts.update(
                {
                    "blas": pool["internal_api"],
                    "blas_version": pool["version"],
                    "blas_kernel": pool["architecture"],
                    "blas_threading": pool["threading_layer"],
                }
            )
        return facts


KERNELS = [NumpyGemm]
