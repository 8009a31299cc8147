"""transports.wire."""
