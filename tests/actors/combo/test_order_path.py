"""The order path's inlined steps (issue 18) against the helpers they stand for.

``ComboExecutorCore.on_combo_intent`` inlines ``ledger.send``, ``ComboRecord.add_order`` and
``ComboRecord.residual`` of a record that holds nothing, and calls ``ledger.forget`` only when
the oldest finished combo is past the horizon; ``OrderEntry.new`` builds the
``NewOrder`` positionally and the "sent" report's leaves without ``reports.emit``. Each check
here fails if an inlined step stops doing what its helper does.
"""

from __future__ import annotations

from typing import Any

from actors.combo.executor import FINISHED_RETAIN_NS, ComboExecutorCore
from actors.combo.record import ComboRecord, OrderRecord
from actors.leg.executor import LegExecutorCore
from tests.actors.combo.test_combo_executor import CONTRACTS, RESIDUAL_28_9, intent, pair
from tests.support.contracts import au
from transports.config.engine import RiskConfig
from transports.wire.messages import ComboState, ExecReport, LegOrder, SetTimer
from transports.wire.venue_msgs import NewOrder

NOW = 1_000_000_000


def _combo(**kw: Any) -> ComboExecutorCore:
    return ComboExecutorCore("combo", {"au-gc": pair(**kw)}, CONTRACTS, ["strategy.au-gc", "risk"])


def _helper_record(c: ComboExecutorCore, cid: int) -> ComboRecord:
    """The record the helpers build for the same intent: ``LegTable.legs``, then
    ``ComboRecord.add_order`` of each entry order (``ledger.send``'s bookkeeping)."""
    rec = c.combos[cid]
    ref = ComboRecord(rec.intent, rec.pair, rec.legs, rec.created_ns)
    for (i, attempt), o in rec.orders.items():
        ref.add_order((i, attempt), OrderRecord(i, o.side, o.qty, o.purpose))
        ref.attempts[i] = attempt + 1
    return ref


def test_concurrent_intent_sends_both_legs_then_states_then_timers() -> None:
    c = _combo()
    out = c.on_combo_intent(intent(), NOW)
    dests = [d for d, _ in out]
    assert dests == ["leg.shfe", "leg.comex", "strategy.au-gc", "risk", "@timer", "@timer"]
    a, b = out[0][1], out[1][1]
    assert isinstance(a, LegOrder) and isinstance(b, LegOrder)
    assert (a.leg, a.attempt, a.side, a.qty_lots, a.px_ticks) == (0, 0, "B", 28, 30503)
    assert (b.leg, b.attempt, b.side, b.qty_lots, b.px_ticks) == (1, 0, "S", 9, 26497)
    assert (a.ts_recv_ns, a.ts_signal_ns) == (intent().ts_recv_ns, intent().ts_signal_ns)
    state = out[2][1]
    assert isinstance(state, ComboState) and state is out[3][1]
    assert (state.state, state.filled_a_lots, state.filled_b_lots) == ("working", 0, 0)
    assert state.residual_base == 0.0
    timers = [m for d, m in out if d == "@timer"]
    assert all(isinstance(t, SetTimer) for t in timers)
    assert [t.due_ns for t in timers] == [NOW + 1000 * 1_000_000, NOW + 6000 * 1_000_000]


def test_inlined_bookkeeping_equals_the_helpers() -> None:
    c = _combo()
    c.on_combo_intent(intent(), NOW)
    rec = c.combos[1_000_001]
    ref = _helper_record(c, 1_000_001)
    # the running totals a report reads: open orders, attempts, the zero exposure
    assert rec._open == ref._open == 2
    assert rec.attempts == ref.attempts == [1, 1]
    assert not rec.all_terminal()
    assert rec.residual() == ref.residual() == 0.0
    assert rec.tolerance() == ref.tolerance() == abs(RESIDUAL_28_9)
    # both orders close: the record is terminal (the count the inline add_order kept)
    for o in list(rec.orders.values()):
        rec.close(o)
    assert rec.all_terminal()


def test_lead_mode_sends_leg_a_only_and_counts_one_open_order() -> None:
    c = _combo(legging_mode="lead")
    out = c.on_combo_intent(intent(), NOW)
    orders = [m for _, m in out if isinstance(m, LegOrder)]
    assert [(o.leg, o.attempt) for o in orders] == [(0, 0)]
    rec = c.combos[1_000_001]
    assert rec._open == 1 and rec.attempts == [1, 0]
    assert list(rec.orders) == [(0, 0)]


def test_a_finished_combo_is_forgotten_exactly_at_the_retention() -> None:
    c = _combo()
    c.on_combo_intent(intent(1_000_001), NOW)
    c.combos[1_000_001].state = "complete"
    c.ledger.finished[1_000_001] = NOW  # as ``ledger.finish`` records it
    c.on_combo_intent(intent(1_000_002), NOW + FINISHED_RETAIN_NS - 1)
    assert 1_000_001 in c.combos  # one ns short of the retention: kept
    c.on_combo_intent(intent(1_000_003), NOW + FINISHED_RETAIN_NS)
    assert 1_000_001 not in c.combos and 1_000_001 not in c.ledger.finished
    assert {1_000_002, 1_000_003} <= set(c.combos)


def _leg() -> LegExecutorCore:
    return LegExecutorCore("leg.shfe", "shfe", "shfe-acct", {"au2606": au()}, 3,
                           RiskConfig(max_orders_per_s=100), ["combo", "risk"], 2000)


def test_new_order_fields_and_sent_report_match_the_leg_order() -> None:
    leg = _leg()
    o = LegOrder(42, 1, 2, "shfe", "au2606", "S", 7, 30500, "IOC", "entry", 11, 12)
    out = leg.on_leg_order(o, NOW)
    new = [m for d, m in out if d == "@oe"]
    assert len(new) == 1 and isinstance(new[0], NewOrder)
    n = new[0]
    assert (n.cl, n.sym, n.side, n.px, n.qty, n.tif, n.ts) == (
        "3.42.1.2", "au2606", "S", 30500, 7, "IOC", NOW)
    assert (n.offset, n.reduce_only) == ("", False)
    sent = [(d, m) for d, m in out if isinstance(m, ExecReport)]
    assert [d for d, _ in sent] == ["combo", "risk"]
    r = sent[0][1]
    assert (r.kind, r.cl, r.qty_lots, r.cum_lots, r.leaves_lots) == ("sent", "3.42.1.2", 7, 0, 7)
    # what the executor's own report builder says of the same order
    ref = leg.reports.emit(leg.book.orders["3.42.1.2"], "sent", NOW, reason="entry")
    assert ref[0][1] == r
