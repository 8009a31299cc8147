"""transports.config.engine."""
