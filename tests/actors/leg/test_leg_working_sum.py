"""The leg book's working lots are a running sum (``OpenOrders``): after any sequence of orders
and venue reports it equals the scan it replaced, and a checkpoint restores it exactly."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.leg.book import OpenOrders
from actors.leg.executor import LegExecutorCore
from actors.leg.orders import LegTimer, LiveOrder, St
from actors.runtime.checkpoint import dumps
from tests.actors.leg.test_leg_executor import AU, MS, of, order
from tests.support.contracts import au
from transports.config.engine import RiskConfig
from transports.wire.messages import CancelLeg, Timer
from transports.wire.venue_msgs import (
    Ack,
    CancelReject,
    Done,
    Fill,
    NewOrder,
    OrderStatus,
    Reject,
)

SYMS = ("au2606", "au2612")
KEYS = [(s, side) for s in SYMS for side in ("B", "S")]


def two_contract_core() -> LegExecutorCore:
    contracts = {"au2606": AU, "au2612": au(sym="au2612", max_lots_per_order=30,
                                            max_position_lots=40)}
    return LegExecutorCore("leg.shfe", "shfe", "shfe-acct", contracts, 3,
                           RiskConfig(max_orders_per_s=1_000_000), ["combo", "risk"], 2000)


def scanned(c: LegExecutorCore, sym: str, side: str) -> int:
    """The working lots as the book computed them before the running sum: a scan."""
    return sum(x.leaves_lots for x in c.book.open.values() if x.sym == sym and x.side == side)


def assert_in_step(c: LegExecutorCore) -> None:
    for sym, side in KEYS:
        assert c.book.working(sym, side) == scanned(c, sym, side), (sym, side)
    # the index holds exactly the open orders, each the very record in ``orders``
    assert set(c.book.open) == {cl for cl, lo in c.book.orders.items() if lo.is_open}
    assert all(c.book.orders[cl] is lo for cl, lo in c.book.open.items())
    assert c.book.open.counted.keys() == c.book.open.keys()


def restored(c: LegExecutorCore) -> LegExecutorCore:
    """The core through a checkpoint's pickle and back (``actors.runtime.checkpoint``)."""
    back: LegExecutorCore = pickle.loads(dumps(c))
    def nonzero(sums: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
        return {k: v for k, v in sums.items() if v}

    assert nonzero(back.book.open.sums) == nonzero(c.book.open.sums)
    return back


# one step: (kind, order index, side/state pick, quantity)
STEP = st.tuples(
    st.sampled_from(["new", "new", "ack", "fill", "done", "reject", "cancel", "cancel_reject",
                     "ack_timeout", "status", "checkpoint"]),
    st.integers(0, 30), st.integers(0, 3), st.integers(1, 12),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=50))
def test_working_lots_equal_the_scan_after_any_sequence(steps: list[tuple[str, int, int, int]]
                                                        ) -> None:
    c = two_contract_core()
    cls: list[str] = []
    tid = 0
    now = 1_000
    for kind, k, pick, qty in steps:
        now += MS
        cl = cls[k % len(cls)] if cls else ""
        if kind == "new":
            sym, side = KEYS[pick]
            out = c.handle(order(combo=len(cls) + 1, side=side, qty=qty, sym=sym,
                                 tif="GTC" if pick % 2 else "IOC"), now)
            cls += [m.cl for m in of(out, NewOrder, "@oe")]
        elif not cl:
            continue
        elif kind == "ack":
            c.handle(Ack(cl=cl, oid=f"o{cl}", ts=now), now)
        elif kind == "fill":
            tid += 1
            c.handle(Fill(cl=cl, oid=f"o{cl}", tid=f"t{tid}", px=30500, qty=qty, ts=now), now)
        elif kind == "done":
            lo = c.book.orders[cl]
            state = ("canceled", "expired", "filled", "canceled")[pick]
            c.handle(Done(cl=cl, oid=f"o{cl}", state=state,  # type: ignore[arg-type]
                          cum=lo.qty_lots if state == "filled" else lo.cum_lots, ts=now), now)
        elif kind == "reject":
            c.handle(Reject(cl=cl, code="rejected", reason="no", ts=now), now)
        elif kind == "cancel":
            c.handle(CancelLeg("shfe", cl), now)
        elif kind == "cancel_reject":
            c.handle(CancelReject(cl=cl, code="too_late", reason="no", ts=now), now)
        elif kind == "ack_timeout":
            c.handle(Timer(LegTimer.ACK, now, cl), now)
        elif kind == "status":
            lo = c.book.orders[cl]
            c.handle(OrderStatus(cl=cl, state="partial" if pick % 2 else "new", oid=f"o{cl}",
                                 cum=lo.cum_lots, leaves=max(0, lo.qty_lots - lo.cum_lots)),
                     now)
        elif kind == "checkpoint":
            c = restored(c)
        assert_in_step(c)


def test_new_orders_are_checked_against_the_lots_already_working() -> None:
    """The sum is what pre-trade sees: 40 lots max position, 30 working, a 15-lot buy is
    refused until a fill and a done free the lots."""
    c = two_contract_core()
    out = c.handle(order(combo=1, qty=30, tif="GTC"), MS)
    (first,) = of(out, NewOrder, "@oe")
    assert c.book.working("au2606", "B") == 30
    assert not of(c.handle(order(combo=2, qty=15), 2 * MS), NewOrder, "@oe")
    c.handle(Fill(cl=first.cl, oid="o", tid="t1", px=30500, qty=20, ts=3), 3 * MS)
    assert c.book.working("au2606", "B") == 10 and c.book.positions["au2606"] == 20
    c.handle(Done(cl=first.cl, oid="o", state="canceled", cum=20, ts=4), 4 * MS)
    assert c.book.working("au2606", "B") == 0
    assert of(c.handle(order(combo=3, qty=15), 5 * MS), NewOrder, "@oe")  # 20 + 15 <= 40


def test_a_checkpoint_holds_the_orders_and_the_load_recounts_the_sum() -> None:
    c = two_contract_core()
    for i, side in enumerate("BBS"):
        c.handle(order(combo=i + 1, side=side, qty=4 + i, tif="GTC"), (i + 1) * MS)
    blob = dumps(c)
    assert b"sums" not in blob and b"counted" not in blob  # derived: never stored
    back = pickle.loads(blob)
    assert back.book.open.sums == {("au2606", "B"): 9, ("au2606", "S"): 6}
    assert all(back.book.open[cl] is back.book.orders[cl] for cl in back.book.open)
    assert sorted(back.book.open) == sorted(c.book.open)
    assert [(lo.cl, lo.state, lo.qty_lots, lo.cum_lots) for lo in back.book.orders.values()] \
        == [(lo.cl, lo.state, lo.qty_lots, lo.cum_lots) for lo in c.book.orders.values()]
    again = dumps(back)  # a restored core checkpoints the same as its own restore does
    assert dumps(pickle.loads(again)) == again


def test_a_checkpoint_from_before_the_running_sum_loads_and_counts() -> None:
    """A book pickled when ``open`` was a plain dict (a checkpoint of the previous version)
    loads with its open orders counted, and the next report keeps the sum."""
    c = two_contract_core()
    out = c.handle(order(combo=1, qty=6, tif="GTC"), MS)
    (sent,) = of(out, NewOrder, "@oe")
    book = c.book
    state = dict(book.__dict__, open=dict(book.open))  # the old layout
    old = object.__new__(type(book))
    old.__setstate__(state)
    assert isinstance(old.open, OpenOrders) and old.working("au2606", "B") == 6
    lo = old.orders[sent.cl]
    lo.state = St.CANCELED  # closed: the next sync takes it out of the index and the sum
    old.sync(lo)
    assert old.working("au2606", "B") == 0 and sent.cl not in old.open


def test_the_index_refuses_writes_that_would_bypass_the_sum() -> None:
    o = OpenOrders()
    lo = LiveOrder("1.1.0.0", "shfe", "au2606", "B", 30500, 5, "GTC")
    lo.submit(1)
    o[lo.cl] = lo
    for bad in (lambda: o.update({}), o.clear, o.popitem, lambda: o.setdefault("x", lo)):
        with pytest.raises(TypeError):
            bad()
    copied: Any = o.copy()
    del o[lo.cl]
    assert o.working("au2606", "B") == 0 and copied.working("au2606", "B") == 5
