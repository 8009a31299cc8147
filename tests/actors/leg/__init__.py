"""tests.actors.leg."""
