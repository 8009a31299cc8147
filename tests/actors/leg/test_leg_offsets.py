"""Futures offsets: the pure decision (``actors.leg.offsets.decide``), the two-sided buckets,
the trading-day roll, and the LegExecutor deciding each order's offset from its fills, its
working orders and the venue's positions."""

from __future__ import annotations

import itertools
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.leg.executor import LegExecutorCore
from actors.leg.offsets import (
    CLOSE,
    CLOSE_TODAY,
    CLOSE_YESTERDAY,
    EXCEEDS,
    OPEN,
    Decision,
    Offsets,
    Sides,
    decide,
    trading_day,
)
from tests.support.contracts import MS, au, gc
from transports.config.engine import RiskConfig
from transports.wire.messages import Decision as Journaled
from transports.wire.messages import ExecReport, LegOrder
from transports.wire.venue_msgs import (
    Done,
    Fill,
    NewOrder,
    OpenOrders,
    PositionRecord,
    Positions,
    Trades,
)

S = 1_000_000_000
#: SHFE gold with offsets, today's lots rolling to yesterday's every 10 s
AU = au(offsets=True, close_today=True, trading_day_roll_s=10, max_lots_per_order=30,
        max_position_lots=60)


# --- the pure decision -------------------------------------------------------------------------

def sides(lt: int = 0, ly: int = 0, st_: int = 0, sy: int = 0) -> Sides:
    return Sides(long_today=lt, long_yd=ly, short_today=st_, short_yd=sy)


@pytest.mark.parametrize("today,yd", list(itertools.product((0, 2, 5), repeat=2)))
@pytest.mark.parametrize("qty", [1, 2, 3, 5, 7, 10])
@pytest.mark.parametrize("policy", ["close", "open_opposite"])
def test_every_bucket_combination_on_a_close_today_venue(today: int, yd: int, qty: int,
                                                         policy: str) -> None:
    """A sell against long lots (and a buy against the same short lots: symmetric)."""
    for side, s in (("S", sides(lt=today, ly=yd)), ("B", sides(st_=today, sy=yd))):
        d = decide(side, qty, s, {}, close_today=True, policy=policy)
        free_td = today if policy == "close" else 0
        if yd == 0 and free_td == 0:
            want = Decision(OPEN, qty)
        elif qty <= yd:
            want = Decision(CLOSE_YESTERDAY, qty)
        elif qty <= free_td:
            want = Decision(CLOSE_TODAY, qty)
        elif yd >= free_td:
            want = Decision(CLOSE_YESTERDAY, yd, EXCEEDS)
        else:
            want = Decision(CLOSE_TODAY, free_td, EXCEEDS)
        assert d == want, (side, today, yd, qty, policy)


@pytest.mark.parametrize("today,yd", list(itertools.product((0, 2, 5), repeat=2)))
@pytest.mark.parametrize("qty", [1, 2, 4, 7, 11])
def test_every_bucket_combination_without_close_today(today: int, yd: int, qty: int) -> None:
    d = decide("S", qty, sides(lt=today, ly=yd), {}, close_today=False)
    held = today + yd
    if held == 0:
        assert d == Decision(OPEN, qty)
    elif qty <= held:
        assert d == Decision(CLOSE, qty)
    else:
        assert d == Decision(CLOSE, held, EXCEEDS)


def test_the_same_side_is_never_closed() -> None:
    # long lots do not make a buy a close: it opens more long
    assert decide("B", 3, sides(lt=5, ly=5), {}, close_today=True) == Decision(OPEN, 3)
    assert decide("S", 3, sides(st_=5, sy=5), {}, close_today=False) == Decision(OPEN, 3)


def test_working_closes_reserve_their_lots() -> None:
    s = sides(lt=4, ly=3)
    # a working close_yesterday of 2 leaves 1 yesterday's lot: 2 more go to today's
    assert decide("S", 2, s, {CLOSE_YESTERDAY: 2}, True) == Decision(CLOSE_TODAY, 2)
    # "close" closes yesterday's on SHFE: it reserves yesterday's lots as well
    assert decide("S", 1, s, {CLOSE: 3}, True) == Decision(CLOSE_TODAY, 1)
    # everything reserved by working closes: the next sell opens short
    assert decide("S", 2, s, {CLOSE_YESTERDAY: 3, CLOSE_TODAY: 4}, True) == Decision(OPEN, 2)
    # partly reserved and too big for what is free: trimmed to the bucket holding more
    assert decide("S", 5, s, {CLOSE_YESTERDAY: 1}, True) == Decision(CLOSE_TODAY, 4, EXCEEDS)
    # a tie goes to yesterday's lots (no close-today fee)
    assert decide("S", 5, s, {CLOSE_TODAY: 1}, True) == Decision(CLOSE_YESTERDAY, 3, EXCEEDS)
    # a venue without close_today: one pool
    assert decide("S", 3, s, {CLOSE: 5}, False) == Decision(CLOSE, 2, EXCEEDS)
    assert decide("S", 2, s, {CLOSE: 5}, False) == Decision(CLOSE, 2)


def test_open_opposite_never_closes_today() -> None:
    s = sides(lt=5, ly=2)
    assert decide("S", 2, s, {}, True, "open_opposite") == Decision(CLOSE_YESTERDAY, 2)
    assert decide("S", 3, s, {}, True, "open_opposite") == Decision(CLOSE_YESTERDAY, 2, EXCEEDS)
    assert decide("S", 3, sides(lt=5), {}, True, "open_opposite") == Decision(OPEN, 3)
    assert decide("S", 3, sides(lt=5), {}, True, "close") == Decision(CLOSE_TODAY, 3)


def test_fills_move_the_buckets_and_keep_the_net() -> None:
    s = Sides()
    s.apply("B", OPEN, 5)
    assert (s.long_today, s.net) == (5, 5)
    s.roll()
    assert (s.long_today, s.long_yd) == (0, 5)
    s.apply("B", OPEN, 2)
    s.apply("S", CLOSE_TODAY, 1)
    s.apply("S", CLOSE_YESTERDAY, 2)
    assert (s.long_today, s.long_yd, s.net) == (1, 3, 4)
    s.apply("S", CLOSE, 4)  # yesterday's first, then today's
    assert (s.long_today, s.long_yd, s.net) == (0, 0, 0)
    s.apply("S", "", 3)  # an offset not decided here: nothing to close, so it opened
    assert (s.short_today, s.net) == (3, -3)
    assert s.as_dict() == {"long": 0, "short": 3, "long_today": 0, "short_today": 3}


def test_trading_day_boundaries() -> None:
    assert trading_day(9 * S, 10, "07:00") == trading_day(0, 10, "07:00")
    assert trading_day(10 * S, 10, "07:00") == trading_day(0, 10, "07:00") + 1
    day = 86_400 * S
    seven = 7 * 3600 * S
    assert trading_day(20 * day + seven - 1, 0, "07:00") == 19
    assert trading_day(20 * day + seven, 0, "07:00") == 20


# --- property: decided closes never close more than a bucket holds ------------------------------

@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("BS"), st.integers(1, 8), st.integers(0, 3)),
                min_size=1, max_size=40),
       st.booleans(), st.sampled_from(["close", "open_opposite"]))
def test_decided_offsets_never_close_more_than_held(steps: list[tuple[str, int, int]],
                                                    close_today: bool, policy: str) -> None:
    """Random orders, each decided against the buckets net of the working ones; some keep
    working, the oldest fills, days roll: every decided close fits its bucket."""
    s = Sides()
    working: list[tuple[str, str, int]] = []  # side, offset, leaves
    for side, qty, action in steps:
        reserved: dict[str, int] = {}
        for w_side, off, leaves in working:
            if w_side == side and off != OPEN:
                reserved[off] = reserved.get(off, 0) + leaves
        d = decide(side, qty, s, reserved, close_today, policy)
        assert 0 < d.qty <= qty and (d.qty == qty) == (not d.reason)
        td = s.long_today if side == "S" else s.short_today
        yd = s.long_yd if side == "S" else s.short_yd
        res = sum(reserved.values())
        if d.offset == CLOSE_TODAY:
            assert close_today and policy == "close"
            assert d.qty + reserved.get(CLOSE_TODAY, 0) <= td
        elif d.offset == CLOSE_YESTERDAY:
            assert close_today
            assert d.qty + reserved.get(CLOSE_YESTERDAY, 0) + reserved.get(CLOSE, 0) <= yd
        elif d.offset == CLOSE:
            assert not close_today and d.qty + res <= td + yd
        working.append((side, d.offset, d.qty))
        if action == 1:
            continue  # it keeps working: the next orders must count what it will close
        # fill the oldest working order (whole), sometimes roll the day
        w_side, off, leaves = working.pop(0)
        net = s.net
        s.apply(w_side, off, leaves)
        assert s.net == net + (leaves if w_side == "B" else -leaves)
        assert min(s.long_today, s.long_yd, s.short_today, s.short_yd) >= 0
        if action == 0:
            s.roll()


# --- the executor ------------------------------------------------------------------------------

def core(contracts: dict[str, Any] | None = None, venue: str = "shfe") -> LegExecutorCore:
    return LegExecutorCore(f"leg.{venue}", venue, "acct", contracts or {"au2606": AU}, 3,
                           RiskConfig(max_net_exposure_base=1e9), ["combo", "risk"], 2000)


def order(combo: int, side: str, qty: int, sym: str = "au2606", venue: str = "shfe",
          tif: str = "IOC") -> LegOrder:
    return LegOrder(combo, 0, 0, venue, sym, side, qty, 30500, tif,  # type: ignore[arg-type]
                    "entry", 1, 2)


def new_of(out: list[tuple[str, Any]]) -> NewOrder:
    (m,) = [m for d, m in out if d == "@oe" and isinstance(m, NewOrder)]
    return m


def fill(c: LegExecutorCore, cl: str, qty: int, now: int, done: bool = True) -> None:
    c.handle(Fill(cl=cl, oid="o" + cl, tid="t" + cl + str(now), px=30500, qty=qty, ts=now), now)
    if done:
        c.handle(Done(cl=cl, oid="o" + cl, state="filled", cum=qty, ts=now), now)


def test_executor_opens_closes_today_then_yesterday_after_the_roll() -> None:
    c = core()
    t0 = 100 * S  # a trading day starts here (10 s days)
    n = new_of(c.handle(order(1, "B", 5), t0))
    assert n.offset == OPEN
    fill(c, n.cl, 5, t0 + MS)
    n = new_of(c.handle(order(2, "S", 2), t0 + 2 * MS))
    assert n.offset == CLOSE_TODAY
    fill(c, n.cl, 2, t0 + 3 * MS)
    assert c.snapshot()["offsets"]["positions"]["au2606"] == {
        "long": 3, "short": 0, "long_today": 3, "short_today": 0}
    # the next trading day: the 3 lots are yesterday's
    n = new_of(c.handle(order(3, "S", 3), t0 + 10 * S))
    assert n.offset == CLOSE_YESTERDAY
    fill(c, n.cl, 3, t0 + 10 * S + MS)
    snap = c.snapshot()
    assert snap["positions"] == {"au2606": 0}
    assert snap["offsets"]["positions"]["au2606"]["long"] == 0
    assert snap["offsets"]["sent"] == {OPEN: 1, CLOSE: 0, CLOSE_TODAY: 1, CLOSE_YESTERDAY: 1}


def test_executor_counts_working_closes_and_trims_what_exceeds() -> None:
    c = core()
    t0 = 100 * S
    fill(c, new_of(c.handle(order(1, "B", 4), t0)).cl, 4, t0)
    # a working GTC close of 3 today's lots reserves them
    gtc = new_of(c.handle(order(2, "S", 3, tif="GTC"), t0 + MS))
    assert gtc.offset == CLOSE_TODAY
    # 1 lot is still free: a sell of 3 closes 1, the other 2 are denied pre-trade
    out = c.handle(order(3, "S", 3), t0 + 2 * MS)
    n = new_of(out)
    assert (n.offset, n.qty) == (CLOSE_TODAY, 1)
    sent = [m for d, m in out if d == "combo" and isinstance(m, ExecReport)]
    assert [(r.kind, r.qty_lots) for r in sent] == [("sent", 1)]
    (alarm,) = [json.loads(m.detail) for d, m in out if isinstance(m, Journaled)]
    assert alarm["alarm"] == EXCEEDS and (alarm["qty"], alarm["sent"]) == (3, 1)
    assert c.denied[EXCEEDS] == 1
    assert c.snapshot()["offsets"]["trimmed_lots"] == 2
    # both working: the next sell has nothing left to close and opens short
    assert new_of(c.handle(order(4, "S", 2), t0 + 3 * MS)).offset == OPEN
    # the GTC partly fills then is cancelled: its unfilled lots are free again
    fill(c, gtc.cl, 1, t0 + 4 * MS, done=False)
    c.handle(Done(cl=gtc.cl, oid="o" + gtc.cl, state="canceled", cum=1, ts=1), t0 + 5 * MS)
    assert new_of(c.handle(order(5, "S", 2), t0 + 6 * MS)).offset == CLOSE_TODAY


def test_open_opposite_policy_opens_short_instead_of_closing_today() -> None:
    c = core({"au2606": au(offsets=True, close_today=True, close_today_policy="open_opposite",
                           trading_day_roll_s=10)})
    t0 = 100 * S
    fill(c, new_of(c.handle(order(1, "B", 2), t0)).cl, 2, t0)
    n = new_of(c.handle(order(2, "S", 2), t0 + MS))
    assert n.offset == OPEN
    fill(c, n.cl, 2, t0 + 2 * MS)
    snap = c.snapshot()
    assert snap["positions"] == {"au2606": 0}  # net flat, both sides held
    assert snap["offsets"]["positions"]["au2606"] == {
        "long": 2, "short": 2, "long_today": 2, "short_today": 2}


def test_reconciliation_adopts_the_venues_buckets() -> None:
    c = core()
    c.reconcile_at_start(2000 * MS)
    t0 = 100 * S
    c.on_start(t0)
    c.handle(OpenOrders(list=[]), t0)
    c.handle(Trades(list=[]), t0)
    out = c.handle(Positions(list=[PositionRecord("au2606", long=5, long_today=2, short=1)]),
                   t0)
    assert c.gate == "" and c.positions == {"au2606": 4}
    (rec,) = [json.loads(m.detail) for _, m in out
              if isinstance(m, Journaled) and m.what == "reconciled"]
    assert rec["sides"] == {"au2606": {"long": 5, "short": 1, "long_today": 2,
                                       "short_today": 0}}
    assert c.snapshot()["offsets"]["positions"]["au2606"] == {
        "long": 5, "short": 1, "long_today": 2, "short_today": 0}
    # a sell of 3 fits yesterday's 3; a buy of 1 closes the short (yesterday's)
    assert new_of(c.handle(order(1, "S", 3), t0 + MS)).offset == CLOSE_YESTERDAY
    assert new_of(c.handle(order(2, "B", 1), t0 + 2 * MS)).offset == CLOSE_YESTERDAY


def test_a_venue_without_offsets_never_sees_the_key() -> None:
    c = core({"GCZ6": gc()}, venue="comex")
    n = new_of(c.handle(order(1, "B", 2, sym="GCZ6", venue="comex"), 100 * S))
    assert n.offset == "" and b"offset" not in msgspec.msgpack.encode(n)
    assert "offsets" not in c.snapshot()
    assert c.offsets.rules == {} and c.entry.offsets is None


def test_offsets_helper_rolls_once_per_trading_day() -> None:
    o = Offsets({"au2606": AU})
    o.on_sent("a", OPEN)
    o.on_fill("a", "au2606", "B", 3, 100 * S)
    o.on_fill("a", "au2606", "B", 1, 109 * S)
    assert o.sides["au2606"] == Sides(long_today=4)
    o.roll("au2606", 110 * S)
    o.roll("au2606", 111 * S)
    assert o.sides["au2606"] == Sides(long_yd=4)
    o.on_fill("x", "GCZ6", "B", 1, 111 * S)  # not an offsets symbol: ignored
    assert set(o.sides) == {"au2606"}


def test_cmc_top_shows_both_sides() -> None:
    from scripts.admin.top import render

    c = core()
    fill(c, new_of(c.handle(order(1, "B", 2), 100 * S)).cl, 2, 100 * S)
    legs = {"shfe": {"gate": "", "bad_frames": 0,
                     "sides": c.snapshot()["offsets"]["positions"]},
            "comex": {"gate": "", "bad_frames": 0}}
    frame = render({"legs": legs})
    assert "sides     shfe:au2606 long 2 (2 today) short 0 (0 today)" in frame
    assert "comex:" not in frame.split("sides", 1)[1].splitlines()[0]
    assert "sides" not in render({"legs": {"comex": {"gate": "", "bad_frames": 0}}})
