import json

import pytest

from gemmbench.kernels.numpy_gemm import NumpyGemm
from gemmbench.testing import ConformanceError, PlantedWrong, check_kernel


def test_numpy_backend_passes_conformance():
    rows = check_kernel(NumpyGemm)
    statuses = {r.status for r in rows}
    assert statuses <= {"ok", "skipped"} and "ok" in statuses
    assert {r.trans for r in rows} == {"NN", "NT", "TN", "TT"}


def test_records_blas_library_kernel_and_threads():
    facts = NumpyGemm().describe()
    assert facts["numpy"]
    assert facts["blas"] in ("openblas", "mkl", "blis", "accelerate", "flexiblas")
    assert facts["blas_kernel"]
    row = check_kernel(NumpyGemm, [__import__("gemmbench").GemmCase(8, 8, 8)], threads=1)[0]
    assert json.loads(row.facts)["blas_threads"] == "1"


def test_conformance_helper_catches_a_wrong_backend():
    with pytest.raises(ConformanceError, match=r"PlantedWrong failed \d+ case\(s\)"):
        check_kernel(PlantedWrong)
