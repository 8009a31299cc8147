"""The feed's shell: the md SUB, ref DEALER and ping DEALER sockets of one venue.

``FeedCore`` (``actors.feed``) decides; this shell owns the sockets (opened by the host in its
own thread), turns gateway frames into the venue messages the core handles (a frame that does
not decode becomes a ``BadFrame``) and sends what the core addresses to ``@ref`` / ``@oe``.

Every market-data frame passes here (the engine's highest-rate input), so the md path is kept
short: the frame goes straight to msgspec's typed decoder, and only a frame that decoder refuses
(too large, malformed, or a variant the protocol allows that needs the lenient pass) takes the
``Codec``'s full path, with the same result and errors as before; a delta's ``md_wire`` sample
(venue stamp to our receive) goes to the hop's bound recorder (``LatencyRecorder.recorder``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import zmq

from actors.feed import FeedCore
from actors.runtime.shells.shell import Shell, SocketSpec
from transports.errors import CodecError
from transports.latency import LatencyRecorder
from transports.wire.codec import MAX_FRAME_BYTES, Codec, encode
from transports.wire.messages import BadFrame
from transports.wire.venue_msgs import Delta, MdMessage, OeReply, RefReply, md_topic

_md_codec: Codec[Any] = Codec(MdMessage)
_ref_codec: Codec[Any] = Codec(RefReply)
_oe_codec: Codec[Any] = Codec(OeReply)
#: the md fast path: the codec's strict typed decode without its wrapper (``FeedShell.decode``)
_md_decode = msgspec.msgpack.Decoder(MdMessage).decode
_MD_MAX_BYTES = min(MAX_FRAME_BYTES, _md_codec.max_frame_bytes)
#: what msgspec's decode raises for a frame the strict pass refuses (``Codec.decode``'s cases)
_REFUSED = (msgspec.ValidationError, msgspec.DecodeError, RecursionError)


def _decode(key: str, codec: Codec[Any], frame: bytes) -> Any:
    """``codec``'s decode of a frame from socket ``key``; a ``BadFrame`` if it does not."""
    try:
        return codec.decode(frame)
    except CodecError as exc:
        return BadFrame(key, str(exc))


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
        #: records one ``md_wire`` sample; bound to the hop at the first delta (the hop exists
        #: from its first sample, as with ``LatencyRecorder.record``); None: not measured
        self._md_wire: Callable[[int], None] | None = (
            self._first_md_wire if latency is not None else None)

    def socket_specs(self) -> Iterable[SocketSpec]:
        topics = (*(md_topic(s).encode() for s in self.core.syms), b"hb")
        # every one a CURVE client of the gateway when the venue has keys (``use_curve``)
        specs = [self.venue_socket("md", zmq.SUB, self.md_address, subscribe=topics),
                 self.venue_socket("ref", zmq.DEALER, self.ref_address)]
        if self.oe_address:
            # its own oe connection (identity distinct from the LegExecutor's) for pings only
            specs.append(self.venue_socket("oe", zmq.DEALER, self.oe_address,
                                           identity=f"{self.account}.feed".encode()))
        return specs

    def decode(self, key: str, frames: list[bytes], now_ns: int) -> Any:
        frame = frames[-1]
        if key == "md" and len(frame) <= _MD_MAX_BYTES:
            try:
                msg = _md_decode(frame)
            except _REFUSED:
                msg = _decode(key, _md_codec, frame)  # the lenient pass, or the error
        else:
            msg = _decode(key, _md_codec if key == "md" else _ref_codec if key == "ref"
                          else _oe_codec, frame)
        if type(msg) is Delta:
            rec = self._md_wire
            if rec is not None:
                # venue stamp to our receive: the wire hop plus any queueing in front of us
                rec(now_ns - msg.ts)
        return msg

    def _first_md_wire(self, ns: int) -> None:
        assert self.latency is not None
        self._md_wire = rec = self.latency.recorder("md_wire")
        rec(ns)

    def send(self, key: str, msg: Any) -> None:
        self.sockets[key].send(encode(msg), zmq.NOBLOCK)


__all__ = ["FeedShell"]
