"""tests.actors.strategy."""
