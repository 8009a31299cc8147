"""tests.bench: the order and soak benchmarks (their plumbing; numbers are not asserted)."""
