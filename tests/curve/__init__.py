"""tests.curve."""
