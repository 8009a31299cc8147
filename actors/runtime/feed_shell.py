"""The feed's shell: the md SUB, ref DEALER and ping DEALER sockets of one venue.

``FeedCore`` (``actors.feed``) decides; this shell owns the sockets (opened by the host in its
own thread), turns gateway frames into the venue messages the core handles (a frame that does
not decode becomes a ``BadFrame``) and sends what the core addresses to ``@ref`` / ``@oe``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import zmq

from actors.feed import FeedCore
from actors.runtime.shell import Shell, SocketSpec
from transports.errors import CodecError
from transports.latency import LatencyRecorder
from transports.wire.codec import Codec, encode
from transports.wire.messages import BadFrame
from transports.wire.venue_msgs import Delta, MdMessage, OeReply, RefReply

_md_codec: Codec[Any] = Codec(MdMessage)
_ref_codec: Codec[Any] = Codec(RefReply)
_oe_codec: Codec[Any] = Codec(OeReply)


class FeedShell(Shell):
    """Owns the md SUB and ref DEALER sockets of one venue (CURVE clients of its gateway after
    ``use_curve(venue.curve_server_key, venue.curve_client_secret)``)."""

    core: FeedCore

    def __init__(self, core: FeedCore, md_address: str, ref_address: str,
                 latency: LatencyRecorder | None = None, oe_address: str = "",
                 account: str = "") -> None:
        super().__init__(core)
        self.md_address = md_address
        self.ref_address = ref_address
        self.oe_address = oe_address
        self.account = account
        self.latency = latency

    def socket_specs(self) -> Iterable[SocketSpec]:
        topics = (*(f"md.{s}".encode() for s in self.core.syms), b"hb")
        # every one a CURVE client of the gateway when the venue has keys (``use_curve``)
        specs = [self.venue_socket("md", zmq.SUB, self.md_address, subscribe=topics),
                 self.venue_socket("ref", zmq.DEALER, self.ref_address)]
        if self.oe_address:
            # its own oe connection (identity distinct from the LegExecutor's) for pings only
            specs.append(self.venue_socket("oe", zmq.DEALER, self.oe_address,
                                           identity=f"{self.account}.feed".encode()))
        return specs

    def decode(self, key: str, frames: list[bytes], now_ns: int) -> Any:
        codec = _md_codec if key == "md" else _ref_codec if key == "ref" else _oe_codec
        try:
            msg = codec.decode(frames[-1])
        except CodecError as exc:
            return BadFrame(key, str(exc))
        if self.latency is not None and type(msg) is Delta:
            # venue stamp to our receive: the wire hop plus any queueing in front of us
            self.latency.record("md_wire", now_ns - msg.ts)
        return msg

    def send(self, key: str, msg: Any) -> None:
        self.sockets[key].send(encode(msg), zmq.NOBLOCK)


__all__ = ["FeedShell"]
