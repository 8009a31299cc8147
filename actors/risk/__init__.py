"""actors.risk.risk."""
