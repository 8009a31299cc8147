"""The venue's ``done`` for an order the executor does not hold live: retired, never ours, or
rejected by inference. ``Reports.on_done`` looks a live order up inline (issue 18, session 10)
and leaves these to the general lookup and ``revive``; each check fails if one of them stops
being taken."""

from __future__ import annotations

from actors.leg.book import RETIRE_AFTER_NS
from actors.leg.executor import LegExecutorCore
from actors.leg.orders import St
from tests.actors.leg.test_leg_executor import core, order
from transports.wire.messages import Decision, ExecReport
from transports.wire.venue_msgs import Ack, Done, NewOrder

NOW = 1_000_000_000


def _sent(c: LegExecutorCore, combo: int) -> str:
    (new,) = [m for _, m in c.handle(order(combo=combo, qty=2), NOW) if type(m) is NewOrder]
    c.handle(Ack(cl=new.cl, oid="o", ts=NOW), NOW + 1)
    return new.cl


def _reports(out: list) -> list[tuple[str, str, int]]:
    return [(d, m.kind, m.cum_lots) for d, m in out if type(m) is ExecReport]


def test_a_done_of_an_id_never_ours_is_alarmed() -> None:
    c = core()
    out = c.handle(Done(cl="3.777.0.0", oid="x", state="canceled", cum=0, ts=NOW), NOW)
    assert [(d, type(m)) for d, m in out] == [("journal", Decision)]
    assert '"alarm": "unknown_cl"' in out[0][1].detail and '"report": "done"' in out[0][1].detail
    assert c.book.counters["unknown_reports"] == 1


def test_a_done_of_a_retired_order_revives_it_and_reports_nothing_twice() -> None:
    c = core()
    cl = _sent(c, 1)
    first = c.handle(Done(cl=cl, oid="o", state="canceled", cum=0, ts=NOW), NOW + 2)
    assert _reports(first) == [("combo", "done", 0), ("risk", "done", 0)]
    assert c.retire(NOW + 2 + RETIRE_AFTER_NS + 1) == 1 and cl not in c.book.orders
    again = c.handle(Done(cl=cl, oid="o", state="canceled", cum=0, ts=NOW), NOW + 3)
    assert again == [] and cl in c.book.orders and c.book.counters["revived"] == 1


def test_a_done_of_an_order_rejected_by_inference_revives_it_and_reports_done() -> None:
    c = core()
    cl = _sent(c, 2)
    lo = c.book.orders[cl]
    assert lo.infer_reject(NOW + 2)  # "not found" past the venue's bound: REJECTED, inferred
    c.book.sync(lo)
    out = c.handle(Done(cl=cl, oid="o", state="filled", cum=0, ts=NOW), NOW + 3)
    # the venue knew the order: it is reconciled (ACCEPTED again), then closed by the done
    assert c.book.counters["inferred_reconciled"] == 1 and not lo.inferred
    assert lo.state is St.FILLED and _reports(out) == [("combo", "done", 0), ("risk", "done", 0)]
    # and the desk is told, as for an ack, a fill or a status that contradicts the inference
    # (a done's alarm was dropped before session 10)
    alarms = [m for _, m in out if "inferred_reject_reconciled" in repr(m)]
    assert len(alarms) == 1 and cl in repr(alarms[0])
