"""Workloads: the GEMMs of real models and of public GEMM sets, as data and the code that derives them."""
