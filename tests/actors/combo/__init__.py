"""tests.actors.combo."""
