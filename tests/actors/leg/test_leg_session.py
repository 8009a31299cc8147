"""Venue protocol version 2 at the LegExecutor: the gateway's ``session`` (down as a lost link,
up as a reconnect), ``funding`` to risk's PnL, ``balances`` asked only of a version 2 gateway,
two-sided ``positions``, ``reduce_only`` on perpetuals and a fill's ``fee_ccy`` -- driving
``LegExecutorCore`` (and ``RiskCore``) directly with integer clocks."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from actors.leg.executor import LegExecutorCore
from actors.leg.orders import LegTimer
from actors.risk.risk import RiskCore
from tests.support.contracts import MS, au, gc
from transports.config.engine import RiskConfig, load_config
from transports.wire.codec import encode
from transports.wire.messages import (
    BookUpdate,
    Decision,
    ExecReport,
    FundingPaid,
    LegOrder,
    Position,
    Reduce,
    Timer,
    VenueGate,
    VenueInfo,
)
from transports.wire.venue_msgs import (
    Ack,
    BalanceRecord,
    Balances,
    BalancesReq,
    Fill,
    Funding,
    NewOrder,
    OpenOrders,
    OpenOrdersReq,
    OrderStatus,
    Pong,
    PositionRecord,
    Positions,
    PositionsReq,
    QueryReq,
    Session,
    Trades,
    TradesReq,
)

AU = au(max_lots_per_order=30, max_position_lots=40)
V1_NEW_KEYS = {"t", "cl", "sym", "side", "px", "qty", "tif", "ts"}


def of(out: list[tuple[str, Any]], kind: type, dest: str | None = None) -> list[Any]:
    return [m for d, m in out if isinstance(m, kind) and (dest is None or d == dest)]


def reports(out: list[tuple[str, Any]], kind: str | None = None) -> list[ExecReport]:
    return [m for m in of(out, ExecReport, "combo") if kind is None or m.kind == kind]


def alarms(out: list[tuple[str, Any]]) -> dict[str, dict[str, Any]]:
    return {json.loads(m.detail)["alarm"]: json.loads(m.detail)
            for m in of(out, Decision, "journal") if m.what == "alarm"}


def core() -> LegExecutorCore:
    return LegExecutorCore("leg.shfe", "shfe", "acct", {"au2606": AU}, 3, RiskConfig(),
                           ["combo", "risk"], 2000, oe_link=True, unknown_bound_ms=3000,
                           unknown_halt_ms=15_000, gate_to=("strategy.au-gc",))


def order(combo: int = 42, side: str = "B", qty: int = 10) -> LegOrder:
    return LegOrder(combo, 0, 0, "shfe", "au2606", side, qty, 30500, "IOC",  # type: ignore[arg-type]
                    "entry", 1, 2)


def oe(out: list[tuple[str, Any]]) -> list[type]:
    return [type(m) for d, m in out if d == "@oe"]


def reconcile(c: LegExecutorCore, now: int, positions: list[PositionRecord] | None = None
              ) -> list[tuple[str, Any]]:
    """Answer the three questions of a reconciliation; return the last answer's output."""
    c.handle(OpenOrders(list=[]), now)
    c.handle(Trades(list=[]), now)
    return c.handle(Positions(list=positions or []), now)


def started(c: LegExecutorCore) -> LegExecutorCore:
    out = c.on_start(0)
    assert BalancesReq not in oe(out)  # a version 1 gateway (no VenueInfo yet): never asked
    reconcile(c, 1 * MS)
    assert c.gate == ""
    return c


def test_session_down_is_a_lost_link_and_up_reconciles_before_trading_again() -> None:
    c = started(core())
    (new,) = of(c.handle(order(), 100 * MS), NewOrder, "@oe")
    c.handle(Ack(cl=new.cl, oid="X", ts=1), 101 * MS)
    # the gateway lost its exchange: the working order's outcome is unknown, queried not resent
    out = c.handle(Session(state="down", ts=5, reason="ws closed"), 200 * MS)
    a = alarms(out)
    assert a["session_down"]["open"] == 1 and a["unknown_outcome"]["why"] == "session_down"
    assert c.orders[new.cl].unknown and of(out, QueryReq, "@oe") == [QueryReq(cl=new.cl)]
    assert of(out, VenueGate, "strategy.au-gc") == [VenueGate("shfe", "session_down", 200 * MS)]
    assert c.gate == "session_down" and c.venue_gate == "session_down"
    # nothing new goes there, not even a reducing order; the denial is counted by its reason
    for i, side in enumerate(("B", "S")):
        out = c.handle(order(combo=50 + i, side=side, qty=1), (300 + i) * MS)
        assert not of(out, NewOrder) and reports(out)[0].reason == "session_down"
    assert c.snapshot()["counters"]["denied"]["session_down"] == 2
    assert c.snapshot()["counters"]["session_downs"] == 1
    assert c.snapshot()["session"]["state"] == "down"
    # a gateway cut off from its exchange answering "not found" proves nothing
    for t in (3500, 4000, 4500, 5000):
        assert c.handle(OrderStatus(cl=new.cl, state="unknown"), t * MS) == []
    assert c.orders[new.cl].state.value == "ACCEPTED" and c.orders[new.cl].unknown
    # a second down changes nothing
    assert c.handle(Session(state="down", ts=6), 5100 * MS) == []
    # up: the reconciliation runs before anything new goes
    out = c.handle(Session(state="up", ts=7), 6000 * MS)
    assert oe(out) == [OpenOrdersReq, TradesReq, PositionsReq] and "session_up" in alarms(out)
    assert of(out, VenueGate, "strategy.au-gc")[0].state == "reconciling"
    assert reports(c.handle(order(combo=60), 6001 * MS))[0].reason == "reconciling"
    c.handle(OrderStatus(cl=new.cl, oid="X", state="canceled", cum=0), 6002 * MS)
    out = reconcile(c, 6003 * MS)
    assert c.gate == "" and of(out, VenueGate, "strategy.au-gc")[-1].state == ""
    assert of(c.handle(order(combo=61), 6100 * MS), NewOrder, "@oe")


def test_a_start_reconciliation_under_way_when_the_session_drops_waits_for_up() -> None:
    c = core()
    c.on_start(0)
    c.handle(Session(state="down", ts=1), 1 * MS)
    assert c.gate == "session_down"
    reconcile(c, 2 * MS)  # the gateway answered from its cache: still down, still shut
    assert c.gate == "session_down" and c.reconciler.done
    assert reports(c.handle(order(), 3 * MS))[0].reason == "session_down"
    out = c.handle(Session(state="up", ts=2), 4 * MS)
    assert oe(out) == [OpenOrdersReq, TradesReq, PositionsReq]
    reconcile(c, 5 * MS)
    assert c.gate == "" and of(c.handle(order(combo=43), 6 * MS), NewOrder, "@oe")


def test_a_lost_link_while_the_session_is_down_reconciles_into_session_down() -> None:
    c = started(core())
    c.handle(Session(state="down", ts=1), 10 * MS)
    c.handle(Timer(LegTimer.PING, 2000 * MS), 2000 * MS)  # no pong since 0: the link is lost
    assert c.gate == "disconnected"
    c.handle(Pong(ts=1, echo=0), 2100 * MS)
    reconcile(c, 2200 * MS)
    assert c.gate == "session_down"  # the gateway has not said up yet


def test_auth_failed_asks_risk_to_reduce_naming_the_venue() -> None:
    c = started(core())
    out = c.handle(Session(state="auth_failed", ts=1, reason="invalid API key"), 10 * MS)
    (red,) = of(out, Reduce, "risk")
    assert red.reason.startswith("session_auth_failed:shfe:") and "invalid API key" in red.reason
    assert {"session_down", "session_auth_failed"} <= set(alarms(out)) and c.gate == "session_down"
    risk = RiskCore("risk", {"shfe:au2606": AU}, RiskConfig(), ["leg.shfe"])
    risk.handle(red, 10 * MS)
    assert risk.state == "REDUCING" and "session_auth_failed" in risk.reasons
    assert of(c.handle(Session(state="auth_failed", ts=2), 20 * MS), Reduce) == []  # once


def test_funding_reaches_risk_pnl_in_the_venues_currency_once() -> None:
    c = LegExecutorCore("leg.comex", "comex", "acct", {"GCZ6": gc()}, 3, RiskConfig(),
                        ["combo", "risk"], 2000)
    out = c.handle(Funding(sym="GCZ6", ts=8 * 3600 * 10**9, rate="0.0001", paid=-12.5), 1 * MS)
    (fp,) = of(out, FundingPaid, "risk")
    assert (fp.venue, fp.sym, fp.ccy, fp.paid, fp.rate) == ("comex", "GCZ6", "USD", -12.5, 1e-4)
    # the same payment again (a gateway re-sending after a reconnect) is counted once
    assert c.handle(Funding(sym="GCZ6", ts=8 * 3600 * 10**9, rate="0.0001", paid=-12.5),
                    2 * MS) == []
    c.handle(Funding(sym="GCZ6", ts=16 * 3600 * 10**9, rate="-0.0002", paid=3.0, ccy="USDT"),
             3 * MS)
    snap = c.snapshot()
    assert snap["counters"]["funding"] == 2 and snap["counters"]["duplicate_funding"] == 1
    assert snap["session"]["funding"] == {"GCZ6": {"USD": -12.5, "USDT": 3.0}}
    assert "bad_funding" in alarms(c.handle(Funding(sym="XX", ts=1, rate="0", paid=1.0), 4 * MS))
    # risk: in USD, converted into the home currency (CNY) through the FX book, as fees are
    cfg = load_config()
    risk = RiskCore("risk", {f"{k.venue}:{k.sym}": k for k in cfg.contracts}, RiskConfig(),
                    ["leg.comex"], [], {"USD": ("fx:USDCNH", False)})
    risk.handle(BookUpdate("fx", "USDCNH", True, 0, 0, 0, [71999], [1], [72001], [1]), 0)
    before = risk.pnl()["net"]
    risk.handle(fp, 5 * MS)
    p = risk.pnl()
    assert p["funding"] == pytest.approx(-12.5 * 7.2) and p["net"] - before == pytest.approx(-90)
    assert risk.snapshot()["funding"] == {"USD": -12.5} and risk.snapshot()["fundings"] == 1


def test_balances_are_asked_only_of_a_version_2_gateway() -> None:
    c = started(core())
    # a version 1 gateway: the feed's VenueInfo says 1; no reconciliation asks balances
    assert c.handle(VenueInfo("shfe", 1, {}, 5 * MS), 5 * MS) == []
    c.handle(Session(state="down", ts=1), 10 * MS)
    out = c.handle(Session(state="up", ts=2), 20 * MS)
    assert BalancesReq not in oe(out)
    reconcile(c, 21 * MS)
    # version 2 announced: asked at once, then by every reconciliation; the reply is kept
    out = c.handle(VenueInfo("shfe", 2, {"au2606": "future"}, 30 * MS), 30 * MS)
    assert oe(out) == [BalancesReq]
    assert c.handle(VenueInfo("shfe", 2, {"au2606": "future"}, 31 * MS), 31 * MS) == []
    c.handle(Balances(list=[BalanceRecord("CNY", 1e6, 9e5, 1e5)]), 32 * MS)
    snap = c.snapshot()["session"]
    assert snap["protocol"] == 2 and snap["balances"] == {
        "CNY": {"total": 1e6, "available": 9e5, "margin_used": 1e5}}
    c.handle(Session(state="down", ts=3), 40 * MS)
    assert BalancesReq in oe(c.handle(Session(state="up", ts=4), 50 * MS))


def test_two_sided_positions_are_read_net() -> None:
    c = core()
    c.on_start(0)
    out = reconcile(c, 1 * MS, [PositionRecord("au2606", long=7, short=2, long_today=1)])
    assert c.positions == {"au2606": 5}
    assert of(out, Position, "risk") == [Position("shfe", "au2606", 5, 1 * MS)]


def test_reduce_only_goes_on_closing_orders_of_a_version_2_perpetual_only() -> None:
    c = started(core())
    c.positions = {"au2606": 10}
    # version 1 (even one that lists kinds): nothing but version 1 keys on the wire
    c.handle(VenueInfo("shfe", 1, {"au2606": "perp"}, 2 * MS), 2 * MS)
    (new,) = of(c.handle(order(combo=1, side="S", qty=4), 3 * MS), NewOrder, "@oe")
    assert not new.reduce_only
    assert set(msgspec.msgpack.decode(encode(new))) == V1_NEW_KEYS
    c.handle(VenueInfo("shfe", 2, {"au2606": "perp"}, 4 * MS), 4 * MS)
    assert c.snapshot()["session"]["reduce_only"] == ["au2606"]
    # closes (with the 4 lots still working, 4 + 6 <= 10): reduce_only
    (new,) = of(c.handle(order(combo=2, side="S", qty=6), 5 * MS), NewOrder, "@oe")
    assert new.reduce_only and msgspec.msgpack.decode(encode(new))["reduce_only"] is True
    # would go beyond what is held (4 + 6 + 1 > 10), or adds: not reduce_only
    (new,) = of(c.handle(order(combo=3, side="S", qty=1), 6 * MS), NewOrder, "@oe")
    assert not new.reduce_only
    (new,) = of(c.handle(order(combo=4, side="B", qty=1), 7 * MS), NewOrder, "@oe")
    assert not new.reduce_only and "reduce_only" not in msgspec.msgpack.decode(encode(new))


def test_a_fee_in_another_currency_is_booked_in_that_currency() -> None:
    c = started(core())
    (new,) = of(c.handle(order(), 10 * MS), NewOrder, "@oe")
    out = c.handle(Fill(cl=new.cl, oid="X", tid="t1", px=30500, qty=10, ts=5, fee=0.3,
                        fee_ccy="BNB"), 11 * MS)
    (f,) = reports(out, "fill")
    assert (f.fee, f.fee_ccy) == (0.3, "BNB")
    risk = RiskCore("risk", {"shfe:au2606": AU}, RiskConfig(), ["leg.shfe"])
    risk.handle(f, 12 * MS)
    risk.handle(msgspec.structs.replace(f, trade_id="t2", fee=2.0, fee_ccy=""), 13 * MS)
    assert risk.snapshot()["fees"] == {"BNB": 0.3, "CNY": 2.0}
