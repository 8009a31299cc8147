"""The engine's own market-data path against the CTP gateway: its feed and book actors, built as
a node builds them, their sockets opened as a host opens them, and their messages routed by the
engine's ``Dispatcher`` (a host's loop, by hand), follow the gateway's snapshot and deltas. A
test of the gateway alone, with a SUB subscribed by hand, once passed while no engine could
receive a CTP delta (they went out on ``<sym>``, the engine subscribes to ``md.<sym>``)."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import zmq
from openctp_ctp import thostmduserapi as mdapi

from actors.runtime.dispatch import Dispatcher, Sink
from actors.runtime.host.host_inbox import Directory
from actors.runtime.host.host_sockets import HostSockets
from actors.runtime.host.waiter import SocketWaiter
from actors.runtime.node import build_shells
from tests.ctp.ctp_world import WAIT_S, World, _mono_s
from transports.clock import LiveClock
from transports.latency import LatencyRecorder
from transports.wire.messages import BookUpdate


class _Engine(Sink):
    """The feed and book actors of venue ``shfe``; what they send to a venue socket goes out on
    it, what they send to other actors (the strategy, risk) is kept in ``out``."""

    def __init__(self, w: World) -> None:
        self.clock = LiveClock()
        names = {"feed.shfe", "book.shfe:au2612", "book.shfe:m2701"}
        self.shells = build_shells(w.cfg, w.sock_dir, self.clock, LatencyRecorder(), None, names)
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.dispatch = Dispatcher(dict(self.shells), self, journaling=False, fire=False)
        self.io = HostSockets("hot", Directory("engine", {}, {}, {}), self.ctx,
                              collections.Counter(), self.dispatch, SocketWaiter(),
                              commit=None)  # type: ignore[arg-type]
        for shell in self.shells.values():
            for spec in shell.socket_specs():
                self.io.open(shell, spec)
        self.out: list[tuple[str, Any]] = []
        now = self.clock.now_ns()
        for name, shell in self.shells.items():
            self.dispatch.start(name, shell.core, now)

    def send(self, actor: str, key: str, msg: Any) -> None:
        self.shells[actor].send(key, msg)

    def forward(self, dest: str, msg: Any) -> None:
        self.out.append((dest, msg))

    def pump_until(self, done: Any, what: str) -> None:
        """Read and route every frame the sockets bring until ``done()`` (fail at the
        deadline)."""
        poller = zmq.Poller()
        for sock in self.io.owner:
            poller.register(sock, zmq.POLLIN)
        end = _mono_s() + WAIT_S
        while not done():
            left = end - _mono_s()
            assert left > 0, f"{what}; the engine's actors got {self.out[-5:]}"
            for sock, _ in poller.poll(int(left * 1000)):
                shell, key = self.io.owner[sock]
                while sock.poll(0):
                    frames = sock.recv_multipart()
                    now = self.clock.now_ns()
                    self.dispatch.route("@" + key, [(shell.name, shell.decode(key, frames, now))],
                                        now)

    def books(self, sym: str) -> list[BookUpdate]:
        return [m for _, m in self.out if isinstance(m, BookUpdate) and m.sym == sym]

    def close(self) -> None:
        for sock in self.io.all_sockets():
            sock.close(linger=0)
        self.ctx.term()


def _depth(bid: float, bid_qty: int, ask: float, ask_qty: int) -> Any:
    f = mdapi.CThostFtdcDepthMarketDataField()
    f.InstrumentID, f.ExchangeID = "au2612", "SHFE"
    f.TradingDay, f.ActionDay, f.UpdateTime, f.UpdateMillisec = "20261207", "20261207", \
        "10:00:00", 0
    f.BidPrice1, f.BidVolume1, f.AskPrice1, f.AskVolume1 = bid, bid_qty, ask, ask_qty
    return f


def test_the_engines_feed_and_book_follow_the_ctp_gateways_market_data(tmp_path: Path) -> None:
    w = World(tmp_path)
    eng = None
    try:
        w.login()
        w.md_login()
        w.gw.md_spi.OnRtnDepthMarketData(_depth(600.0, 4, 600.04, 2))  # before the engine
        eng = _Engine(w)
        # the feed asks for snapshots at its start; the book publishes the gateway's book
        eng.pump_until(lambda: any(u.valid and u.bid_px[:1] == [30_000]
                                   for u in eng.books("au2612")),
                       "the snapshot never became the engine's book")
        # then a delta, on the topic the engine subscribes to
        w.gw.md_spi.OnRtnDepthMarketData(_depth(600.02, 7, 600.04, 2))
        eng.pump_until(lambda: any(u.valid and u.bid_px[:1] == [30_001] and u.bid_qty[:1] == [7]
                                   for u in eng.books("au2612")),
                       "the delta never reached the engine's book")
        last = eng.books("au2612")[-1]
        top = (last.bid_px[0], last.bid_qty[0], last.ask_px[0], last.ask_qty[0])
        assert top == (30_001, 7, 30_002, 2)
        feed = eng.shells["feed.shfe"].core
        # the deltas continue the snapshot's seq: no gap, no resync (on the old topic the book
        # limped along on snapshots, each delta found as a gap by the next heartbeat)
        assert (feed.gaps, feed.resyncs) == (0, 0)
    finally:
        if eng is not None:
            eng.close()
        w.close()
