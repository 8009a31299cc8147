"""Market data through the real gateway and ccxt.pro against the Binance and OKX fakes: the
deltas applied to the snapshot reproduce the fake's book, a dropped diff is resynced without a
gap the engine sees, a stall keeps heartbeats with the same seqs, new subscribers hear the
status, and an exchange that goes away is ``session down`` while heartbeats go on."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import zmq

from tests.gateway.ccxt_world import CLOCK, wait_until
from transports.venues.sim.gateway import address
from transports.wire.codec import Codec
from transports.wire.venue_msgs import Delta, Heartbeat, Instruments, MdMessage, MdStatus, Session

pytestmark = pytest.mark.e2e


def fake_top(w: Any, market: str, sym: str, depth: int = 20) -> dict[str, dict[int, int]]:
    """The fake's book in ticks and lots (its own record)."""
    ins = next(i for i in w.eng.instruments().list if i.sym == sym)
    tick, lot = Decimal(ins.tick), Decimal(ins.lot)
    book = w.fake.book(market, sym)

    def side(levels: list[list[str]]) -> dict[int, int]:
        return {int(Decimal(p) / tick): int(Decimal(q) / lot) for p, q in levels[:depth]}

    return {"b": side(book["bids"]), "a": side(book["asks"])}


def matches(w: Any, market: str, sym: str, n: int = 3, timeout_s: float = 8.0) -> int:
    """Sample the fake's book until the engine's book (snapshot + deltas) equals it ``n``
    times; both move every 50 ms, the gateway adds about a millisecond."""
    e = w.eng
    seen = 0

    def one() -> bool:
        nonlocal seen
        want = fake_top(w, market, sym)
        e.pump_md(0.002)
        if e.book == want:
            seen += 1
        return seen >= n

    wait_until(one, timeout_s, f"the engine's book to equal the fake's {n} times", step_s=0.005)
    return seen


@pytest.mark.parametrize("venue", ["binance", "okx"])
def test_deltas_on_the_snapshot_reproduce_the_fakes_book(venue: str, request: Any) -> None:
    w = request.getfixturevalue("binance_spot" if venue == "binance" else "okx_spot")
    sym = w.eng.sym
    matches(w, "spot", sym)
    assert w.eng.gaps == []
    assert w.eng.seq >= 3
    ins = w.eng.instruments()
    assert isinstance(ins, Instruments) and ins.v == 2 and ins.list[0].kind == "spot"


@pytest.mark.parametrize("venue", ["binance", "okx"])
def test_a_dropped_diff_is_resynced_without_a_gap(venue: str, request: Any) -> None:
    w = request.getfixturevalue("binance_spot" if venue == "binance" else "okx_spot")
    sym = w.eng.sym
    before = w.gw.gw.md.counters["resyncs"]
    w.fake.fault(kind="drop_diff", market="spot", sym=sym, n=1)
    wait_until(lambda: w.fake.truth()["fake_faults"]["counts"].get("drop_diff", 0) >= 1, 5,
               "the fake to drop a diff")
    # ccxt finds the hole by the exchange's update ids and resubscribes from a snapshot
    wait_until(lambda: w.gw.gw.md.counters["resyncs"] > before or w.eng.pump_md(0.02), 5,
               "the gateway's resync")
    matches(w, "spot", sym)
    assert w.eng.gaps == []  # the engine never saw a hole: one ordinary delta bridged it


def test_a_stall_keeps_heartbeats_with_the_same_seqs(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    matches(w, "spot", "BTCUSDT", n=1)
    w.fake.fault(kind="stall_md", market="spot", ms=1500)
    t0 = CLOCK.mono_ns() / 1e9
    e.pump_md(1.3)
    window = [m for t, m in e.md_log if t0 + 0.3 <= t <= t0 + 1.3]
    hbs = [m for m in window if isinstance(m, Heartbeat)]
    assert len(hbs) >= 5  # every 100 ms
    assert len({hb.seqs["BTCUSDT"] for hb in hbs}) == 1
    assert not [m for m in window if isinstance(m, Delta)]
    matches(w, "spot", "BTCUSDT")  # the held updates arrive; the book is current again
    assert e.gaps == []


def test_a_new_subscriber_hears_the_status(binance_spot: Any) -> None:
    w = binance_spot
    v = next(x for x in w.cfg.venues if x.name == "binance")
    sub = w.ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"md.BTCUSDT")
    sub.connect(address(v.md, str(w.d)))
    codec: Codec[Any] = Codec(MdMessage)
    try:
        def got_status() -> bool:
            if not sub.poll(100):
                return False
            m = codec.decode(sub.recv_multipart()[-1])
            return isinstance(m, MdStatus) and m.state == "open" and m.sym == "BTCUSDT"

        wait_until(got_status, 5, "status open for a new subscription")
    finally:
        sub.close(linger=0)


def test_the_exchange_going_away_is_session_down_and_heartbeats_go_on(binance_spot: Any) -> None:
    w, e = binance_spot, binance_spot.eng
    w.fake.stop()  # the exchange is gone: md and private connections drop
    e.wait_oe(lambda m: isinstance(m, Session) and m.state == "down", 10, "session down")
    # the md stream's own end (the private one may close first, with md still in flight)
    wait_until(lambda: w.gw.gw.md.counters["disconnects"] >= 1 or e.pump_md(0.02), 10,
               "the md stream to drop")
    e.pump_md(0.2)
    n = len([m for _, m in e.md_log if isinstance(m, Heartbeat)])
    e.pump_md(0.5)
    hbs = [m for _, m in e.md_log if isinstance(m, Heartbeat)][n:]
    assert len(hbs) >= 3 and len({hb.seqs["BTCUSDT"] for hb in hbs}) == 1
