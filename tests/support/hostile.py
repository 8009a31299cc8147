"""Hostile request messages an engine-facing ROUTER of a gateway must answer with
``Error(code="malformed")`` and survive (docs/venue-protocol.md, "error"): each is the payload
parts a DEALER sends (the ROUTER adds the identity) and a piece of the ``msg`` expected back."""

from __future__ import annotations

import msgspec

from transports.wire.venue_msgs import Error

_PACK = msgspec.msgpack.encode

#: (the parts sent, a piece of the reply's ``msg``)
HOSTILE_REQUESTS: list[tuple[list[bytes], str]] = [
    ([_PACK({"t": "ping", "ts": 1}), b"a second payload"], "got 3 frames"),
    ([_PACK({"t": "ping", "ts": 1}), b"", b""], "got 4 frames"),
    ([b"\xc1 not msgpack"], ""),
    ([_PACK({"t": "no-such-request"})], ""),
    ([_PACK({"t": "new", "cl": 5, "sym": ["x"]})], ""),  # a known tag, wrong field types
    ([_PACK([1, 2, 3])], ""),
]


def is_malformed(reply: object, piece: str) -> bool:
    """``reply`` is the ``malformed`` error a hostile request should get."""
    return isinstance(reply, Error) and reply.code == "malformed" and piece in reply.msg


__all__ = ["HOSTILE_REQUESTS", "is_malformed"]
