"""Venue protocol version 2 at the Feed: ``mark`` frames are accepted, kept and forwarded as
``MarkUpdate``; the gateway's ``instruments`` reply becomes a ``VenueInfo`` for the venue's
LegExecutor (its protocol version and the instruments' kinds)."""

from __future__ import annotations

from typing import Any

import msgspec

from actors.feed import PING_TIMER, FeedCore
from actors.strategy.strategy import StrategyCore
from tests.support.helpers import msgs
from transports.config.engine import load_config
from transports.wire.codec import Codec
from transports.wire.messages import MarkUpdate, Timer, VenueInfo
from transports.wire.venue_msgs import (
    Instrument,
    Instruments,
    InstrumentsReq,
    Mark,
    MdMessage,
    SnapshotReq,
)

MD: Codec[Any] = Codec(MdMessage)
NS_8H = 8 * 3600 * 10**9


def _feed(info_to: list[str] | None = None) -> FeedCore:
    return FeedCore("feed.bn", "bn", ["BTCUSDT", "ETHUSDT"],
                    {"BTCUSDT": "book.bn:BTCUSDT", "ETHUSDT": "book.bn:ETHUSDT"},
                    ["strategy.p", "leg.bn"], ["risk"], info_to=info_to,
                    mark_to={"BTCUSDT": ["strategy.p"]})


def test_a_mark_frame_decodes_and_is_kept_and_forwarded_to_the_pairs_strategy() -> None:
    # the md decoder takes it (version 1 engines called it an invalid frame), numbers lenient
    frame = msgspec.msgpack.encode({"t": "mark", "sym": "BTCUSDT", "ts": 5, "mark_px": 6512345,
                                    "index_px": 6512000, "funding_rate": 0.0001,
                                    "next_funding_ts": NS_8H})
    m = MD.decode(frame)
    assert m == Mark(sym="BTCUSDT", ts=5, mark_px=6512345, index_px=6512000,
                     funding_rate="0.0001", next_funding_ts=NS_8H)
    f = _feed()
    out = f.handle(m, 10)
    assert out == [("strategy.p", MarkUpdate("bn", "BTCUSDT", 6512345, 6512000, 0.0001, NS_8H,
                                             5, 10))]
    assert f.snapshot()["marks"] == {"BTCUSDT": {
        "mark_px": 6512345, "index_px": 6512000, "funding_rate": "0.0001",
        "next_funding_ts": NS_8H, "ts": 5}}
    # a symbol nobody's pair uses is kept, not forwarded; an unknown symbol is ignored
    assert f.handle(Mark(sym="ETHUSDT", ts=6, mark_px=300000), 11) == []
    assert set(f.snapshot()["marks"]) == {"BTCUSDT", "ETHUSDT"}
    assert f.handle(Mark(sym="XRPUSDT", ts=6, mark_px=1), 12) == []
    # a funding rate that is not a finite decimal is counted and dropped
    for bad in ("abc", "nan", "inf"):
        assert f.handle(Mark(sym="BTCUSDT", ts=7, mark_px=1, funding_rate=bad), 13) == []
    assert f.snapshot()["bad_marks"] == 3 and f.snapshot()["marks"]["BTCUSDT"]["ts"] == 5


def test_the_strategy_takes_a_mark_without_raising() -> None:
    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = cfg.pairs[0]
    s = StrategyCore("strategy.au-gc", p, c[p.leg_a], c[p.leg_b], c[p.fx], "combo", 1)
    assert s.handle(MarkUpdate("comex", "GCZ6", 26500, 26499, 0.0001, NS_8H, 1, 2), 3) == []


def test_a_feed_with_a_leg_asks_the_instruments_and_tells_the_leg_the_version() -> None:
    f = _feed(info_to=["leg.bn"])
    out = f.on_start(0)
    assert msgs(out, InstrumentsReq) == [InstrumentsReq()]
    assert [type(m) for d, m in out if d == "@ref"] == [InstrumentsReq, SnapshotReq, SnapshotReq]
    # no answer yet: asked again on the ping timer once the retry interval passed
    assert msgs(f.handle(Timer(PING_TIMER, 500_000_000), 500_000_000), InstrumentsReq) == []
    assert msgs(f.handle(Timer(PING_TIMER, 1_000_000_000), 1_000_000_000),
                InstrumentsReq) == [InstrumentsReq()]
    reply = Instruments(list=[Instrument(sym="BTCUSDT", tick="0.01", lot="0.001", ccy="USDT",
                                         unit="BTC", kind="perp"),
                              Instrument(sym="ETHUSDT", tick="0.01", lot="0.01", ccy="USDT",
                                         unit="ETH"),
                              Instrument(sym="OTHER", tick="1", lot="1", ccy="USDT", unit="X",
                                         kind="spot")], v=2)
    out = f.handle(reply, 1_100_000_000)
    assert out == [("leg.bn", VenueInfo("bn", 2, {"BTCUSDT": "perp"}, 1_100_000_000))]
    assert f.snapshot()["protocol"] == 2 and f.snapshot()["kinds"] == {"BTCUSDT": "perp"}
    assert msgs(f.handle(Timer(PING_TIMER, 9_000_000_000), 9_000_000_000), InstrumentsReq) == []
    # a version 1 reply (no ``v``) says 1
    out = f.handle(Instruments(list=[]), 9_100_000_000)
    assert out == [("leg.bn", VenueInfo("bn", 1, {}, 9_100_000_000))]


def test_a_feed_without_a_leg_asks_nothing_new() -> None:
    f = _feed()
    out = f.on_start(0)
    assert [type(m) for d, m in out if d == "@ref"] == [SnapshotReq, SnapshotReq]
    assert f.snapshot()["protocol"] == 0
