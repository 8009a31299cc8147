"""The raw path of ``cmc bench orders``: this process as a bare venue-protocol client.

One DEALER per venue (identity ``bench-raw-<venue>``) speaks ZeroMQ/MessagePack to the
simulator gateway directly: ``new`` -> ``ack`` -> ``done``, on the open-loop schedule, replies
waited for with ``select`` on the sockets' descriptors (µs timeouts, no spin). Separate from the
engine path (``engine``) and the orchestration (``bench``): it is what the gateway and one
ipc round trip cost with no engine in between, the reference the engine path is compared with.
"""

from __future__ import annotations

import select
from typing import Any

import msgspec
import numpy as np
import zmq

from scripts.bench.orders.driver import LEGS, order_fields
from scripts.bench.orders.stats import DRAIN_S, schedule_ns, summarize
from transports.clock import LiveClock
from transports.config.engine import AppConfig
from transports.venues.sim.gateway import address
from transports.wire.venue_msgs import Ack, Done, NewOrder, OeReply, Reject


def run_raw(cfg: AppConfig, ctx: zmq.Context[Any], sock: str, rate: float, seconds: float,
            tag: str, touch: dict[str, tuple[int, int]], clock: LiveClock) -> dict[str, Any]:
    """Send ``rate`` x ``seconds`` IOC orders on the schedule from a bare DEALER per venue;
    return the run's row (``stats.summarize``)."""
    socks: dict[str, zmq.Socket[bytes]] = {}
    try:
        for venue, _ in LEGS:
            v = next(x for x in cfg.venues if x.name == venue)
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.IDENTITY, f"bench-raw-{venue}".encode())
            s.connect(address(v.oe, sock))
            socks[venue] = s
        return _raw_loop(socks, rate, seconds, tag, touch, clock)
    finally:
        for s in socks.values():
            s.close(linger=0)


def _raw_loop(socks: dict[str, zmq.Socket[bytes]], rate: float, seconds: float, tag: str,
              touch: dict[str, tuple[int, int]], clock: LiveClock) -> dict[str, Any]:
    enc = msgspec.msgpack.Encoder()
    dec = msgspec.msgpack.Decoder(OeReply)
    n = max(2, int(rate * seconds))
    sched = schedule_ns(clock.now_ns() + 50_000_000, rate, n)
    sent, ack, done = (np.full(n, -1, np.int64) for _ in range(3))
    failed = resolved = 0
    prefix = f"{tag}."
    end_ns = int(sched[-1]) + int(DRAIN_S * 1e9)
    i = 0
    all_socks = list(socks.values())
    fds = [s.getsockopt(zmq.FD) for s in all_socks]
    while resolved < n and clock.now_ns() < end_ns:
        now = clock.now_ns()
        while i < n and sched[i] <= now:
            venue, sym, side, px = order_fields(i, touch)
            socks[venue].send(enc.encode(NewOrder(cl=f"{prefix}{i}", sym=sym, side=side, px=px,
                                                  qty=1, tif="IOC", ts=now)))
            sent[i] = clock.now_ns()
            i += 1
        got = False
        for s in all_socks:
            # the descriptor is edge-triggered: read until EVENTS says nothing is left
            while s.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                payload = s.recv(zmq.NOBLOCK)
                rx = clock.now_ns()
                got = True
                m = dec.decode(payload)
                cl = getattr(m, "cl", "")
                if not cl.startswith(prefix):
                    continue
                k = int(cl[len(prefix):])
                if isinstance(m, Ack) and ack[k] < 0:
                    ack[k] = rx
                elif isinstance(m, Done) and done[k] < 0:
                    done[k] = rx
                    resolved += 1
                elif isinstance(m, Reject):
                    failed += 1
                    resolved += 1
        if got:
            continue
        wait_ns = (int(sched[i]) if i < n else end_ns) - clock.now_ns()
        if wait_ns > 0:
            # select() takes a timeval (µs); epoll and zmq_poll round up to whole ms
            select.select(fds, [], [], min(wait_ns, 50_000_000) / 1e9)
    return summarize(rate, sched, sent, ack, done, failed)


__all__ = ["run_raw"]
