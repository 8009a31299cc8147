"""tests.scripts.replay."""
