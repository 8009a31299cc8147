"""The simulator's offsets mode (conf/demo-offsets.toml: SHFE au with ``offsets`` and
``close_today``, days rolling every 2 s): two-sided positions, offsets checked as CTP does,
today's lots becoming yesterday's, the close-today fee, two-sided positions replies, and the
truth recording each order's offset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from tests.sim.test_sim_harness import MS, T0, Run
from tests.support.contracts import au
from transports.config.engine import load_config
from transports.venues.sim.offsets import SimOffsets
from transports.wire.venue_msgs import (
    Done,
    Fill,
    Instruments,
    InstrumentsReq,
    NewOrder,
    PositionRecord,
    Positions,
    PositionsReq,
    Reject,
)

CONF = Path(__file__).resolve().parents[2] / "conf" / "demo-offsets.toml"
CFG = load_config(CONF)
SYM = "au2606"


def run() -> Run:
    r = Run(CFG)
    r.to(200)  # the market maker quotes
    return r


def order(r: Run, cl: str, side: str, qty: int, offset: str, tif: str = "IOC") -> None:
    book = r.core.venues["shfe"].books[SYM]
    px = (book.best("S") or 0) + 2 if side == "B" else (book.best("B") or 0) - 2
    if tif == "GTC":  # rests away from the touch
        px = (book.best("B") or 0) - 50 if side == "B" else (book.best("S") or 0) + 50
    r.send("shfe", NewOrder(cl, SYM, side, px, qty, tif, r.now, offset=offset))  # type: ignore[arg-type]
    step(r)


def step(r: Run, ms: float = 5) -> None:
    """Run ``ms`` on (the venue answers within a few ms)."""
    r.to((r.now - T0) / MS + ms)


def of(r: Run, kind: type, cl: str | None = None) -> list[Any]:
    return [m for m in r.replies() if isinstance(m, kind) and (cl is None or m.cl == cl)]


def positions(r: Run) -> PositionRecord:
    r.send("shfe", PositionsReq())
    step(r)
    rep = of(r, Positions)[-1]
    (rec,) = [p for p in rep.list if p.sym == SYM]
    return rec


def test_instruments_say_offsets_and_close_today() -> None:
    r = run()
    ins = r.core.ref(r.now, "shfe", InstrumentsReq())
    assert isinstance(ins, Instruments)
    (au_,) = ins.list
    assert (au_.offsets, au_.close_today, au_.kind) == (True, True, "future")
    gc_ = r.core.ref(r.now, "comex", InstrumentsReq())
    assert isinstance(gc_, Instruments) and not gc_.list[0].offsets
    assert b"offsets" not in msgspec.msgpack.encode(gc_)


def test_open_close_today_and_the_close_today_fee() -> None:
    r = run()
    order(r, "o1", "B", 3, "open")
    assert sum(f.qty for f in of(r, Fill, "o1")) == 3
    assert [f.fee for f in of(r, Fill, "o1")] and all(
        f.fee == 10.0 * f.qty for f in of(r, Fill, "o1"))
    assert positions(r) == PositionRecord(SYM, long=3, long_today=3)
    order(r, "c1", "S", 2, "close_today")
    fills = of(r, Fill, "c1")
    assert sum(f.qty for f in fills) == 2 and all(f.fee == 20.0 * f.qty for f in fills)
    assert positions(r) == PositionRecord(SYM, long=1, long_today=1)
    assert [o.get("offset") for o in r.core.truth.orders] == ["open", "close_today"]


def test_closing_more_than_held_is_rejected_with_the_ctp_error() -> None:
    r = run()
    order(r, "x1", "S", 1, "close_today")
    (rej,) = of(r, Reject, "x1")
    assert rej.code == "close_exceeds_position" and "ErrorID 50" in rej.reason
    order(r, "x2", "S", 1, "close_yesterday")
    assert "ErrorID 51" in of(r, Reject, "x2")[0].reason
    order(r, "x3", "S", 1, "close")  # SHFE: "close" closes yesterday's lots
    assert "ErrorID 51" in of(r, Reject, "x3")[0].reason
    order(r, "x4", "S", 1, "")
    assert of(r, Reject, "x4")[0].code == "bad_offset"
    order(r, "o1", "B", 2, "open")
    order(r, "x5", "S", 3, "close_today")
    assert of(r, Reject, "x5") and not of(r, Fill, "x5")
    assert positions(r) == PositionRecord(SYM, long=2, long_today=2)


def test_working_closes_freeze_their_lots() -> None:
    r = run()
    order(r, "o1", "B", 3, "open")
    order(r, "g1", "S", 2, "close_today", tif="GTC")  # rests: 2 of the 3 lots frozen
    assert not of(r, Reject, "g1") and not of(r, Done, "g1")
    order(r, "c1", "S", 2, "close_today")
    assert "1 free" in of(r, Reject, "c1")[0].reason
    order(r, "c2", "S", 1, "close_today")
    assert sum(f.qty for f in of(r, Fill, "c2")) == 1


def test_todays_lots_become_yesterdays_at_the_roll() -> None:
    r = run()  # T0 is a 2 s boundary; now 200 ms after it
    order(r, "o1", "B", 2, "open")
    order(r, "s1", "S", 1, "open")
    assert positions(r) == PositionRecord(SYM, long=2, short=1, long_today=2, short_today=1)
    r.to(2100)  # the next trading day
    assert positions(r) == PositionRecord(SYM, long=2, short=1)
    order(r, "c1", "S", 1, "close_today")
    assert of(r, Reject, "c1")  # nothing of today's left
    order(r, "c2", "S", 2, "close_yesterday")
    order(r, "c3", "B", 1, "close")
    assert sum(f.qty for f in of(r, Fill, "c2")) == 2
    assert all(f.fee == 10.0 * f.qty for f in of(r, Fill, "c2"))  # not the close-today fee
    assert positions(r) == PositionRecord(SYM)


def test_a_venue_without_close_today_closes_from_one_pool() -> None:
    o = SimOffsets([au(offsets=True, trading_day_roll_s=10)], 0.0)
    ts = 100 * 1_000_000_000
    o.apply("a", SYM, "B", 3, "open", ts)
    o.roll(ts + 10 * 1_000_000_000)
    o.apply("a", SYM, "B", 2, "open", ts + 10 * 1_000_000_000)
    assert o.check("a", SYM, "S", 5, "close", {}, ts + 10 * 1_000_000_000) is None
    bad = o.check("a", SYM, "S", 6, "close", {}, ts + 10 * 1_000_000_000)
    assert bad is not None and "ErrorID 30" in bad[1]
    bad = o.check("a", SYM, "S", 1, "close_today", {}, ts)
    assert bad is not None and bad[0] == "bad_offset"
    o.apply("a", SYM, "S", 4, "close", ts + 10 * 1_000_000_000)  # yesterday's 3, then today's
    assert o.records("a", ts + 10 * 1_000_000_000) == [PositionRecord(SYM, long=1,
                                                                      long_today=1)]
