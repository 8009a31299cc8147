"""An engine that stops reading its order entry for a while (a frozen node, a long pause) loses
no reply from the IB gateway: the gateway's oe ROUTER queues them
(``transports.venues.gateway_sockets``), where ZeroMQ's default queue of 1,000 frames dropped
the rest without a trace. Real sockets over ipc, the gateway on its fake TWS."""

from __future__ import annotations

from tests.ib.world import run, world
from transports.wire.venue_msgs import Ping, Pong

#: more replies than the old default queue (1,000), the engine's receive queue (10) and the
#: kernel's socket buffer (~200 kB: a few thousand small frames) could hold together
N_PINGS = 20_000


def test_replies_wait_for_an_engine_that_stopped_reading_none_is_dropped() -> None:
    async def scenario() -> None:
        async with world(oe_rcvhwm=10) as w:
            for i in range(N_PINGS):  # the engine sends and reads nothing meanwhile
                await w.send(Ping(ts=1_000 + i))
            echoes = []
            while len(echoes) < N_PINGS:  # each within ``WAIT_S`` (``oe_until``)
                got = await w.oe_until(lambda m: isinstance(m, Pong))
                echoes += [m.echo for m in got if isinstance(m, Pong)]
            assert echoes == list(range(1_000, 1_000 + N_PINGS))  # all, in order
            assert not w.gw.io.unsent

    run(scenario())
