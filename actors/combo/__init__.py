"""actors.combo."""
