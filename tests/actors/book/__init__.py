"""tests.actors.book."""
