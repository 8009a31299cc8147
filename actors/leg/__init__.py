"""actors.leg."""
