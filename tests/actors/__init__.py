"""tests.actors."""
