"""tests.kernels."""
