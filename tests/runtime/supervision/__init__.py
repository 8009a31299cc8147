"""tests.runtime.supervision."""
