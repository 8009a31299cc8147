"""An order's ack and fill move its state as the transition table always did.

``LiveOrder.apply_ack`` and ``apply_fill`` take the table's step inline (issue 18, session 10)
instead of through ``_move``, and a fill that is neither late nor an overfill answers with one
shared ``FillResult``. Here both are checked against the rules as they were (``_move`` for
every step, a fresh result per fill) on random walks through the table: every slot of the
order, every answer and every refused transition must be the same."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.leg.orders import EVENTS, LATE_FILL_FROM, PENDING, LiveOrder, St
from transports.errors import IllegalTransition


def _old_apply_ack(o: LiveOrder, oid: str, now_ns: int) -> bool:
    if oid:
        o.oid = oid
    if not o.acked_ns:
        o.acked_ns = now_ns
    o.unknown_since_ns = 0
    if o.state is St.SUBMITTED:
        o._move("accept")
        return True
    if o.state in PENDING and o.previous_state is St.SUBMITTED:
        o.previous_state = St.ACCEPTED
    return False


def _old_apply_fill(o: LiveOrder, tid: str, px: int, qty: int, fee: float,
                    now_ns: int) -> tuple[bool, bool] | None:
    if tid in o.trade_ids:
        o.duplicate_fills += 1
        return None
    if o.trade_ids:
        o.trade_ids.add(tid)  # type: ignore[attr-defined]
    else:
        o.trade_ids = {tid}
    o.cum_lots += qty
    o.notional_ticks += px * qty
    o.fees += fee
    o.unknown_since_ns = 0
    over_before = o.overfill_lots
    o.overfill_lots = max(0, o.cum_lots - o.qty_lots)
    closed = o.state
    late = closed in LATE_FILL_FROM
    if late:
        o.late_fills += 1
    if o.state is not St.FILLED:
        o._move("fill_full" if o.cum_lots >= o.qty_lots else "fill_partial")
        if late and o.state is St.PARTIALLY_FILLED:
            o._move("canceled" if closed is St.CANCELED else "expired")
    return late, o.overfill_lots > over_before


def _slots(o: LiveOrder) -> dict[str, Any]:
    return {k: getattr(o, k) for k in LiveOrder.__slots__}


def _run(o: LiveOrder, step: tuple[Any, ...], old: bool) -> Any:
    kind = step[0]
    try:
        if kind == "move":
            o._move(step[1])
            return "moved"
        if kind == "ack":
            return (_old_apply_ack if old else LiveOrder.apply_ack)(o, "oid", step[1])
        res = (_old_apply_fill if old else LiveOrder.apply_fill)(
            o, f"t{step[2]}", 30500, step[1], 1.0, 7)
        return res if res is None or old else (res.late, res.overfill)
    except IllegalTransition as exc:
        return f"illegal: {exc}"


STEP = st.one_of(
    st.tuples(st.just("move"), st.sampled_from(EVENTS)),
    st.tuples(st.just("ack"), st.integers(0, 3)),
    st.tuples(st.just("fill"), st.integers(1, 6), st.integers(0, 4)),
)


@settings(max_examples=250, deadline=None)
@given(st.booleans(), st.lists(STEP, max_size=10))
def test_acks_and_fills_walk_the_table_as_the_old_rules(submit: bool,
                                                        steps: list[tuple[Any, ...]]) -> None:
    new, old = (LiveOrder("3.1.0.0", "shfe", "au2606", "B", 30500, 10, "IOC")
                for _ in range(2))
    if submit:
        new.submit(5)
        old.submit(5)
    for step in steps:
        assert _run(new, step, False) == _run(old, step, True), step
        assert _slots(new) == _slots(old), step


def test_a_late_or_overfilling_fill_gets_its_own_answer() -> None:
    o = LiveOrder("3.1.0.0", "shfe", "au2606", "B", 30500, 2, "IOC")
    o.submit(1)
    plain = o.apply_fill("t1", 30500, 1, 0.0, 2)
    assert plain is not None and (plain.late, plain.overfill) == (False, False)
    over = o.apply_fill("t2", 30500, 3, 0.0, 3)  # 4 of 2 lots
    assert over is not None and (over.late, over.overfill) == (False, True)
    assert over is not plain and (plain.late, plain.overfill) == (False, False)
