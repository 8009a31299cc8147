"""The wire: message schema, codec, clock, config, ZeroMQ bus and venue gateways."""
