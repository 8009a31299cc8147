"""The order state machine: the transition table, and one LiveOrder's fills, dedupe and flags."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.leg.orders import (
    EVENTS,
    LATE_FILL_FROM,
    PENDING,
    TERMINAL,
    TRANSITIONS,
    LiveOrder,
    OrderState,
    is_terminal,
    transition,
)
from transports.errors import IllegalTransition

S = OrderState

# the table of notes/fault-catalogue.md §6, written out independently of the module
LEGAL: dict[OrderState, set[tuple[str, OrderState]]] = {
    S.INITIALIZED: {
        ("deny", S.DENIED),
        ("submit", S.SUBMITTED),
        ("accept", S.ACCEPTED),
        ("reject", S.REJECTED),
        ("canceled", S.CANCELED),
        ("expired", S.EXPIRED),
    },
    S.SUBMITTED: {
        ("accept", S.ACCEPTED),
        ("reject", S.REJECTED),
        ("canceled", S.CANCELED),
        ("expired", S.EXPIRED),
        ("fill_partial", S.PARTIALLY_FILLED),
        ("fill_full", S.FILLED),
        ("cancel_request", S.PENDING_CANCEL),
        ("update_request", S.PENDING_UPDATE),
        ("updated", S.SUBMITTED),
    },
    S.ACCEPTED: {
        ("fill_partial", S.PARTIALLY_FILLED),
        ("fill_full", S.FILLED),
        ("cancel_request", S.PENDING_CANCEL),
        ("update_request", S.PENDING_UPDATE),
        ("canceled", S.CANCELED),
        ("expired", S.EXPIRED),
        ("reject", S.REJECTED),
        ("accept", S.ACCEPTED),
        ("updated", S.ACCEPTED),
    },
    S.PARTIALLY_FILLED: {
        ("fill_partial", S.PARTIALLY_FILLED),
        ("fill_full", S.FILLED),
        ("cancel_request", S.PENDING_CANCEL),
        ("update_request", S.PENDING_UPDATE),
        ("canceled", S.CANCELED),
        ("expired", S.EXPIRED),
        ("accept", S.ACCEPTED),
        ("updated", S.PARTIALLY_FILLED),
    },
    S.PENDING_CANCEL: {
        ("canceled", S.CANCELED),
        ("fill_partial", S.PARTIALLY_FILLED),
        ("fill_full", S.FILLED),
        ("expired", S.EXPIRED),
        ("reject", S.REJECTED),
        ("accept", S.ACCEPTED),
        ("cancel_request", S.PENDING_CANCEL),
    },
    S.PENDING_UPDATE: {
        ("accept", S.ACCEPTED),
        ("updated", S.ACCEPTED),
        ("canceled", S.CANCELED),
        ("expired", S.EXPIRED),
        ("reject", S.REJECTED),
        ("fill_partial", S.PARTIALLY_FILLED),
        ("fill_full", S.FILLED),
        ("cancel_request", S.PENDING_CANCEL),
        ("update_request", S.PENDING_UPDATE),
    },
    S.CANCELED: {("fill_partial", S.PARTIALLY_FILLED), ("fill_full", S.FILLED)},
    S.EXPIRED: {("fill_partial", S.PARTIALLY_FILLED), ("fill_full", S.FILLED)},
    S.DENIED: set(),
    S.REJECTED: {("reconcile", S.ACCEPTED)},
    S.FILLED: set(),
}
RESTORE = {(S.PENDING_CANCEL, "cancel_reject"), (S.PENDING_UPDATE, "update_reject")}


@pytest.mark.parametrize(
    ("state", "event", "nxt"), [(s, e, n) for s, legal in LEGAL.items() for e, n in sorted(legal)]
)
def test_every_listed_transition_is_legal(state: OrderState, event: str, nxt: OrderState) -> None:
    assert transition(state, event) is nxt


@pytest.mark.parametrize(("state", "event"), sorted(RESTORE, key=lambda k: k[1]))
@pytest.mark.parametrize("previous", [S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED])
def test_cancel_and_update_reject_restore_the_previous_state(
    state: OrderState, event: str, previous: OrderState
) -> None:
    assert transition(state, event, previous) is previous
    with pytest.raises(IllegalTransition):
        transition(state, event)  # nothing to restore
    with pytest.raises(IllegalTransition):
        transition(state, event, S.FILLED)


def test_the_module_table_is_exactly_the_catalogue_table() -> None:
    mine = {(s, e): n for s, legal in LEGAL.items() for e, n in legal}
    mine.update({k: None for k in RESTORE})
    assert mine == TRANSITIONS


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (S.FILLED, "fill_partial"),
        (S.FILLED, "canceled"),
        (S.FILLED, "accept"),
        (S.REJECTED, "fill_full"),
        (S.REJECTED, "accept"),
        (S.DENIED, "submit"),
        (S.CANCELED, "accept"),
        (S.CANCELED, "canceled"),
        (S.EXPIRED, "reject"),
        (S.INITIALIZED, "fill_partial"),
        (S.SUBMITTED, "deny"),
        (S.SUBMITTED, "submit"),
        (S.ACCEPTED, "submit"),
        (S.PARTIALLY_FILLED, "reject"),
        (S.ACCEPTED, "cancel_reject"),
        (S.SUBMITTED, "no_such_event"),
    ],
)
def test_illegal_transitions_raise(state: OrderState, event: str) -> None:
    with pytest.raises(IllegalTransition):
        transition(state, event)


def test_terminal_states() -> None:
    assert {s for s in S if is_terminal(s)} == {
        S.DENIED,
        S.REJECTED,
        S.CANCELED,
        S.EXPIRED,
        S.FILLED,
    }


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(EVENTS), max_size=40))
def test_random_event_sequences_never_leave_the_table(events: list[str]) -> None:
    state, previous = S.INITIALIZED, None
    for ev in events:
        try:
            nxt = transition(state, ev, previous)
        except IllegalTransition:
            assert (state, ev) not in TRANSITIONS or TRANSITIONS[(state, ev)] is None
            continue
        assert (state, ev) in TRANSITIONS
        if is_terminal(state):
            # the only way out of a closed state: a late fill after a cancel or an expiry
            # (or the reconciliation of an inferred reject the venue later contradicts)
            assert (state in LATE_FILL_FROM and ev in ("fill_partial", "fill_full")) or (
                state is S.REJECTED and ev == "reconcile"
            )
        if state not in PENDING and ev not in ("cancel_reject", "update_reject"):
            previous = state
        state = nxt


def _order(qty: int = 10) -> LiveOrder:
    o = LiveOrder("1.7.0.0", "shfe", "au2606", "B", 30500, qty, "IOC", combo_id=7)
    o.submit(1)
    return o


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["ack", "fill", "done_c", "done_e", "done_f", "reject", "cancel", "cancel_reject"]
            ),
            st.integers(0, 5),
            st.integers(1, 4),
        ),
        max_size=30,
    )
)
def test_live_order_never_loses_a_fill(script: list[tuple[str, int, int]]) -> None:
    o = _order(qty=8)
    applied: dict[str, int] = {}
    for kind, tid, qty in script:
        try:
            if kind == "ack":
                o.apply_ack("X1", 2)
            elif kind == "fill":
                r = o.apply_fill(f"t{tid}", 30500, qty, 0.0, 3)
                if r is not None:
                    applied[f"t{tid}"] = qty
            elif kind.startswith("done"):
                o.apply_done({"c": "canceled", "e": "expired", "f": "filled"}[kind[-1]], 0, "", 4)
            elif kind == "reject":
                o.apply_reject("r", 5)
            elif kind == "cancel":
                o.request_cancel(6)
            else:
                o.apply_cancel_reject("too late")
        except IllegalTransition:
            if kind == "fill" and f"t{tid}" not in applied:
                applied[f"t{tid}"] = qty  # applied before the table said no
        assert o.cum_lots == sum(applied.values())
        assert o.trade_ids == set(applied)
        assert o.overfill == (o.cum_lots > o.qty_lots)
        assert o.state in S


def test_fill_before_ack_then_ack_is_stale() -> None:
    o = _order()
    o.apply_fill("t1", 30500, 4, 1.0, 10)
    assert o.state is S.PARTIALLY_FILLED
    assert o.apply_ack("X1", 11) is False
    assert o.state is S.PARTIALLY_FILLED and o.oid == "X1"
    o.apply_fill("t2", 30501, 6, 1.5, 12)
    assert o.state is S.FILLED and o.cum_lots == 10 and o.fees == 2.5
    assert o.avg_px == pytest.approx((30500 * 4 + 30501 * 6) / 10)


def test_duplicate_fill_is_ignored_and_counted() -> None:
    o = _order()
    assert o.apply_fill("t1", 30500, 3, 0.0, 10) is not None
    assert o.apply_fill("t1", 30500, 3, 0.0, 11) is None
    assert o.cum_lots == 3 and o.duplicate_fills == 1


def test_late_fill_after_cancel_is_applied_and_the_order_recloses() -> None:
    o = _order()
    o.apply_ack("X1", 2)
    o.request_cancel(3)
    assert o.state is S.PENDING_CANCEL
    o.apply_done("canceled", 0, "X1", 4)
    assert o.state is S.CANCELED
    r = o.apply_fill("t9", 30500, 2, 0.0, 5)
    assert r is not None and r.late
    assert o.state is S.CANCELED and o.cum_lots == 2 and o.late_fills == 1
    r = o.apply_fill("t10", 30500, 8, 0.0, 6)
    assert r is not None and r.late and o.state is S.FILLED


def test_fill_after_expired_done_is_applied() -> None:
    o = _order()
    o.apply_done("expired", 5, "X1", 4)  # the IOC's done overtook its fill (and its ack)
    assert o.state is S.EXPIRED and o.missing_fills
    o.apply_fill("t1", 30500, 5, 0.0, 5)
    assert o.state is S.EXPIRED and o.cum_lots == 5 and not o.missing_fills


def test_overfill_is_recorded_not_refused() -> None:
    o = _order(qty=5)
    o.apply_fill("t1", 30500, 5, 0.0, 2)
    r = o.apply_fill("t2", 30500, 2, 0.0, 3)
    assert r is not None and r.overfill
    assert o.state is S.FILLED and o.cum_lots == 7 and o.overfill_lots == 2


def test_fill_after_reject_is_applied_then_raises() -> None:
    o = _order()
    o.apply_reject("no margin", 2)
    with pytest.raises(IllegalTransition):
        o.apply_fill("t1", 30500, 1, 0.0, 3)
    assert o.cum_lots == 1 and "t1" in o.trade_ids  # the fill is a fact: never lost


def test_cancel_reject_restores_and_stale_cancel_reject_is_ignored() -> None:
    o = _order()
    o.request_cancel(2)
    o.apply_ack("X1", 3)  # the ack arrives while the cancel is pending
    assert o.state is S.PENDING_CANCEL
    assert o.apply_cancel_reject("too late") is True
    assert o.state is S.ACCEPTED
    o.apply_fill("t1", 30500, 10, 0.0, 4)
    assert o.apply_cancel_reject("too late") is False and o.state is S.FILLED


def test_unknown_is_a_flag_cleared_by_venue_news() -> None:
    o = _order()
    assert o.mark_unknown(100) and not o.mark_unknown(200)
    assert o.unknown and o.state is S.SUBMITTED and o.unknown_since_ns == 100
    o.apply_ack("X1", 300)
    assert not o.unknown and o.state is S.ACCEPTED


def test_done_is_idempotent_and_terminal_sets() -> None:
    o = _order()
    assert o.apply_done("filled", 10, "X1", 2) is True
    assert o.apply_done("filled", 10, "X1", 3) is False
    assert o.state is S.FILLED and o.terminal and not o.is_open and o.leaves_lots == 0
    assert TERMINAL.isdisjoint(PENDING)


# --- the fast paths keep the table's semantics -------------------------------------------------


def test_st_holds_the_very_members() -> None:
    from actors.leg.orders import St

    for m in OrderState:
        assert getattr(St, m.name) is m
    assert {m: m.value for m in OrderState}[St.FILLED] == "FILLED"  # hashable, identity keys


@pytest.mark.parametrize("state", list(OrderState))
def test_submit_moves_like_the_table(state: OrderState) -> None:
    o = _order()
    o.state, o.previous_state = state, S.ACCEPTED
    sent = o.sent_ns
    try:
        want = transition(state, "submit", S.ACCEPTED)
    except IllegalTransition:
        with pytest.raises(IllegalTransition):
            o.submit(5)
        assert (o.state, o.previous_state, o.sent_ns) == (state, S.ACCEPTED, sent)
        return
    o.submit(5)
    assert (o.state, o.sent_ns) == (want, 5)
    assert o.previous_state is (state if state not in PENDING else S.ACCEPTED)


def test_positional_and_keyword_construction_agree() -> None:
    a = LiveOrder("1.7.0.1", "shfe", "au2606", "S", 30500, 3, "IOC", 7, 1, 2, "chase", 9)
    b = LiveOrder("1.7.0.1", "shfe", "au2606", "S", 30500, 3, "IOC", combo_id=7, leg=1,
                  attempt=2, purpose="chase", created_ns=9)
    assert all(getattr(a, k) == getattr(b, k) for k in LiveOrder.__slots__)
