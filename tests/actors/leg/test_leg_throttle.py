"""The venue's rate limit (protocol v2 ``throttled`` with ``retry_ms``): the LegExecutor backs
off at least ``retry_ms`` plus a deterministic jitter, sends no new order meanwhile, tells the
strategies ``throttled``, and sends the cancels it held before any new order when it ends."""

from __future__ import annotations

from actors.leg.executor import LegExecutorCore, throttle_jitter_ms
from actors.leg.orders import LegTimer
from tests.actors.leg.test_leg_executor import MS, core, of, order, send
from tests.actors.strategy.test_venue_gate import gated_core, gates
from transports.wire.messages import CancelLeg, ExecReport, SetTimer, Timer
from transports.wire.venue_msgs import Ack, CancelReject, CancelReq, NewOrder, QueryReq, Reject


def throttle_timer(out: list) -> SetTimer:
    (t,) = [m for d, m in out if d == "@timer" and m.key == LegTimer.THROTTLE]
    return t


def test_jitter_is_deterministic_from_the_client_id_and_below_a_fifth() -> None:
    js = {throttle_jitter_ms(f"3.{i}.0.0", 500) for i in range(200)}
    assert all(0 <= j < 100 for j in js) and len(js) > 20  # spread, bounded
    assert throttle_jitter_ms("3.7.0.0", 500) == throttle_jitter_ms("3.7.0.0", 500)
    assert throttle_jitter_ms("3.7.0.0", 4) == 0  # no room for a jitter


def test_throttled_reject_is_definitive_and_backs_off_new_orders() -> None:
    c = gated_core()
    cl = send(c, order(qty=10), 0)
    out = c.handle(Reject(cl=cl, code="throttled", reason="rate", ts=1, retry_ms=300), 10 * MS)
    (rej,) = [m for d, m in out if d == "combo" and isinstance(m, ExecReport)]
    assert rej.kind == "rejected" and rej.state == "REJECTED"  # the combo repairs as usual
    assert gates(out) == [("strategy.a", "throttled"), ("strategy.b", "throttled")]
    due = throttle_timer(out).due_ns
    assert due == 10 * MS + (300 + throttle_jitter_ms(cl, 300)) * MS
    # inside the back-off: denied, nothing reaches the venue (a reducing order neither)
    out = c.handle(order(combo=43, qty=1), due - 1)
    assert of(out, NewOrder, "@oe") == []
    (den,) = [m for d, m in out if d == "combo" and isinstance(m, ExecReport)]
    assert den.kind == "denied" and den.reason == "throttled"
    # a timer that fires early (stale) changes nothing
    assert c.handle(Timer(LegTimer.THROTTLE, due - 1, ""), due - 1) == []
    out = c.handle(Timer(LegTimer.THROTTLE, due, ""), due)
    assert gates(out) == [("strategy.a", ""), ("strategy.b", "")]
    send(c, order(combo=44, qty=1), due)  # new orders go again


def test_a_second_throttle_lengthens_the_back_off_never_shortens_it() -> None:
    c = core()
    a, b = send(c, order(combo=1), 0), send(c, order(combo=2), 0)
    out = c.handle(Reject(cl=a, code="throttled", reason="", ts=1, retry_ms=1000), 5 * MS)
    first = throttle_timer(out).due_ns
    out = c.handle(Reject(cl=b, code="throttled", reason="", ts=1, retry_ms=10), 6 * MS)
    assert [m for d, m in out if d == "@timer"] == []  # shorter: the first back-off stands
    assert c.throttled_until_ns == first


def test_cancels_are_held_during_the_back_off_and_go_before_new_orders() -> None:
    c: LegExecutorCore = core()
    cl = send(c, order(qty=10, tif="GTC"), 0)
    c.handle(Ack(cl=cl, oid="X1", ts=1), 1 * MS)
    out = c.handle(CancelLeg("shfe", cl), 2 * MS)
    assert of(out, CancelReq, "@oe") != []
    # the venue throttles the cancel: no query (it did not look), retried after the back-off
    out = c.handle(CancelReject(cl=cl, code="throttled", reason="", ts=3, retry_ms=200), 3 * MS)
    assert of(out, QueryReq, "@oe") == [] and of(out, CancelReq, "@oe") == []
    due = throttle_timer(out).due_ns
    assert of(c.handle(CancelLeg("shfe", cl), 4 * MS), CancelReq, "@oe") == []  # held
    out = c.handle(Timer(LegTimer.THROTTLE, due, ""), due)
    assert [m.cl for m in of(out, CancelReq, "@oe")] == [cl]  # once, first thing
    assert c.held_cancels == []


def test_a_venue_that_gives_no_retry_ms_still_gets_a_back_off() -> None:
    c = core()
    cl = send(c, order(), 0)
    out = c.handle(Reject(cl=cl, code="throttled", reason="", ts=1), 0)
    assert throttle_timer(out).due_ns >= c.timeout_ns
    assert c.venue_gate == "throttled"


def test_other_rejects_do_not_throttle() -> None:
    c = core()
    cl = send(c, order(), 0)
    c.handle(Reject(cl=cl, code="sim_fault", reason="", ts=1, retry_ms=500), 0)
    assert c.venue_gate == "" and c.throttled_until_ns == 0
