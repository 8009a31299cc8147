"""tests.transports."""
