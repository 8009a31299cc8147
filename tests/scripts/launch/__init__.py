"""tests.scripts.launch."""
