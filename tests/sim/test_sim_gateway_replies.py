"""The simulator gateway never loses a reply silently (real ZeroMQ over ipc in tmp_path).

A client that stops reading while its orders are served must find every reply when it reads
again; a reply that cannot be delivered (the peer is gone) is counted in the truth.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq

from transports.clock import LiveClock
from transports.config.engine import AppConfig, load_config, with_overrides
from transports.venues.sim.gateway import address, serve
from transports.wire.codec import MAX_FRAME_BYTES
from transports.wire.venue_msgs import NewOrder, Snapshot, SnapshotReq

CFG = load_config(None)
ENC = msgspec.msgpack.Encoder()
CLOCK = LiveClock()
#: orders sent before the client reads: 2 replies each, far past libzmq's default high-water
#: marks (1,000 at each end) and what the small receive buffer below can hold
N_ORDERS = 2_000


class _Sim:
    """A gateway serving ``cfg`` in a thread, and sockets to it."""

    def __init__(self, cfg: AppConfig, sock_dir: str) -> None:
        self.cfg, self.sock_dir = cfg, sock_dir
        self.ctx = zmq.Context()
        self.stop, self.bound = threading.Event(), threading.Event()
        self.socks: list[zmq.Socket] = []
        self.ref: zmq.Socket | None = None
        self.thread = threading.Thread(target=self._run, name="sim-gateway", daemon=True)

    def _run(self) -> None:
        serve(self.cfg, self.sock_dir, self.ctx, clock=CLOCK, stop=self.stop,
              duration_s=60.0, ready=self.bound.set)

    def connect(self, kind: int, which: str, **opts: Any) -> zmq.Socket:
        v = next(v for v in self.cfg.venues if v.name == "shfe")
        s = self.ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        for k, val in opts.items():
            s.setsockopt(getattr(zmq, k), val)
        s.connect(address(getattr(v, which), self.sock_dir))
        self.socks.append(s)
        return s

    def ask(self, req: Any) -> Any:
        """One ref request, answered within 5 s."""
        if self.ref is None:
            self.ref = self.connect(zmq.DEALER, "ref")
        ref = self.ref
        ref.send(ENC.encode(req))
        assert ref.poll(5000, zmq.POLLIN), f"no answer to {req!r}"
        return msgspec.msgpack.decode(ref.recv())

    def counts_until(self, done: Any, what: str, timeout_s: float = 20.0) -> dict[str, int]:
        """The truth's counts once ``done(counts)`` holds (fail after ``timeout_s``)."""
        end = CLOCK.mono_ns() + int(timeout_s * 1e9)
        while True:
            counts = self.ask({"t": "sim.truth"})["truth"]["counts"]
            if done(counts):
                return counts
            assert CLOCK.mono_ns() < end, f"{what}: {counts}"
            self.bound.wait(0.02)  # an Event never set again here: a bounded pause


@pytest.fixture
def sim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_Sim]:
    s = _Sim(getattr(request, "param", CFG), str(tmp_path / "s"))
    s.thread.start()
    assert s.bound.wait(10)
    try:
        yield s
    finally:
        s.stop.set()
        s.thread.join(10)
        for sock in s.socks:
            sock.close(linger=0)
        s.ctx.term()
    assert not s.thread.is_alive()


def test_a_slow_reader_gets_every_reply(sim: _Sim) -> None:
    snap = msgspec.convert(sim.ask(SnapshotReq(sym="au2606")), Snapshot)
    away = snap.b[0][0] - 500  # a buy far below the bid: ack, then done (IOC, no fill)
    # a reader that takes one message at a time into a tiny kernel buffer
    oe = sim.connect(zmq.DEALER, "oe", IDENTITY=b"slow-acct", RCVHWM=1, RCVBUF=4096)
    for i in range(N_ORDERS):
        oe.send(ENC.encode(NewOrder(f"s{i}", "au2606", "B", away, 1, "IOC", CLOCK.now_ns())))
    # every order served (so every reply handed to the socket) before one is read
    sim.counts_until(lambda c: c["orders"] == N_ORDERS, "orders not all served")
    got: dict[str, list[str]] = {}
    while sum(len(v) for v in got.values()) < 2 * N_ORDERS:
        assert oe.poll(5000, zmq.POLLIN), f"replies lost: {sum(map(len, got.values()))} of " \
                                          f"{2 * N_ORDERS} came"
        m = msgspec.msgpack.decode(oe.recv())
        got.setdefault(m["cl"], []).append(m["t"])
    assert got == {f"s{i}": ["ack", "done"] for i in range(N_ORDERS)}
    counts = sim.ask({"t": "sim.truth"})["truth"]["counts"]
    assert counts.get("oe_replies_queue_full", 0) == 0
    assert counts.get("oe_replies_unroutable", 0) == 0


#: a venue slow enough that the client is gone before its replies leave
SLOW_VENUE = with_overrides(CFG, sim=msgspec.structs.replace(CFG.sim, venues=[
    msgspec.structs.replace(v, latency_us=300_000) if v.name == "shfe" else v
    for v in CFG.sim.venues]))


@pytest.mark.parametrize("sim", [SLOW_VENUE], indirect=True)
def test_a_reply_to_a_peer_that_left_is_counted(sim: _Sim) -> None:
    snap = msgspec.convert(sim.ask(SnapshotReq(sym="au2606")), Snapshot)
    oe = sim.connect(zmq.DEALER, "oe", IDENTITY=b"gone-acct")
    oe.send(ENC.encode(NewOrder("g1", "au2606", "B", snap.b[0][0] - 500, 1, "IOC",
                                CLOCK.now_ns())))
    oe.close(linger=-1)  # the order leaves, then the client goes away before any reply
    counts = sim.counts_until(lambda c: c.get("oe_replies_unroutable", 0) == 2,
                              "the lost ack and done are not counted")
    assert counts["orders"] == 1 and counts.get("oe_replies_queue_full", 0) == 0


def test_a_frame_past_the_limit_never_reaches_the_gateway(sim: _Sim) -> None:
    # libzmq drops the sender of an oversized frame before reading it whole (MAXMSGSIZE, set
    # before bind); before, the gateway read it whole and counted it malformed
    big = sim.connect(zmq.DEALER, "oe", IDENTITY=b"big-acct")
    big.send(b"\x81\xa1t" + b"x" * MAX_FRAME_BYTES)
    sim.ask(SnapshotReq(sym="au2606"))  # the gateway has served the ref socket since
    counts = sim.ask({"t": "sim.truth"})["truth"]["counts"]
    assert counts.get("malformed", 0) == 0 and counts.get("orders", 0) == 0
    # the gateway still serves order entry
    oe = sim.connect(zmq.DEALER, "oe", IDENTITY=b"small-acct")
    oe.send(ENC.encode({"t": "ping", "ts": 7}))
    assert oe.poll(5000, zmq.POLLIN), "no pong"
    assert msgspec.msgpack.decode(oe.recv())["echo"] == 7
