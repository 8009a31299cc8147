"""tests.sim."""
