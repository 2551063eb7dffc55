"""GEMM backends, one module per backend.

Every module here that exports ``KERNELS = [SomeKernel, ...]`` is found by the
registry with no other edit. Keep module import cheap: import the backend's library
inside ``probe``/``setup``/``prepare``, never at the top of the file.
"""
