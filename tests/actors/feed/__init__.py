"""tests.actors.feed."""
