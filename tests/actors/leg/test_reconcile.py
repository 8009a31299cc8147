"""Unknown outcomes resolved (inferred rejects, real statuses, halt) and oe reconnect
reconciliation, driving ``LegExecutorCore`` directly with integer clocks."""

from __future__ import annotations

import json
from typing import Any

from actors.leg.executor import LegExecutorCore
from actors.leg.orders import LegTimer
from tests.support.contracts import MS, au
from transports.config.engine import RiskConfig
from transports.wire.messages import (
    CancelLeg,
    Decision,
    ExecReport,
    Halt,
    LegOrder,
    Position,
    SetTimer,
    Timer,
)
from transports.wire.venue_msgs import (
    Ack,
    CancelReq,
    Done,
    Fill,
    FillRecord,
    NewOrder,
    OpenOrderRecord,
    OpenOrders,
    OpenOrdersReq,
    OrderStatus,
    Ping,
    Pong,
    PositionRecord,
    Positions,
    PositionsReq,
    QueryReq,
    Trades,
    TradesReq,
)

AU = au(max_lots_per_order=30, max_position_lots=40)


def of(out: list[tuple[str, Any]], kind: type, dest: str | None = None) -> list[Any]:
    return [m for d, m in out if isinstance(m, kind) and (dest is None or d == dest)]


def reports(out: list[tuple[str, Any]], kind: str | None = None) -> list[ExecReport]:
    return [m for m in of(out, ExecReport, "combo") if kind is None or m.kind == kind]


def alarms(out: list[tuple[str, Any]]) -> list[str]:
    return [json.loads(m.detail).get("alarm", m.what) for m in of(out, Decision, "journal")]


def core(link: bool = False) -> LegExecutorCore:
    return LegExecutorCore("leg.shfe", "shfe", "acct", {"au2606": AU}, 3, RiskConfig(),
                           ["combo", "risk"], 2000, oe_link=link,
                           unknown_bound_ms=3000, unknown_halt_ms=15_000)


def order(attempt: int = 0, side: str = "B", qty: int = 10, combo: int = 42) -> LegOrder:
    return LegOrder(combo, 0, attempt, "shfe", "au2606", side, qty, 30500, "IOC",  # type: ignore[arg-type]
                    "entry", 1, 2)


def send(c: LegExecutorCore, o: LegOrder, now: int) -> str:
    (new,) = of(c.handle(o, now), NewOrder, "@oe")
    return str(new.cl)


def nf(c: LegExecutorCore, cl: str, now: int) -> list[tuple[str, Any]]:
    return c.handle(OrderStatus(cl=cl, state="unknown"), now)


def test_not_found_becomes_an_inferred_reject_only_after_the_bound_and_agreement() -> None:
    c = core()
    cl = send(c, order(), 0)
    c.handle(Timer(LegTimer.ACK, 2000 * MS, cl), 2000 * MS)
    assert c.orders[cl].unknown
    # before the bound (3 s since the send) "not found" means nothing, however often
    for t in (2100, 2500, 2999):
        assert nf(c, cl, t * MS) == []
    assert c.orders[cl].state.value == "SUBMITTED"
    # after the bound: the first, then 2 further agreeing answers; each brings the query forward
    out = nf(c, cl, 3000 * MS)
    assert of(out, SetTimer) == [SetTimer(LegTimer.QUERY, 3500 * MS, cl)] and not reports(out)
    out = nf(c, cl, 3500 * MS)
    assert not reports(out) and c.orders[cl].state.value == "SUBMITTED"
    out = nf(c, cl, 4000 * MS)
    (rej,) = reports(out)
    assert (rej.kind, rej.reason, rej.state) == ("rejected", "inferred", "REJECTED")
    assert "inferred_reject" in alarms(out)
    snap = c.snapshot()["counters"]
    assert snap["inferred_rejects"] == 1 and snap["unresolved"] == 0
    # never resent; the timers find nothing to do; trading resumes
    assert not of(c.handle(Timer(LegTimer.QUERY, 5000 * MS, cl), 5000 * MS), QueryReq)
    assert c.handle(Timer(LegTimer.UNKNOWN_HALT, 17000 * MS, cl), 17000 * MS) == []
    assert of(c.handle(order(attempt=1), 5000 * MS), NewOrder, "@oe")


def test_an_inferred_reject_the_venue_contradicts_is_reconciled_and_its_fill_kept() -> None:
    c = core()
    cl = send(c, order(), 0)
    c.handle(Timer(LegTimer.ACK, 2000 * MS, cl), 2000 * MS)
    for t in (3000, 3500, 4000):
        nf(c, cl, t * MS)
    assert c.orders[cl].state.value == "REJECTED" and c.orders[cl].inferred
    out = c.handle(Fill(cl=cl, oid="X", tid="t1", px=30500, qty=10, ts=5), 6000 * MS)
    assert "inferred_reject_reconciled" in alarms(out)
    assert [r.kind for r in reports(out)] == ["fill"]
    assert c.orders[cl].state.value == "FILLED" and c.positions["au2606"] == 10
    assert "illegal_transition" not in alarms(out)
    assert c.snapshot()["counters"]["inferred_reconciled"] == 1


def test_not_found_never_infers_for_an_order_the_venue_proved() -> None:
    c = core()
    cl = send(c, order(), 0)
    c.handle(Ack(cl=cl, oid="X", ts=1), 10 * MS)
    c.handle(CancelLeg_(cl), 20 * MS)
    c.handle(Timer(LegTimer.CANCEL, 2020 * MS, cl), 2020 * MS)  # the cancel got no answer: unknown
    assert c.orders[cl].unknown
    for t in (4000, 5000, 6000, 7000):
        assert not reports(nf(c, cl, t * MS))
    assert c.orders[cl].state.value == "PENDING_CANCEL"


def CancelLeg_(cl: str) -> CancelLeg:
    return CancelLeg("shfe", cl)


def test_a_real_status_resolves_the_unknown_and_applies_its_fills_once() -> None:
    c = core()
    cl = send(c, order(), 0)
    c.handle(Timer(LegTimer.ACK, 2000 * MS, cl), 2000 * MS)
    rec = FillRecord(cl=cl, oid="X", tid="t1", px=30500, qty=4, ts=5)
    st = OrderStatus(cl=cl, state="canceled", oid="X", cum=4, fills=[rec])
    out = c.handle(st, 2500 * MS)
    assert [r.kind for r in reports(out)] == ["fill", "done"]
    assert not c.orders[cl].unknown and c.orders[cl].state.value == "CANCELED"
    # the same fill again (the live report, late): deduped by trade id
    out = c.handle(Fill(cl=cl, oid="X", tid="t1", px=30500, qty=4, ts=5), 2600 * MS)
    assert not reports(out, "fill") and c.positions["au2606"] == 4
    assert c.snapshot()["counters"]["unresolved"] == 0


def test_venue_uncertain_denies_increasing_but_passes_reducing_orders_and_cancels() -> None:
    c = core()
    a = send(c, order(combo=1), 0)
    c.handle(Fill(cl=a, oid="X", tid="t1", px=30500, qty=10, ts=1), 1 * MS)
    c.handle(Done(cl=a, oid="X", state="filled", cum=10, ts=1), 1 * MS)
    g = send(c, LegOrder(2, 0, 0, "shfe", "au2606", "B", 1, 30000, "GTC", "entry", 1, 2), 2 * MS)
    c.handle(Ack(cl=g, oid="G", ts=1), 3 * MS)
    u = send(c, order(combo=3), 4 * MS)
    c.handle(Timer(LegTimer.ACK, 2004 * MS, u), 2004 * MS)
    assert c.snapshot()["counters"]["unresolved"] == 1
    (den,) = reports(c.handle(order(combo=4), 2100 * MS))
    assert (den.kind, den.reason) == ("denied", "venue_uncertain")
    out = c.handle(order(combo=5, side="S", qty=5), 2200 * MS)  # reduces the +10
    assert of(out, NewOrder, "@oe")
    assert of(c.handle(CancelLeg_(g), 2300 * MS), CancelReq, "@oe")
    # resolved: trading resumes
    c.handle(OrderStatus(cl=u, state="canceled", oid="U", cum=0), 2400 * MS)
    assert of(c.handle(order(combo=6), 2500 * MS), NewOrder, "@oe")


def test_an_outcome_unknown_past_the_halt_limit_asks_risk_to_halt() -> None:
    c = core()
    cl = send(c, order(), 0)
    out = c.handle(Timer(LegTimer.ACK, 2000 * MS, cl), 2000 * MS)
    assert SetTimer(LegTimer.UNKNOWN_HALT, 17000 * MS, cl) in of(out, SetTimer)
    out = c.handle(Timer(LegTimer.UNKNOWN_HALT, 17000 * MS, cl), 17000 * MS)
    assert of(out, Halt, "risk") == [Halt(f"unresolved_unknown:{cl}")]
    assert c.snapshot()["counters"]["unknown_halts"] == 1


def _start(c: LegExecutorCore, now: int) -> None:
    out = c.on_start(now)
    assert [type(m) for _, m in out if _ == "@oe"] == [Ping, OpenOrdersReq, TradesReq,
                                                      PositionsReq]
    assert reports(c.handle(order(combo=99), now))[0].reason == "reconciling"
    c.handle(OpenOrders(list=[]), now)
    c.handle(Trades(list=[]), now)
    out = c.handle(Positions(list=[]), now)
    assert "reconciled" in [m.what for m in of(out, Decision, "journal")]
    assert c.gate == ""


def test_start_adopts_positions_and_cancels_orphans() -> None:
    c = core(link=True)
    c.on_start(0)
    orphan = OpenOrderRecord(cl="2.5.0.0", oid="o1", sym="au2606", side="B", px=1, qty=1, cum=0)
    out = c.handle(OpenOrders(list=[orphan]), 1 * MS)
    assert of(out, CancelReq, "@oe") == [CancelReq(cl="2.5.0.0", ts=1 * MS)]
    assert of(out, OpenOrdersReq, "@oe")  # asked again: trading waits until the orphan is gone
    old = FillRecord(cl="2.5.0.0", oid="o1", tid="old", px=1, qty=3, ts=7)
    assert not reports(c.handle(Trades(list=[old]), 1 * MS))  # a previous incarnation's
    assert c.gate == "reconciling"
    c.handle(Positions(list=[PositionRecord("au2606", 3)]), 1 * MS)
    assert c.gate == "reconciling" and c.positions == {"au2606": 3}
    out = c.handle(OpenOrders(list=[]), 2 * MS)
    assert c.gate == "" and c.positions == {"au2606": 3}
    assert of(out, Position, "risk") == [Position("shfe", "au2606", 3, 2 * MS)]


def test_disconnect_reconcile_recovers_a_missed_fill_exactly_once() -> None:
    c = core(link=True)
    _start(c, 0)
    c.handle(Pong(ts=1, echo=0), 1 * MS)
    cl = send(c, order(), 100 * MS)
    c.handle(Ack(cl=cl, oid="X", ts=1), 101 * MS)
    # the oe link drops: no pong for 1.5 s
    c.handle(Timer(LegTimer.PING, 1000 * MS), 1000 * MS)
    out = c.handle(Timer(LegTimer.PING, 2000 * MS), 2000 * MS)
    assert "oe_disconnected" in alarms(out) and c.orders[cl].unknown
    (den,) = reports(c.handle(order(combo=7, side="S", qty=1), 2100 * MS))
    assert den.reason == "disconnected"
    # pongs resume: reconcile before trading
    out = c.handle(Pong(ts=2, echo=0), 2200 * MS)
    assert [type(m) for _, m in out if _ == "@oe"] == [OpenOrdersReq, TradesReq, PositionsReq]
    assert reports(c.handle(order(combo=8), 2210 * MS))[0].reason == "reconciling"
    missed = FillRecord(cl=cl, oid="X", tid="t9", px=30500, qty=10, ts=150 * MS)
    c.handle(OpenOrders(list=[]), 2300 * MS)
    out = c.handle(Trades(list=[missed]), 2300 * MS)
    (f,) = reports(out, "fill")
    assert (f.trade_id, f.qty_lots) == ("t9", 10)
    assert of(out, ExecReport, "risk")  # risk sees it too
    out = c.handle(Positions(list=[PositionRecord("au2606", 10)]), 2300 * MS)
    assert "position_mismatch" not in alarms(out) and c.gate == ""
    # the live reports of that fill arrive late: nothing is applied twice
    out = c.handle(Fill(cl=cl, oid="X", tid="t9", px=30500, qty=10, ts=150 * MS), 2400 * MS)
    assert not reports(out, "fill")
    c.handle(Done(cl=cl, oid="X", state="filled", cum=10, ts=1), 2400 * MS)
    assert c.positions == {"au2606": 10} and c.snapshot()["counters"]["recovered_fills"] == 1
    assert c.snapshot()["counters"]["unresolved"] == 0
    # the next reconciliation asks only for trades since the last fill
    c.handle(Timer(LegTimer.PING, 4500 * MS), 4500 * MS)
    out = c.handle(Pong(ts=3, echo=0), 4600 * MS)
    assert TradesReq(since=150 * MS) in of(out, TradesReq)


def test_a_position_mismatch_after_reconnect_is_alarmed() -> None:
    c = core(link=True)
    _start(c, 0)
    c.handle(Timer(LegTimer.PING, 2000 * MS), 2000 * MS)
    c.handle(Pong(ts=1, echo=0), 2100 * MS)
    c.handle(OpenOrders(list=[]), 2200 * MS)
    c.handle(Trades(list=[]), 2200 * MS)
    out = c.handle(Positions(list=[PositionRecord("au2606", -2)]), 2200 * MS)
    assert "position_mismatch" in alarms(out)
    assert c.snapshot()["counters"]["position_mismatches"] == 1


def test_a_position_mismatch_after_reconnect_is_adopted_and_risk_hears_the_venues_figure() -> None:
    c = core(link=True)
    _start(c, 0)
    c.handle(Timer(LegTimer.PING, 2000 * MS), 2000 * MS)
    c.handle(Pong(ts=1, echo=0), 2100 * MS)
    c.handle(OpenOrders(list=[]), 2200 * MS)
    c.handle(Trades(list=[]), 2200 * MS)
    out = c.handle(Positions(list=[PositionRecord("au2606", -2)]), 2200 * MS)
    assert "position_mismatch" in alarms(out)
    # the venue's account is the truth: the executor holds it and risk is told it
    assert c.positions == {"au2606": -2} and c.gate == ""
    assert of(out, Position, "risk") == [Position("shfe", "au2606", -2, 2200 * MS)]


def test_a_later_start_adopts_its_previous_incarnations_orders_from_their_trades() -> None:
    """The fail-over drill's lost close: the old primary sent a reducing order without a
    replicated intent; the survivor's start finds it only in the venue's trades. Its fills are
    reported (the ComboExecutor adopts the combo), so the positions agree with the venue's."""
    import pickle

    c = core(link=True)
    _start(c, 1_000 * MS)  # the lineage's first start
    cl = send(c, order(combo=4, qty=10), 1_100 * MS)
    c.handle(Fill(cl=cl, oid="X", tid="t1", px=30500, qty=10, ts=1_150 * MS), 1_160 * MS)
    c.handle(Done(cl=cl, oid="X", state="filled", cum=10, ts=1), 1_160 * MS)
    # a checkpoint (or the standby's replay) carries the lineage's start; then a take-over
    c = pickle.loads(pickle.dumps(c)).restarted()
    c.on_start(5_000 * MS)
    c.handle(OpenOrders(list=[]), 5_001 * MS)
    close = [FillRecord(cl="1.6.0.0", oid="Y", tid="t2", px=30490, qty=6, ts=1_200 * MS,
                        sym="au2606", side="S"),
             FillRecord(cl="1.6.0.0", oid="Y", tid="t3", px=30489, qty=4, ts=1_201 * MS,
                        sym="au2606", side="S")]
    before = FillRecord(cl="1.2.0.0", oid="Z", tid="t0", px=30400, qty=3, ts=900 * MS,
                        sym="au2606", side="B")  # older than the lineage: a previous run's
    foreign = FillRecord(cl="manual-7", oid="M", tid="t4", px=30400, qty=1, ts=1_300 * MS,
                         sym="au2606", side="B")
    no_sym = FillRecord(cl="1.8.0.0", oid="N", tid="t5", px=30400, qty=1, ts=1_300 * MS)
    out = c.handle(Trades(list=[before, *close, foreign, no_sym]), 5_001 * MS)
    fills = reports(out, "fill")
    assert [(f.combo_id, f.leg, f.side, f.qty_lots, f.trade_id) for f in fills] == [
        (6, 0, "S", 6, "t2"), (6, 0, "S", 4, "t3")]
    assert fills[-1].state == "FILLED" and of(out, ExecReport, "risk")
    assert alarms(out).count("trade_adopted") == 1
    assert c.positions == {"au2606": 0}
    # the venue's positions (the close included) agree: no mismatch, nothing to adopt there
    out = c.handle(Positions(list=[]), 5_002 * MS)
    assert "position_mismatch" not in alarms(out) and c.gate == ""
    (rec,) = [json.loads(m.detail) for m in of(out, Decision, "journal") if m.what == "reconciled"]
    assert rec["adopted_orders"] == ["1.6.0.0"]
    assert c.snapshot()["counters"]["adopted_orders"] == 1
    # the same trades listed again (a re-ask) apply nothing twice
    assert not reports(c.handle(Trades(list=close), 5_003 * MS), "fill")


def test_the_first_start_adopts_no_unknown_trade() -> None:
    c = core(link=True)
    c.on_start(1_000 * MS)
    c.handle(OpenOrders(list=[]), 1_001 * MS)
    old = FillRecord(cl="1.6.0.0", oid="Y", tid="t2", px=30490, qty=6, ts=2_000 * MS,
                     sym="au2606", side="S")  # even one stamped later (the venue's clock)
    assert not reports(c.handle(Trades(list=[old]), 1_001 * MS))
    c.handle(Positions(list=[PositionRecord("au2606", -6)]), 1_002 * MS)
    assert c.positions == {"au2606": -6} and c.gate == ""


def test_the_answer_to_the_fencing_probe_is_no_unknown_report() -> None:
    """The shell's fencing probe (``FENCE_PROBE_CL``, a hot standby's) names no order: its
    ``cancel_reject`` is ignored, where any other unknown client id is alarmed."""
    from transports.wire.venue_msgs import FENCE_PROBE_CL, CancelReject

    c = core(link=True)
    _start(c, 0)
    out = c.handle(CancelReject(cl="9.9.9.9", code="unknown_order", reason="no such order",
                                ts=1), 1 * MS)
    assert alarms(out) and c.snapshot()["counters"]["unknown_reports"] == 1
    out = c.handle(CancelReject(cl=FENCE_PROBE_CL, code="unknown_order",
                                reason="no such order", ts=2), 2 * MS)
    assert out == [] and c.snapshot()["counters"]["unknown_reports"] == 1


def _check(c: LegExecutorCore, now: int) -> list[tuple[str, Any]]:
    return c.handle(Timer(LegTimer.POSITIONS, now), now)


def test_a_position_that_moves_without_us_is_found_by_the_periodic_check() -> None:
    """Reliability V13: another session on the account buys 2 lots while the link is up. The
    check asks the positions every ``check_every_ns``; the same difference twice, with nothing
    traded in between, is a drift: alarmed, reconciled, adopted and told to risk."""
    c = core(link=True)
    c.handle(Pong(ts=0, echo=0), 0)
    out = c.on_start(0)
    c.handle(OpenOrders(list=[]), 0)
    c.handle(Trades(list=[]), 0)
    out = c.handle(Positions(list=[]), 0)
    every = c.reconciler.check_every_ns
    assert SetTimer(LegTimer.POSITIONS, every) in of(out, SetTimer, "@timer")
    out = _check(c, every)
    assert of(out, PositionsReq, "@oe") and c.gate == ""  # asked, trading goes on
    assert SetTimer(LegTimer.POSITIONS, 2 * every) in of(out, SetTimer, "@timer")
    assert not alarms(c.handle(Positions(list=[]), every))  # agrees: nothing
    _check(c, 2 * every)
    foreign = Positions(list=[PositionRecord("au2606", 2)])
    assert not alarms(c.handle(foreign, 2 * every))  # first sighting: a report may be in flight
    _check(c, 3 * every)
    out = c.handle(foreign, 3 * every)
    assert "position_drift" in alarms(out) and c.gate == "reconciling"
    assert [type(m) for d, m in out if d == "@oe"] == [OpenOrdersReq, TradesReq, PositionsReq]
    c.handle(OpenOrders(list=[]), 3 * every)
    c.handle(Trades(list=[]), 3 * every)
    out = c.handle(foreign, 3 * every)
    assert c.positions == {"au2606": 2} and c.gate == ""
    assert of(out, Position, "risk") == [Position("shfe", "au2606", 2, 3 * every)]
    assert c.snapshot()["counters"]["position_drifts"] == 1


def test_the_check_asks_nothing_while_orders_work_and_ignores_an_answer_a_fill_overtook() -> None:
    c = core(link=True)
    _start(c, 0)
    every = c.reconciler.check_every_ns
    cl = send(c, order(), 10 * MS)
    assert not of(_check(c, every), PositionsReq)  # an order works: its fills would race
    c.handle(Fill(cl=cl, oid="X", tid="t1", px=30500, qty=10, ts=1), every + 1)
    c.handle(Done(cl=cl, oid="X", state="filled", cum=10, ts=1), every + 1)
    assert of(_check(c, 2 * every), PositionsReq)
    c.reconciler.check_fills -= 1  # a fill arrived between the ask and the answer
    stale = Positions(list=[])  # the venue's answer, taken before that fill
    assert not c.handle(stale, 2 * every)
    assert c.reconciler.drift == ""  # not even a first sighting: it proves nothing
    _check(c, 3 * every)
    assert not alarms(c.handle(Positions(list=[PositionRecord("au2606", 10)]), 3 * every))


def test_a_checks_answer_that_a_reconciliation_overtakes_is_not_taken_for_its_own() -> None:
    """A positions check asked just before a reconciliation began: its answer comes first (the
    venue answers in order) and must not stand in for the reconciliation's, which is asked
    after its trades; adopted early, the trades listed after it would count twice."""
    from transports.wire.messages import ClockJump

    c = core(link=True)
    _start(c, 0)
    every = c.reconciler.check_every_ns
    assert of(_check(c, every), PositionsReq)
    out = c.handle(ClockJump(5 * MS), every + 1)  # a reconciliation begins before the answer
    assert c.gate == "reconciling" and of(out, TradesReq)
    early = Positions(list=[PositionRecord("au2606", 3)])
    c.handle(early, every + 2)  # the check's answer
    assert c.positions == {} and c.gate == "reconciling"  # not adopted: it waits for its own
    c.handle(OpenOrders(list=[]), every + 3)
    c.handle(Trades(list=[]), every + 3)
    out = c.handle(Positions(list=[PositionRecord("au2606", 3)]), every + 3)
    assert c.positions == {"au2606": 3} and c.gate == "" and "position_mismatch" in alarms(out)
