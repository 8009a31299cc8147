"""Closed orders are retired (pickled aside) after ``RETIRE_AFTER_NS`` so a day of orders does
not weigh on every checkpoint of the hot group (10,000 live records: 106 ms to pickle one
executor); a retired id stays used, and a late report finds its order again: no fill is lost,
none is applied twice."""

from __future__ import annotations

import pickle

from actors.leg.book import RETIRE_AFTER_NS
from tests.actors.leg.test_leg_executor import MS, core, of, order, reports, send
from transports.wire.messages import ExecReport
from transports.wire.venue_msgs import Done, Fill, NewOrder


def _filled(c, combo: int, now: int) -> str:  # type: ignore[no-untyped-def]
    cl = send(c, order(combo=combo, qty=2), now)
    c.handle(Fill(cl=cl, oid="X", tid=f"t{combo}", px=30500, qty=2, ts=1), now + 1)
    c.handle(Done(cl=cl, oid="X", state="filled", cum=2, ts=2), now + 2)
    return cl


def test_closed_orders_retire_and_a_late_fill_still_counts_once() -> None:
    c = core()
    old = _filled(c, 1, 0)
    live = send(c, order(combo=2, qty=1), RETIRE_AFTER_NS)  # still working: never retired
    assert c.retire(RETIRE_AFTER_NS + 10) == 1
    assert old not in c.orders and live in c.orders
    assert pickle.dumps(c, protocol=5).count(b"t1") <= 1  # the record is bytes, not objects
    # a duplicate of the retired fill is recognised by its trade id, a new one applied
    t = RETIRE_AFTER_NS + 2 * MS
    assert reports(c.handle(Fill(cl=old, oid="X", tid="t1", px=30500, qty=2, ts=3), t)) == []
    late = reports(c.handle(Fill(cl=old, oid="X", tid="t1b", px=30501, qty=1, ts=4), t + 1))
    assert [(r.kind, r.qty_lots) for r in late] == [("fill", 1)]
    assert c.positions["au2606"] == 3
    assert c.snapshot()["counters"]["revived"] == 1


def test_a_retired_client_id_is_never_sent_again() -> None:
    c = core()
    _filled(c, 7, 0)
    c.retire(RETIRE_AFTER_NS + 10)
    out = c.handle(order(combo=7, qty=2), RETIRE_AFTER_NS + 20)
    assert of(out, NewOrder, "@oe") == []
    (denied,) = {m for _, m in out if isinstance(m, ExecReport) and m.kind == "denied"}
    assert denied.reason == "duplicate_cl"


def test_an_order_whose_fills_are_still_asked_for_is_not_retired() -> None:
    c = core()
    cl = send(c, order(combo=3, qty=2), 0)
    # the venue closed it with 2 lots done, but no fill report came: it is queried, not retired
    c.handle(Done(cl=cl, oid="X", state="filled", cum=2, ts=2), 2)
    assert c.orders[cl].missing_fills
    assert c.retire(RETIRE_AFTER_NS + 10) == 0 and cl in c.orders
