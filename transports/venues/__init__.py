"""Venue gateways: each speaks the venue protocol (docs/venue-protocol.md) to the engine."""
