"""transports.journal."""
