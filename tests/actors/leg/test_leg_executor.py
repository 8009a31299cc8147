"""LegExecutorCore driven directly with integer clocks: ids, checks, reports, unknown outcomes."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.leg.executor import LegExecutorCore
from actors.leg.orders import LegTimer
from actors.leg.pretrade import RateBucket, pretrade_reason
from tests.support.contracts import MS, au
from transports.config.engine import RiskConfig
from transports.wire.messages import (
    CancelLeg,
    Decision,
    ExecReport,
    LegOrder,
    Reduce,
    RiskView,
    SetTimer,
    Timer,
    TradingState,
)
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    CancelReq,
    Done,
    Fill,
    FillRecord,
    NewOrder,
    OrderStatus,
    QueryReq,
    Reject,
)

AU = au(fee_per_lot=10.0, max_lots_per_order=30, max_position_lots=40)


def of(out: list[tuple[str, Any]], kind: type, dest: str | None = None) -> list[Any]:
    return [m for d, m in out if isinstance(m, kind) and (dest is None or d == dest)]


def reports(out: list[tuple[str, Any]], kind: str | None = None) -> list[ExecReport]:
    return [m for m in of(out, ExecReport, "combo") if kind is None or m.kind == kind]


def alarms(out: list[tuple[str, Any]]) -> list[str]:
    return [json.loads(m.detail)["alarm"] for m in of(out, Decision, "journal")]


def core(rate: int = 200, epoch: int = 3) -> LegExecutorCore:
    return LegExecutorCore(
        "leg.shfe",
        "shfe",
        "shfe-acct",
        {"au2606": AU},
        epoch,
        RiskConfig(max_orders_per_s=rate),
        ["combo", "risk"],
        2000,
    )


def order(
    combo: int = 42,
    leg: int = 0,
    attempt: int = 0,
    side: str = "B",
    qty: int = 10,
    tif: str = "IOC",
    px: int = 30500,
    sym: str = "au2606",
    venue: str = "shfe",
    purpose: str = "entry",
) -> LegOrder:
    return LegOrder(
        combo,
        leg,
        attempt,
        venue,
        sym,
        side,
        qty,
        px,
        tif,  # type: ignore[arg-type]
        purpose,
        1,
        2,
    )  # type: ignore[arg-type]


def send(c: LegExecutorCore, o: LegOrder, now: int = 1_000) -> str:
    out = c.handle(o, now)
    (new,) = of(out, NewOrder, "@oe")
    return new.cl


def test_sent_order_has_the_deterministic_cl_and_reports_before_it_leaves() -> None:
    c = core()
    out = c.handle(order(combo=42, leg=1, attempt=2), 5_000)
    assert [d for d, _ in out] == ["combo", "risk", "@oe", "@timer"]
    new = out[2][1]
    assert new == NewOrder(
        cl="3.42.1.2", sym="au2606", side="B", px=30500, qty=10, tif="IOC", ts=5_000
    )
    assert out[3][1] == SetTimer(LegTimer.ACK, 5_000 + 2000 * MS, "3.42.1.2")
    (rep,) = reports(out, "sent")
    assert (rep.cl, rep.state, rep.qty_lots, rep.combo_id, rep.leg, rep.attempt) == (
        "3.42.1.2",
        "SUBMITTED",
        10,
        42,
        1,
        2,
    )
    assert c.snapshot()["counters"]["sent"] == 1


def test_the_same_cl_is_never_sent_twice() -> None:
    c = core()
    cl = send(c, order())
    for now in (2_000, 10**12):  # while working, and long after it closed
        out = c.handle(order(), now)
        assert not of(out, NewOrder)
        (rep,) = reports(out, "denied")
        assert rep.reason == "duplicate_cl" and rep.cl == cl
        c.handle(Fill(cl=cl, oid="X", tid="t1", px=30500, qty=10, ts=3), 3_000)
        c.handle(Done(cl=cl, oid="X", state="filled", cum=10, ts=4), 4_000)
    assert c.orders[cl].state.value == "FILLED"  # the duplicate did not touch the original
    # a denied id stays reserved too
    c.handle(TradingState("HALTED", "t", 1), 5_000)
    assert reports(c.handle(order(attempt=1), 6_000), "denied")[0].reason == "halted"
    c.handle(TradingState("ACTIVE", "t", 1), 7_000)
    assert reports(c.handle(order(attempt=1), 8_000), "denied")[0].reason == "duplicate_cl"
    assert send(c, order(attempt=2), 9_000) == "3.42.0.2"
    assert c.snapshot()["counters"]["denied"] == {"duplicate_cl": 3, "halted": 1}


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"qty": 31}, "max_lots"),
        ({"sym": "GCZ6"}, "unknown_instrument"),
        ({"venue": "comex"}, "wrong_venue"),
        ({"qty": 0}, "bad_qty"),
    ],
)
def test_denials_never_reach_the_venue(kwargs: dict[str, Any], reason: str) -> None:
    c = core()
    out = c.handle(order(**kwargs), 1_000)
    assert not [d for d, _ in out if d.startswith("@")]
    (rep,) = reports(out)
    assert (rep.kind, rep.reason, rep.state) == ("denied", reason, "DENIED")
    assert c.snapshot()["counters"]["denied"] == {reason: 1}


def test_max_position_counts_working_orders() -> None:
    c = core()
    send(c, order(attempt=0, qty=25, tif="GTC"))
    out = c.handle(order(attempt=1, qty=20), 2_000)  # 25 working + 20 > 40
    assert reports(out)[0].reason == "max_position"
    send(c, order(attempt=2, qty=15), 3_000)  # 40 is the limit itself


def test_reducing_allows_only_position_reducing_orders() -> None:
    c = core()
    cl = send(c, order(qty=10))
    c.handle(Fill(cl=cl, oid="X", tid="t1", px=30500, qty=10, ts=1), 2_000)
    c.handle(TradingState("REDUCING", "risk", 1), 3_000)
    assert reports(c.handle(order(attempt=1, side="B", qty=1), 4_000))[0].reason == "reducing"
    assert reports(c.handle(order(attempt=2, side="S", qty=11), 4_000))[0].reason == "reducing"
    send(c, order(attempt=3, side="S", qty=6), 5_000)
    # 6 already working to sell: 5 more would flip the position
    assert reports(c.handle(order(attempt=4, side="S", qty=5), 6_000))[0].reason == "reducing"
    send(c, order(attempt=5, side="S", qty=4), 7_000)


def test_rate_limit_denies_locally_and_refills_with_time() -> None:
    c = core(rate=5)
    for a in range(5):
        send(c, order(attempt=a, qty=1), 1_000)
    out = c.handle(order(attempt=5, qty=1), 1_000)
    assert reports(out)[0].reason == "rate_limit" and not of(out, NewOrder)
    assert reports(c.handle(order(attempt=6, qty=1), 1_000 + 199 * MS))[0].reason == "rate_limit"
    send(c, order(attempt=7, qty=1), 1_000 + 200 * MS)  # one token per 200 ms
    assert c.snapshot()["counters"]["sent"] == 6


def test_fill_before_ack_then_stale_ack_then_done() -> None:
    c = core()
    cl = send(c, order(qty=10))
    out = c.handle(Fill(cl=cl, oid="X1", tid="t1", px=30499, qty=4, ts=77, fee=40.0), 2_000)
    (f,) = reports(out, "fill")
    assert (
        f.state,
        f.qty_lots,
        f.cum_lots,
        f.leaves_lots,
        f.px_ticks,
        f.fee,
        f.trade_id,
        f.ts_event_ns,
    ) == ("PARTIALLY_FILLED", 4, 4, 6, 30499, 40.0, "t1", 77)
    assert of(out, ExecReport, "risk")  # every report_to gets it
    assert reports(c.handle(Ack(cl=cl, oid="X1", ts=1), 3_000)) == []
    out = c.handle(Done(cl=cl, oid="X1", state="expired", cum=4, ts=5), 4_000)
    (d,) = reports(out, "done")
    assert (d.state, d.cum_lots, d.reason) == ("EXPIRED", 4, "expired")
    assert c.positions == {"au2606": 4}


def test_duplicate_fill_is_ignored_and_counted() -> None:
    c = core()
    cl = send(c, order(side="S", qty=10))
    c.handle(Ack(cl=cl, oid="X1", ts=1), 1_500)
    f = Fill(cl=cl, oid="X1", tid="t1", px=30500, qty=3, ts=2)
    assert len(reports(c.handle(f, 2_000), "fill")) == 1
    assert reports(c.handle(f, 3_000)) == []
    # the same trade again inside a status reply: still once
    st = OrderStatus(
        cl=cl,
        state="partial",
        oid="X1",
        cum=3,
        leaves=7,
        fills=[FillRecord(cl=cl, oid="X1", tid="t1", px=30500, qty=3, ts=2)],
    )
    assert reports(c.handle(st, 4_000), "fill") == []
    snap = c.snapshot()
    assert snap["positions"] == {"au2606": -3}
    assert snap["counters"]["duplicate_fills"] == 2 and snap["counters"]["fills"] == 1


def test_late_fill_after_cancel_is_applied_and_alarmed() -> None:
    c = core()
    cl = send(c, order(qty=10, tif="GTC"))
    c.handle(Ack(cl=cl, oid="X1", ts=1), 1_500)
    out = c.handle(CancelLeg("shfe", cl), 2_000)
    assert of(out, CancelReq, "@oe") == [CancelReq(cl=cl, ts=2_000)]
    assert c.orders[cl].state.value == "PENDING_CANCEL"
    assert c.handle(CancelLeg("shfe", cl), 2_100) == []  # no cancel spam
    c.handle(Done(cl=cl, oid="X1", state="canceled", cum=0, ts=3), 3_000)
    out = c.handle(Fill(cl=cl, oid="X1", tid="late", px=30500, qty=2, ts=4), 4_000)
    (f,) = reports(out, "fill")
    assert f.reason == "late_fill" and f.cum_lots == 2
    assert "late_fill" in alarms(out)
    snap = c.snapshot()
    assert snap["positions"] == {"au2606": 2} and snap["counters"]["late_fills"] == 1
    assert snap["orders"][cl]["state"] == "CANCELED"


def test_overfill_is_applied_and_alarmed() -> None:
    c = core()
    cl = send(c, order(qty=5))
    c.handle(Fill(cl=cl, oid="X1", tid="t1", px=30500, qty=5, ts=1), 2_000)
    out = c.handle(Fill(cl=cl, oid="X1", tid="t2", px=30500, qty=2, ts=2), 3_000)
    assert reports(out, "fill")[0].cum_lots == 7
    assert "overfill" in alarms(out)
    assert c.positions["au2606"] == 7 and c.snapshot()["counters"]["overfills"] == 1
    # risk reduces: a venue that trades more than asked gets no more exposure (V08)
    (why,) = of(out, Reduce, "risk")
    assert why.reason == f"overfill:shfe: {cl} filled 7 of 5 lots"


def test_timeout_queries_and_never_resends() -> None:
    c = core()
    cl = send(c, order(qty=10), 0)
    out = c.handle(Timer(LegTimer.ACK, 2000 * MS, cl), 2000 * MS)
    assert not of(out, NewOrder)
    assert of(out, QueryReq, "@oe") == [QueryReq(cl=cl)]
    assert of(out, SetTimer) == [SetTimer(LegTimer.QUERY, 4000 * MS, cl)]
    assert "unknown_outcome" in alarms(out)
    assert c.snapshot()["orders"][cl] == {"state": "SUBMITTED", "cum": 0, "unknown": True}
    # "unknown" from the venue is NOT a reject: the flag stays, no terminal state is invented
    assert c.handle(OrderStatus(cl=cl, state="unknown"), 2100 * MS) == []
    out = c.handle(Timer(LegTimer.QUERY, 4000 * MS, cl), 4000 * MS)
    assert of(out, QueryReq) and of(out, SetTimer) == [SetTimer(LegTimer.QUERY, 8000 * MS, cl)]
    assert c.orders[cl].state.value == "SUBMITTED" and c.orders[cl].unknown
    # while the outcome is unknown the venue only takes position-reducing orders
    assert reports(c.handle(order(attempt=1), 4100 * MS))[0].reason == "venue_uncertain"
    # the venue proves the outcome: it filled
    st = OrderStatus(
        cl=cl,
        state="filled",
        oid="X1",
        cum=10,
        leaves=0,
        fills=[FillRecord(cl=cl, oid="X1", tid="t1", px=30500, qty=10, ts=5)],
    )
    out = c.handle(st, 5000 * MS)
    assert [r.kind for r in reports(out)] == ["fill", "done"]
    assert not c.orders[cl].unknown and c.orders[cl].state.value == "FILLED"
    assert c.handle(Timer(LegTimer.QUERY, 8000 * MS, cl), 8000 * MS) == []  # loop ends
    send(c, order(attempt=2), 9000 * MS)
    assert c.snapshot()["counters"]["unknown_outcomes"] == 1
    assert c.snapshot()["counters"]["sent"] == 2


def test_query_loop_is_bounded_and_alarms_once() -> None:
    c = LegExecutorCore(
        "leg.shfe",
        "shfe",
        "acct",
        {"au2606": AU},
        1,
        RiskConfig(),
        ["combo"],
        100,
        max_queries=3,
        max_query_interval_ms=250,
    )
    cl = send(c, order(), 0)
    due = [
        t.due_ns
        for t in of(c.handle(Timer(LegTimer.ACK, 100 * MS, cl), 100 * MS), SetTimer)
        if (t.key, t.arg) == (LegTimer.QUERY, cl)
    ]
    n_queries, seen = 1, []
    for _ in range(6):
        out = c.handle(Timer(LegTimer.QUERY, due[-1], cl), due[-1])
        n_queries += len(of(out, QueryReq))
        seen += alarms(out)
        due += [t.due_ns for t in of(out, SetTimer)]
    assert n_queries == 3 and seen == ["unresolved"]
    assert [d - a for a, d in itertools.pairwise(due)] == [200 * MS, 250 * MS]
    assert c.orders[cl].unknown and c.orders[cl].state.value == "SUBMITTED"


def test_timer_after_ack_does_nothing() -> None:
    c = core()
    cl = send(c, order(), 0)
    c.handle(Ack(cl=cl, oid="X1", ts=1), 1 * MS)
    assert c.handle(Timer(LegTimer.ACK, 2000 * MS, cl), 2000 * MS) == []


def test_halted_cancels_working_orders_and_denies_new_ones() -> None:
    c = core()
    gtc = send(c, order(attempt=0, tif="GTC", qty=3))
    c.handle(Ack(cl=gtc, oid="X1", ts=1), 1_100)
    done = send(c, order(attempt=1, qty=2), 1_200)
    c.handle(Fill(cl=done, oid="X2", tid="t1", px=30500, qty=2, ts=2), 1_300)
    out = c.handle(TradingState("HALTED", "kill", 5), 2_000)
    assert of(out, CancelReq, "@oe") == [CancelReq(cl=gtc, ts=2_000)]
    assert reports(c.handle(order(attempt=2, side="S", qty=1), 3_000))[0].reason == "halted"
    # the cancel is not answered: the outcome becomes unknown and is queried, not assumed
    out = c.handle(Timer(LegTimer.CANCEL, 2_000 + 2000 * MS, gtc), 2_000 + 2000 * MS)
    assert of(out, QueryReq) == [QueryReq(cl=gtc)]
    assert c.orders[gtc].state.value == "PENDING_CANCEL"
    # the venue says it still works: the lost cancel is repeated (a cancel is always safe)
    out = c.handle(OrderStatus(cl=gtc, state="new", oid="X1", leaves=3), 2_000 + 2100 * MS)
    assert of(out, CancelReq) == [CancelReq(cl=gtc, ts=2_000 + 2100 * MS)]
    out = c.handle(Done(cl=gtc, oid="X1", state="canceled", cum=0, ts=9), 2_000 + 2200 * MS)
    assert reports(out, "done")[0].state == "CANCELED" and c.open_orders() == []


def test_cancel_reject_restores_state_and_queries() -> None:
    c = core()
    cl = send(c, order(tif="GTC"))
    c.handle(Ack(cl=cl, oid="X1", ts=1), 1_100)
    c.handle(CancelLeg("shfe", cl), 1_200)
    out = c.handle(CancelReject(cl=cl, code="too_late", reason="filled", ts=2), 1_300)
    assert reports(out, "cancel_reject")[0].state == "ACCEPTED"
    assert of(out, QueryReq) == [QueryReq(cl=cl)]


def test_reject_is_definitive() -> None:
    c = core()
    cl = send(c, order())
    out = c.handle(Reject(cl=cl, code="margin", reason="no margin", ts=1), 1_100)
    (r,) = reports(out, "rejected")
    assert (r.state, r.reason) == ("REJECTED", "margin:no margin")
    assert c.snapshot()["counters"]["rejects"] == 1


def test_illegal_transition_is_alarmed_and_the_fill_kept() -> None:
    c = core()
    cl = send(c, order())
    c.handle(Reject(cl=cl, code="x", reason="y", ts=1), 1_100)
    out = c.handle(Fill(cl=cl, oid="X1", tid="t1", px=30500, qty=1, ts=2), 1_200)
    assert len(reports(out, "fill")) == 1 and c.positions == {"au2606": 1}
    assert "illegal_transition" in alarms(out)
    assert c.snapshot()["counters"]["illegal_transitions"] == 1


def test_reports_for_unknown_orders_are_alarmed() -> None:
    c = core()
    out = c.handle(Fill(cl="9.9.9.9", oid="?", tid="t1", px=1, qty=1, ts=1), 1_000)
    assert alarms(out) == ["unknown_fill"] and c.positions == {}
    assert alarms(c.handle(Ack(cl="9.9.9.9", oid="?", ts=1), 1_000)) == ["unknown_cl"]
    assert c.snapshot()["counters"]["unknown_reports"] == 2


def test_done_ahead_of_its_fills_queries_for_them() -> None:
    c = core()
    cl = send(c, order(qty=10))
    out = c.handle(Done(cl=cl, oid="X1", state="filled", cum=10, ts=1), 1_100)
    (d,) = reports(out, "done")
    assert (d.state, d.cum_lots) == ("FILLED", 10)  # the venue's final quantity
    assert of(out, QueryReq) == [QueryReq(cl=cl)]
    out = c.handle(Fill(cl=cl, oid="X1", tid="t1", px=30500, qty=10, ts=2), 1_200)
    assert len(reports(out, "fill")) == 1 and c.positions == {"au2606": 10}
    assert c.handle(Timer(LegTimer.QUERY, 10**12, cl), 10**12) == []


def test_flatten_orders_go_through_the_checks() -> None:
    c = core()
    cl = send(c, order(qty=7))
    c.handle(Fill(cl=cl, oid="X1", tid="t1", px=30500, qty=7, ts=2), 1_200)
    (fo,) = c.flatten_orders(2_000, {"au2606": 30400}, combo_id=-1)
    assert (fo.side, fo.qty_lots, fo.px_ticks, fo.purpose) == ("S", 7, 30400, "flatten")
    c.handle(TradingState("REDUCING", "r", 1), 2_100)
    assert of(c.handle(fo, 2_200), NewOrder)[0].cl == "3.-1.0.0"


def test_snapshot_keys() -> None:
    snap = core().snapshot()
    assert {"orders", "positions", "counters"} <= set(snap)
    assert {
        "sent",
        "denied",
        "rejects",
        "fills",
        "duplicate_fills",
        "late_fills",
        "overfills",
        "illegal_transitions",
        "unknown_outcomes",
    } <= set(snap["counters"])


# --- the optimised order path against the original rules ---------------------------------------

_TOKEN = 1_000_000_000


class _ReferenceBucket:
    """RateBucket as it was: min/max over the refill, one token per order."""

    def __init__(self, rate_per_s: int) -> None:
        self._rate = rate_per_s
        self._tokens = rate_per_s * _TOKEN
        self._last_ns: int | None = None

    def take(self, now_ns: int) -> bool:
        last = now_ns if self._last_ns is None else self._last_ns
        if now_ns > last:
            self._tokens = min(self._rate * _TOKEN, self._tokens + (now_ns - last) * self._rate)
        self._last_ns = max(now_ns, last)
        if self._tokens < _TOKEN:
            return False
        self._tokens -= _TOKEN
        return True


def _reference_reason(o, *, venue, contract, trading_state, position, working_same_side,
                      uncertain, bucket, now_ns):
    """pretrade_reason as it was (``reduces`` always worked out)."""
    if o.venue != venue:
        return "wrong_venue"
    if contract is None:
        return "unknown_instrument"
    if o.qty_lots <= 0:
        return "bad_qty"
    if trading_state == "HALTED":
        return "halted"
    sign = 1 if o.side == "B" else -1
    reducing = position * sign < 0 and working_same_side + o.qty_lots <= abs(position)
    if trading_state == "REDUCING" and not reducing:
        return "reducing"
    if uncertain and not reducing:
        return "venue_uncertain"
    if o.qty_lots > contract.max_lots_per_order:
        return "max_lots"
    worst = position + sign * (working_same_side + o.qty_lots)
    if abs(worst) > contract.max_position_lots and abs(worst) > abs(position):
        return "max_position"
    if not bucket.take(now_ns):
        return "rate_limit"
    return ""


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 50), st.lists(st.integers(-3 * MS, 400 * MS), max_size=80))
def test_rate_bucket_takes_like_the_original(rate: int, steps: list[int]) -> None:
    got, want = RateBucket(rate), _ReferenceBucket(rate)
    now = 10**12
    for dt in steps:  # time may stand still or step back: neither refills
        now += dt
        assert got.take(now) == want.take(now)
        assert (got._tokens, got._last_ns) == (want._tokens, want._last_ns)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["shfe", "comex"]),
    st.booleans(),
    st.sampled_from(["B", "S"]),
    st.integers(-2, 50),
    st.sampled_from(["ACTIVE", "REDUCING", "HALTED"]),
    st.integers(-60, 60),
    st.integers(0, 40),
    st.booleans(),
    st.integers(1, 3),
)
def test_pretrade_reason_is_the_original_rules(
    venue: str, known: bool, side: str, qty: int, state: str, position: int, working: int,
    uncertain: bool, rate: int,
) -> None:
    o = order(side=side, qty=qty, venue=venue)
    contract = AU if known else None
    b_got, b_want = RateBucket(rate), _ReferenceBucket(rate)
    for now in (1_000, 1_001, 1_002, 1_003):  # the bucket runs dry after ``rate`` orders
        got = pretrade_reason(o, "shfe", contract, state, position, working, uncertain, b_got,
                              now)
        want = _reference_reason(o, venue="shfe", contract=contract, trading_state=state,
                                 position=position, working_same_side=working,
                                 uncertain=uncertain, bucket=b_want, now_ns=now)
        assert got == want
        assert b_got._tokens == b_want._tokens


VENUE_REPLIES = st.lists(
    st.tuples(
        st.integers(0, 7),  # which order
        st.sampled_from(["ack", "fill", "done_filled", "done_expired", "reject", "cancel",
                         "cancel_reject", "status_unknown", "status_partial", "timer_ack",
                         "timer_query", "halt", "active"]),
        st.integers(1, 12),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["B", "S"]), st.integers(1, 12)), min_size=1,
                max_size=8), VENUE_REPLIES)
def test_open_and_unknown_sets_always_match_the_orders(
    orders_: list[tuple[str, int]], replies: list[tuple[int, str, int]]
) -> None:
    """The executor's open / unknown-outcome indexes (kept inline on the order path) are at
    every step exactly the orders that are open / whose outcome is unknown."""
    c = core(rate=1000)
    now = 1_000
    cls: list[str] = []

    def check() -> None:
        assert c.book.open == {cl: lo for cl, lo in c.orders.items() if lo.is_open}
        assert c.book.unknown == {cl for cl, lo in c.orders.items() if lo.unknown}

    for k, (side, qty) in enumerate(orders_):
        now += 1
        out = c.handle(order(combo=k, side=side, qty=qty), now)
        cls += [m.cl for m in of(out, NewOrder, "@oe")]
        check()
    tid = itertools.count()
    for i, what, n in replies:
        if not cls:
            break
        cl = cls[i % len(cls)]
        now += 500 * MS
        msg: Any = {
            "ack": Ack(cl=cl, oid="o", ts=now),
            "fill": Fill(cl=cl, oid="o", tid=f"t{next(tid)}", px=30500, qty=n, ts=now),
            "done_filled": Done(cl=cl, oid="o", state="filled", cum=n, ts=now),
            "done_expired": Done(cl=cl, oid="o", state="expired", cum=n // 2, ts=now),
            "reject": Reject(cl=cl, code="R", reason="x", ts=now),
            "cancel": CancelLeg("shfe", cl),
            "cancel_reject": CancelReject(cl=cl, code="c", reason="x", ts=now),
            "status_unknown": OrderStatus(cl=cl, state="unknown"),
            "status_partial": OrderStatus(cl=cl, state="partial", oid="o", cum=n),
            "timer_ack": Timer(LegTimer.ACK, now, cl),
            "timer_query": Timer(LegTimer.QUERY, now, cl),
            "halt": TradingState("HALTED", "x", now),
            "active": TradingState("ACTIVE", "x", now),
        }[what]
        c.handle(msg, now)
        check()


@pytest.mark.parametrize("purpose", ["entry", "chase", "unwind"])
def test_the_sent_report_is_the_generic_report(purpose: str) -> None:
    """The order path builds its "sent" ExecReport inline; it must be ``reports.emit``'s own."""
    c = core()
    out = c.handle(order(qty=7, purpose=purpose), 1_234)
    sent = [(d, m) for d, m in out if isinstance(m, ExecReport)]
    lo = c.orders["3.42.0.0"]
    assert sent == c.reports.emit(lo, "sent", 1_234, reason=purpose)
    assert [type(m).__name__ for _, m in out] == ["ExecReport", "ExecReport", "NewOrder",
                                                  "SetTimer"]
    (_, rep), _ = sent
    assert (rep.qty_lots, rep.cum_lots, rep.leaves_lots, rep.state) == (7, 0, 7, "SUBMITTED")


_LOT_CNY = 30500 * 0.02 * 1000  #: one au2606 lot at 30500 ticks


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["gross", "margin"]),
    st.integers(min_value=0, max_value=8),  # lots another venue holds (2M CNY each)
    st.integers(min_value=1, max_value=3),  # executors sharing the headroom
    st.lists(st.tuples(st.sampled_from(["new", "fill", "done"]), st.sampled_from(["B", "S"]),
                       st.integers(min_value=1, max_value=30)), max_size=40),
)
def test_budget_checks_keep_the_true_budget_within_the_limit(
        budget: str, other_lots: int, split: int, steps: list[tuple[str, str, int]]) -> None:
    """Whatever the executor sends, fills and closes, its venue's gross notional (or margin)
    never exceeds its share of the headroom the view left under the limit (so the venues
    together never exceed it): working orders and own fills are counted, and reducing orders
    (which pass) never grow it."""
    limit = 20_000_000.0
    other = other_lots * 2_000_000.0
    risk = RiskConfig(max_gross_notional=limit) if budget == "gross" else \
        RiskConfig(margin_capital=limit * 0.1)  # margin_rate 0.1: the same budget in margin
    c = LegExecutorCore("leg.shfe", "shfe", "acct", {"au2606": AU}, 1, risk, ["combo"], 2000)
    c.handle(RiskView({}, 0, gross_notional=other, margin_used=other * 0.1,
                      positions={"comex:GCZ6": other_lots},
                      lot_notional={"comex:GCZ6": 2_000_000.0}, budget_venues=split), 0)
    tid = itertools.count()
    for i, (what, side, n) in enumerate(steps):
        now = (i + 1) * 10**9  # one order per second: never rate limited
        live = c.open_orders()
        if what == "new":
            c.handle(order(combo=i, side=side, qty=n, tif="GTC"), now)
        elif live:
            lo = live[n % len(live)]
            if what == "fill":
                q = min(n, lo.leaves_lots)
                c.handle(Fill(cl=lo.cl, oid="o", tid=f"t{next(tid)}", px=30500, qty=q, ts=now),
                         now)
            else:
                c.handle(Done(cl=lo.cl, oid="o", state="canceled", cum=lo.cum_lots, ts=now), now)
        own = abs(c.positions.get("au2606", 0)) * _LOT_CNY
        assert own <= (limit - other) / split + 1e-6  # its share of the headroom, at most
