"""The engine's own market-data path against the CTP gateway: its feed and book actors, built as
a node builds them, their sockets opened as a host opens them, and their messages routed by the
engine's ``Dispatcher`` (a host's loop, by hand), follow the gateway's snapshot and deltas. A
test of the gateway alone, with a SUB subscribed by hand, once passed while no engine could
receive a CTP delta (they went out on ``<sym>``, the engine subscribes to ``md.<sym>``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openctp_ctp import thostmduserapi as mdapi

from tests.ctp.ctp_world import World
from tests.support.engine_md import EngineFeed


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
        eng = EngineFeed(w.cfg, w.sock_dir, "shfe")
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
