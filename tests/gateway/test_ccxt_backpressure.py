"""An engine that stops reading its order entry for a while loses no reply from the ccxt
gateway: the gateway's oe ROUTER queues them (``transports.venues.gateway_sockets``), where
ZeroMQ's default queue of 1,000 frames dropped the rest without a trace. The gateway on its
fake exchange (a process), a second engine DEALER over real ipc (its own identity, so the
module's engine keeps its route)."""

from __future__ import annotations

from typing import Any

import zmq

from tests.gateway.conftest import World
from transports.venues.sim.sockets import address
from transports.wire.codec import Codec, encode
from transports.wire.venue_msgs import OeReply, Ping, Pong

#: more replies than the old default queue (1,000), the engine's receive queue (10) and the
#: kernel's socket buffer (~200 kB: a few thousand small frames) could hold together
N_PINGS = 20_000
OE: Codec[Any] = Codec(OeReply)


def test_replies_wait_for_an_engine_that_stopped_reading_none_is_dropped(
        binance_spot: World) -> None:
    w = binance_spot
    v = next(x for x in w.cfg.venues if x.name == "binance")
    oe = w.ctx.socket(zmq.DEALER)
    oe.setsockopt(zmq.IDENTITY, b"stalled-engine")
    oe.setsockopt(zmq.RCVHWM, 10)
    oe.setsockopt(zmq.LINGER, 0)
    oe.connect(address(v.oe, str(w.d)))
    try:
        for i in range(N_PINGS):  # the engine sends and reads nothing meanwhile
            oe.send(encode(Ping(ts=1_000 + i)))
        echoes = []
        for _ in range(N_PINGS):
            assert oe.poll(5_000), f"reply {len(echoes)} never came"
            m = OE.decode(oe.recv())
            assert isinstance(m, Pong), m
            echoes.append(m.echo)
        assert echoes == list(range(1_000, 1_000 + N_PINGS))  # all, in order
        gw = w.gw.gw
        assert gw is not None and not gw.io.unsent
    finally:
        oe.close(0)
