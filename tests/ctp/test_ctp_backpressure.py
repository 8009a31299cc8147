"""An engine that stops reading its order entry for a while loses no reply from the CTP gateway:
the gateway's oe ROUTER queues them (``transports.venues.gateway_sockets``), where ZeroMQ's
default queue of 1,000 frames dropped the rest without a trace. Real sockets over ipc, the
gateway on its loop thread with recording CTP APIs."""

from __future__ import annotations

from pathlib import Path

from tests.ctp.ctp_world import World
from transports.wire.venue_msgs import Ping, Pong

#: more replies than the old default queue (1,000), the engine's receive queue (10) and the
#: kernel's socket buffer (~200 kB: a few thousand small frames) could hold together
N_PINGS = 20_000


def test_replies_wait_for_an_engine_that_stopped_reading_none_is_dropped(
        tmp_path: Path) -> None:
    w = World(tmp_path, oe_rcvhwm=10)
    try:
        for i in range(N_PINGS):  # the engine sends and reads nothing meanwhile
            w.send(Ping(ts=1_000 + i))
        echoes = [m.echo for m in (w.recv() for _ in range(N_PINGS)) if isinstance(m, Pong)]
        assert echoes == list(range(1_000, 1_000 + N_PINGS))  # all, in order
        assert not w.gw.io.unsent
    finally:
        w.close()
