"""The simulator's order-entry fault switches, one test each, over a SimCore on a TestClock.

Each test checks the reports the engine would receive and that the truth (what really traded)
stays right: fills, positions and the venue's own ``trades`` and ``query`` answers.
"""

from __future__ import annotations

from typing import Any

from tests.sim.test_sim_harness import MS, T0, Run, cfg_with
from transports.wire.venue_msgs import (
    Ack,
    CancelReq,
    Done,
    Fill,
    NewOrder,
    OpenOrders,
    OpenOrdersReq,
    OrderStatus,
    Positions,
    PositionsReq,
    QueryReq,
    Reject,
    Trades,
    TradesReq,
)

SHFE, AU = "shfe", "au2606"
LAT = 400_000  # shfe one-way latency


def _ioc(r: Run, cl: str, qty: int = 3, ticks: int = 2, tif: str = "IOC") -> None:
    r.send(SHFE, NewOrder(cl, AU, "B", r.ask_price(SHFE, AU, ticks), qty, tif, r.now))


def _for(r: Run, cl: str) -> list[Any]:
    return [m for m in r.replies() if getattr(m, "cl", None) == cl]


def _ask(r: Run, req: Any, after_ms: float = 5) -> Any:
    n = len(r.replies())
    r.send(SHFE, req)
    r.to((r.now - T0) / MS + after_ms)
    (rep,) = r.replies()[n:]
    return rep


def _truth_fills(r: Run, cl: str) -> list[dict[str, Any]]:
    return [f for f in r.core.truth.fills if f["cl"] == cl]


def _venue_trades(r: Run) -> list[Any]:
    rep = _ask(r, TradesReq(since=0))
    assert isinstance(rep, Trades)
    return rep.list


def test_oe_reject() -> None:
    r = Run(cfg_with(oe_reject=1.0))
    r.to(100)
    _ioc(r, "c1")
    r.to(110)
    (rej,) = _for(r, "c1")
    assert isinstance(rej, Reject) and rej.code == "sim_fault"
    assert _truth_fills(r, "c1") == [] and r.core.truth.positions == {}
    assert _ask(r, QueryReq(cl="c1")).state == "rejected"
    assert r.counts()["fault_oe_reject"] == 1


def test_oe_partial_ioc() -> None:
    r = Run(cfg_with(oe_partial=1.0))
    r.to(100)
    _ioc(r, "c1", qty=10, ticks=5)  # the book offers far more than 10 lots within 5 ticks
    r.to(110)
    reps = _for(r, "c1")
    cum = sum(m.qty for m in reps if isinstance(m, Fill))
    assert isinstance(reps[0], Ack) and 1 <= cum < 10
    assert isinstance(reps[-1], Done) and (reps[-1].state, reps[-1].cum) == ("canceled", cum)
    assert sum(f["qty"] for f in _truth_fills(r, "c1")) == cum
    assert r.core.truth.positions == {"acct": {AU: cum}}
    assert r.counts()["fault_oe_partial"] == 1


def test_oe_partial_gtc_keeps_working_and_never_crosses_the_book() -> None:
    r = Run(cfg_with(oe_partial=1.0))
    m = r.mirror(SHFE, AU)
    r.to(100)
    _ioc(r, "g1", qty=10, ticks=5, tif="GTC")
    r.to(101)
    reps = _for(r, "g1")
    first = sum(x.qty for x in reps if isinstance(x, Fill))
    assert (
        isinstance(reps[0], Ack) and 1 <= first < 10 and not any(isinstance(x, Done) for x in reps)
    )
    oo = _ask(r, OpenOrdersReq(), after_ms=1)
    assert isinstance(oo, OpenOrders) and [(o.cl, o.cum) for o in oo.list] == [("g1", first)]
    book = r.core.venues[SHFE].books[AU]
    assert book.best("B") < book.best("S")  # the capped remainder does not rest crossing
    r.to(300)  # the next refreshes match the remainder
    reps = _for(r, "g1")
    cum = sum(x.qty for x in reps if isinstance(x, Fill))
    assert cum > first and sum(f["qty"] for f in _truth_fills(r, "g1")) == cum
    st = _ask(r, QueryReq(cl="g1"))
    assert st.cum == cum and st.state in ("partial", "filled")
    assert m.resyncs == 0 and m.matches_venue(r.now)
    assert r.counts()["fault_oe_partial"] == 1


def test_oe_swallow_ack_order_still_trades() -> None:
    r = Run(cfg_with(oe_swallow_ack=1.0))
    r.to(100)
    _ioc(r, "c1", qty=3)
    r.to(110)
    reps = _for(r, "c1")
    assert {type(x) for x in reps[:-1]} == {Fill} and isinstance(reps[-1], Done)  # no Ack
    assert reps[-1].state == "filled" and sum(x.qty for x in reps if isinstance(x, Fill)) == 3
    assert sum(f["qty"] for f in _truth_fills(r, "c1")) == 3
    st = _ask(r, QueryReq(cl="c1"))
    assert (st.state, st.cum) == ("filled", 3) and st.oid.startswith("shfe-")
    assert r.counts()["fault_oe_swallow_ack"] == 1


def test_oe_swallow_order_gets_no_reply_and_never_trades() -> None:
    r = Run(cfg_with(oe_swallow_order=1.0))
    r.to(100)
    _ioc(r, "c1")
    r.to(3000)
    assert r.replies() == []
    assert _ask(r, QueryReq(cl="c1")) == OrderStatus(cl="c1", state="unknown")
    (rec,) = r.core.truth.orders
    assert rec["cl"] == "c1" and rec["fault"] == "oe_swallow_order"
    assert r.core.truth.fills == [] and _venue_trades(r) == []
    pos = _ask(r, PositionsReq())
    assert isinstance(pos, Positions) and pos.list == []
    _ioc(r, "c1")  # the engine must never do this: the sim records it
    r.to((r.now - T0) / MS + 5)
    assert r.counts()["duplicate_client_ids"] == 1 and r.counts()["fault_oe_swallow_order"] == 2


def test_oe_duplicate_fill_same_tid_twice_truth_once() -> None:
    r = Run(cfg_with(oe_duplicate_fill=1.0))
    r.to(100)
    _ioc(r, "c1", qty=3)
    r.to(110)
    fills = [x for x in _for(r, "c1") if isinstance(x, Fill)]
    tids = [f.tid for f in fills]
    assert len(tids) == 2 * len(set(tids)) and all(tids.count(t) == 2 for t in tids)
    truth = _truth_fills(r, "c1")
    assert sorted(f["tid"] for f in truth) == sorted(set(tids))
    assert sum(f["qty"] for f in truth) == 3 and r.core.truth.positions == {"acct": {AU: 3}}
    assert sorted(t.tid for t in _venue_trades(r)) == sorted(set(tids))
    assert r.counts()["fault_oe_duplicate_fill"] == len(set(tids))


def test_oe_late_fill_after_cancel() -> None:
    r = Run(cfg_with(oe_late_fill=1.0, oe_late_fill_ms=50))
    r.to(100)
    bid = r.core.venues[SHFE].books[AU].best("B")
    r.send(SHFE, NewOrder("g1", AU, "B", bid - 30, 10, "GTC", r.now))  # rests, far away
    r.to(150)
    assert [type(x) for x in _for(r, "g1")] == [Ack]
    r.send(SHFE, CancelReq(cl="g1", ts=r.now))
    t_cancel = r.now + LAT
    r.to(400)
    timed = [(t, x) for t, _, a, x in r.oe if getattr(x, "cl", None) == "g1"]
    (t_done, done), (t_fill, fill) = timed[1], timed[2]
    assert isinstance(done, Done) and done.state == "canceled" and 1 <= done.cum < 10
    assert isinstance(fill, Fill) and fill.qty == done.cum and fill.px == bid - 30
    assert t_fill - t_done == 50 * MS  # the fill arrives after the cancel's done
    (tf,) = _truth_fills(r, "g1")
    assert (tf["qty"], tf["ts"], tf["tid"]) == (done.cum, t_cancel, fill.tid)
    assert r.core.truth.positions == {"acct": {AU: done.cum}}
    assert r.counts()["fault_oe_late_fill"] == 1


def test_oe_late_fill_of_an_ioc_after_its_done() -> None:
    r = Run(cfg_with(oe_late_fill=1.0, oe_late_fill_ms=50))
    r.to(100)
    _ioc(r, "c1", qty=3)
    r.to(300)
    timed = [(t, x) for t, _, a, x in r.oe if getattr(x, "cl", None) == "c1"]
    assert isinstance(timed[-1][1], Fill) and isinstance(timed[-2][1], Done)
    assert timed[-1][0] - timed[-2][0] == 50 * MS
    assert sum(x.qty for _, x in timed if isinstance(x, Fill)) == 3 == timed[-2][1].cum
    assert sum(f["qty"] for f in _truth_fills(r, "c1")) == 3


def test_oe_unknown_query_for_a_while() -> None:
    r = Run(cfg_with(oe_unknown_query=1.0, oe_unknown_query_ms=300))
    r.to(100)
    _ioc(r, "c1", qty=2)
    r.to(105)
    assert [type(x) for x in _for(r, "c1")] == [Ack, Fill, Done]
    assert _ask(r, QueryReq(cl="c1")) == OrderStatus(cl="c1", state="unknown")
    assert len(_venue_trades(r)) >= 1  # the order exists: its trades are listed
    r.to(450)
    st = _ask(r, QueryReq(cl="c1"))
    assert (st.state, st.cum, sum(f.qty for f in st.fills)) == ("filled", 2, 2)
    c = r.counts()
    assert c["fault_oe_unknown_query"] == 1 and c["fault_oe_unknown_query_answers"] == 1


def test_oe_disconnect_drops_both_ways_while_orders_keep_working() -> None:
    r = Run(cfg_with([{"kind": "oe_disconnect", "at_s": 0.3, "for_s": 0.5, "venue": SHFE}]))
    r.to(299.5)
    _ioc(r, "c1", qty=2)  # arrives before the drop; its reports are due after it
    r.to(500)
    _ioc(r, "c2", qty=2)  # lost on the way in
    r.send("comex", NewOrder("x1", "GCZ6", "B", r.ask_price("comex", "GCZ6"), 1, "IOC", r.now))
    r.to(1000)
    assert _for(r, "c1") == [] and _for(r, "c2") == []
    assert [type(x) for x in _for(r, "x1")] == [Ack, Fill, Done]  # comex is not affected
    assert sum(f["qty"] for f in _truth_fills(r, "c1")) == 2 and _truth_fills(r, "c2") == []
    assert [o.get("fault") for o in r.core.truth.orders if o["venue"] == SHFE] == [
        None,
        "oe_disconnect",
    ]
    st = _ask(r, QueryReq(cl="c1"))  # after the span: the venue answers again
    assert (st.state, st.cum) == ("filled", 2)
    assert {t.cl for t in _venue_trades(r)} == {"c1"}
    c = r.counts()
    assert c["fault_oe_disconnect"] == 1 and c["fault_oe_disconnect_msgs"] >= 4  # ack..done, c2


def test_oe_disconnect_rate_starts_after_an_order() -> None:
    r = Run(cfg_with(oe_disconnect=1.0, oe_disconnect_ms=200))
    r.to(100)
    _ioc(r, "c1")
    r.to(200)
    assert r.replies() == [] and len(_truth_fills(r, "c1")) >= 1
    r.to(400)
    assert _ask(r, QueryReq(cl="c1")).state == "filled"
    assert r.counts()["fault_oe_disconnect"] == 1


def test_oe_reuse_of_a_closed_client_id_on_and_off() -> None:
    for allowed in (True, False):
        r = Run(cfg_with(oe_reuse_cl=allowed))
        r.to(100)
        _ioc(r, "c1")
        r.to(110)
        _ioc(r, "c1")
        r.to(120)
        second = [x for x in _for(r, "c1") if isinstance(x, Ack | Reject)][1]
        c = r.counts()
        assert c["duplicate_client_ids"] == 1
        if allowed:
            assert isinstance(second, Ack) and c["fault_oe_reuse_cl"] == 1
            assert len({f["oid"] for f in _truth_fills(r, "c1")}) == 2
        else:
            assert isinstance(second, Reject) and second.code == "duplicate_cl"
            assert c["fault_oe_reuse_cl"] == 0
            assert len({f["oid"] for f in _truth_fills(r, "c1")}) == 1
