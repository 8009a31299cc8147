"""The shell of a LegExecutor: owns the venue's order-entry DEALER and measures each hop.

The DEALER's identity is the account id, as the venue gateway protocol requires. Hops recorded
(ns): ``recv_to_signal`` (tick received → decision), ``signal_to_send``, ``tick_to_order`` (tick
received → order frame handed to the socket), ``send_to_ack`` and ``send_to_fill``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import zmq

from actors.base import Core, Out, Shell, SocketSpec
from transports.clock import Clock
from transports.codec import Codec, encode
from transports.errors import CodecError
from transports.latency import LatencyRecorder
from transports.messages import BadFrame, LegOrder
from transports.venue_msgs import Ack, Fill, NewOrder, OeReply

_oe_codec: Codec[Any] = Codec(OeReply)


class LegShell(Shell):
    """Feeds a LegExecutor core from its oe socket and stamps latency."""

    def __init__(self, core: Core, oe_address: str, account: str, clock: Clock,
                 latency: LatencyRecorder) -> None:
        super().__init__(core)
        self.oe_address = oe_address
        self.account = account
        self.clock = clock
        self.latency = latency
        self._origin: dict[str, tuple[int, int]] = {}
        self._sent_ns: dict[str, int] = {}
        self.bad_frames = 0

    def socket_specs(self) -> Iterable[SocketSpec]:
        return (SocketSpec("oe", zmq.DEALER, self.oe_address, identity=self.account.encode()),)

    def handle(self, msg: Any, now_ns: int) -> Out:
        if isinstance(msg, LegOrder):
            self._origin[f"{msg.combo_id}.{msg.leg}.{msg.attempt}"] = (msg.ts_recv_ns,
                                                                     msg.ts_signal_ns)
        return self.core.handle(msg, now_ns)

    def decode(self, key: str, frames: list[bytes], now_ns: int) -> Any:
        try:
            msg = _oe_codec.decode(frames[-1])
        except CodecError as exc:
            self.bad_frames += 1
            return BadFrame(key, str(exc))
        if isinstance(msg, Ack | Fill):
            sent = self._sent_ns.get(msg.cl)
            if sent is not None:
                hop = "send_to_ack" if isinstance(msg, Ack) else "send_to_fill"
                self.latency.record(hop, now_ns - sent)
        return msg

    def send(self, key: str, msg: Any) -> None:
        self.sockets[key].send(encode(msg))
        if isinstance(msg, NewOrder):
            now = self.clock.now_ns()
            self._sent_ns[msg.cl] = now
            # cl = epoch.combo.leg.attempt; the origin is keyed without the epoch
            origin = self._origin.pop(msg.cl.split(".", 1)[-1], None)
            if origin is not None and origin[0]:
                self.latency.record("tick_to_order", now - origin[0])
                self.latency.record("recv_to_signal", origin[1] - origin[0])
                self.latency.record("signal_to_send", now - origin[1])
