"""Embedded configuration files (``demo.toml`` is the built-in default)."""
