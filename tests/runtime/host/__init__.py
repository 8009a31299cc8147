"""tests.runtime.host."""
