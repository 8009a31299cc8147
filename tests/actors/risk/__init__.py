"""tests.actors.risk."""
