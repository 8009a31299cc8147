"""actors.strategy.strategy."""
