"""The one error hierarchy of cross_market_connect."""

from __future__ import annotations


class CmcError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(CmcError):
    """A configuration value is missing, malformed or out of range; the message names the field."""


class CodecError(CmcError):
    """A frame could not be decoded: too large, not MessagePack, or a field is wrong."""


class VenueError(CmcError):
    """A venue gateway answered with an error or broke the protocol."""


class IllegalTransition(CmcError):
    """An order or combo state change that the transition table forbids."""


class RiskDenied(CmcError):
    """A pre-trade check refused an order; ``reason`` is the code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class DemoFailed(CmcError):
    """A demo or bench run did not meet its own checks; the message is the one-line reason."""


class AdminError(CmcError):
    """An admin command was refused; the message is the reason sent back to the client."""


class OpError(CmcError):
    """An operation on a node (control socket, ``Cluster``) failed; the message is the reason."""
