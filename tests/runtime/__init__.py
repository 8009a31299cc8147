"""tests.runtime."""
