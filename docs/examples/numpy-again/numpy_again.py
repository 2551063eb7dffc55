"""NumPy's backend under a second name: identical code, so ``gemmbench compare`` must never call it faster or slower.

Install it (``pip install -e docs/examples/numpy-again``) and run the A/A check in the README; uninstall it
afterwards (``pip uninstall gemmbench-numpy-again``) so that default runs do not measure NumPy twice.
"""

from gemmbench.kernels.numpy_gemm import NumpyGemm


class NumpyAgain(NumpyGemm):
    name = "numpy-again"
    description = "np.matmul with out= (NumPy's backend registered twice, for A/A checks)"
