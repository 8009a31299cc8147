"""The ComboExecutor's lean order path (issue 18) against the general steps it stands for.

``on_combo_intent`` opens the common intent (its pair's leg A then leg B, well formed) in one
step: ``LegTable.lean`` checks it against the pair's precomputed ``PairLegs`` and
``open_pair_combo`` builds the record with its legs made lazily and its exposure terms from
the pair. ``on_exec_report`` closes orders inline, skips the slippage walk of a combo that
never had a fill, and ``ComboRecord.flat`` answers a record holding nothing at once. Each check
here fails if the lean step stops doing what the general one does, or a checkpoint pickled
before the change stops loading.
"""

from __future__ import annotations

import pickle
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.combo.executor import ComboExecutorCore
from actors.combo.legging import _EPS, round_lots
from actors.combo.legs import LegRecord, LegTable
from actors.combo.record import ComboRecord, OrderRecord
from tests.actors.combo.test_combo_executor import AU, CONTRACTS, GC, intent, pair
from transports.wire.messages import ComboIntent, ExecReport, LegSpec

NOW = 1_000_000_000
NOTIFY = ["strategy.au-gc", "risk"]


def _core(contracts: dict[str, Any] | None = None, **kw: Any) -> ComboExecutorCore:
    return ComboExecutorCore("combo", {"au-gc": pair(**kw)}, contracts or CONTRACTS, NOTIFY)


def _slots(obj: Any) -> dict[str, Any]:
    """Every slot of ``obj`` (a record's whole state) by name."""
    return {k: getattr(obj, k) for k in type(obj).__slots__}


def _leg_fields(leg: LegRecord) -> tuple[Any, ...]:
    return (leg.key, leg.side, leg.target, leg.limit_px, leg.expected_px, leg.sign,
            leg.info.contract, leg.info.dest, leg.info.base_per_lot, leg.info.tick_value,
            leg.info.fee)


def _assert_same_record(got: ComboRecord, want: ComboRecord) -> None:
    """The lean record holds what the general one does (legs and orders by value)."""
    g, w = _slots(got), _slots(want)
    for k in ("_legs", "_pl", "orders", "intent", "pair"):
        g.pop(k), w.pop(k)
    assert g == w
    assert got.intent is want.intent and got.pair == want.pair
    assert list(got.legs) == list(want.legs)
    assert [_leg_fields(x) for x in got.legs.values()] == \
        [_leg_fields(x) for x in want.legs.values()]
    assert list(got.orders) == list(want.orders)
    assert [_slots(o) for o in got.orders.values()] == [_slots(o) for o in want.orders.values()]


def _two_leg_intent(cid: int, side_a: str, a: int, b: int, lim_a: int, exp_b: float) -> ComboIntent:
    side_b = "S" if side_a == "B" else "B"
    legs = [LegSpec("shfe", "au2606", side_a, a, lim_a, 30500.0),  # type: ignore[arg-type]
            LegSpec("comex", "GCZ6", side_b, b, 26497, exp_b)]  # type: ignore[arg-type]
    return intent(cid, legs=legs)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["B", "S"]),
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(29000, 31000),
    st.floats(26000.0, 27000.0),
    st.sampled_from(["concurrent", "lead"]),
    st.booleans(),
)
def test_lean_intent_sends_and_records_what_the_general_path_does(
        side_a: str, a: int, b: int, lim_a: int, exp_b: float, mode: str, int_base: bool) -> None:
    # integer base units per lot make an integer zero exposure: the states must keep its type
    contracts = {"shfe:au2606": msgspec.structs.replace(AU, base_per_lot=1000),
                 "comex:GCZ6": msgspec.structs.replace(GC, base_per_lot=3110)} \
        if int_base else CONTRACTS
    lean, general = _core(contracts, legging_mode=mode), _core(contracts, legging_mode=mode)
    i = _two_leg_intent(1_000_001, side_a, a, b, lim_a, exp_b)
    assert lean._legs.lean(i) is not None
    got = lean.on_combo_intent(i, NOW)
    want = general._open(i, general._legs, NOW)
    assert repr(got) == repr(want)  # the same messages, fields (types too), order, receivers
    rec, ref = lean.combos[1_000_001], general.combos[1_000_001]
    ref._prepare()  # the lean record has its exposure terms worked out already
    _assert_same_record(rec, ref)
    assert (rec.flat(), rec.residual(), rec.tolerance(), rec.target()) == \
        (ref.flat(), ref.residual(), ref.tolerance(), ref.target())
    assert lean.counters == general.counters and lean.ledger.newest == general.ledger.newest


def test_lean_table_leaves_every_other_intent_to_the_general_path() -> None:
    table = LegTable({"au-gc": pair()}, dict(CONTRACTS))
    good = intent()
    assert table.lean(good) is not None
    a, b = good.legs
    bad = [
        intent(legs=[b, a]),  # leg B first: the general path keeps the specs' order
        intent(legs=[a]),  # one leg
        intent(legs=[a, msgspec.structs.replace(b, side="B")]),  # same side: refused there
        intent(a=0),  # no quantity: refused there
        msgspec.structs.replace(good, pair="nope"),  # unknown pair: refused there
        intent(legs=[a, msgspec.structs.replace(b, sym="GCQ6")]),  # not the pair's leg
    ]
    assert all(table.lean(i) is None for i in bad)
    # a contract replaced in place: a fresh entry with the new contract, never the old one
    au2 = msgspec.structs.replace(AU, fee_per_lot=99.0)
    table.contracts["shfe:au2606"] = au2
    pl = table.lean(good)
    assert pl is not None and pl.a.contract is au2 and pl.a.fee == 99.0
    # a pair replaced in place: the entry follows it
    p2 = pair(leg_timeout_ms=77)
    table.pairs["au-gc"] = p2
    pl = table.lean(good)
    assert pl is not None and pl.pair is p2 and pl.step_ns == 77 * 1_000_000


def test_lean_records_legs_are_made_when_first_read() -> None:
    c = _core()
    c.on_combo_intent(intent(), NOW)
    rec = c.combos[1_000_001]
    assert rec._legs is None  # an intent the venue rejects is decided without them
    legs = rec.legs
    assert rec._legs is legs and rec.legs is legs  # made once, then kept
    assert [(x.key, x.side, x.target, x.sign) for x in legs.values()] == \
        [("shfe:au2606", "B", 28, 1), ("comex:GCZ6", "S", 9, -1)]


def _report(cid: int, leg: int, kind: str, state: str, **kw: Any) -> ExecReport:
    venue, sym = ("shfe", "au2606") if leg == 0 else ("comex", "GCZ6")
    base: dict[str, Any] = {
        "venue": venue, "cl": f"1.{cid}.{leg}.0", "combo_id": cid, "leg": leg, "attempt": 0,
        "sym": sym, "side": "B" if leg == 0 else "S", "kind": kind, "state": state,
        "px_ticks": 0, "qty_lots": 0, "cum_lots": 0, "leaves_lots": 0, "fee": 0.0,
        "trade_id": "", "reason": "", "ts_event_ns": 1, "ts_recv_ns": 2}
    return ExecReport(**{**base, **kw})


def test_both_legs_rejected_fail_the_combo_with_zero_slippage_and_cancelled_timers() -> None:
    c = _core()
    c.on_combo_intent(intent(), NOW)
    assert c.on_exec_report(_report(1_000_001, 0, "sent", "SUBMITTED"), NOW) == []
    assert c.on_exec_report(_report(1_000_001, 0, "rejected", "REJECTED"), NOW) == []
    rec = c.combos[1_000_001]
    assert rec._open == 1 and rec.no_chase == {0} and rec.unhedged_since_ns is None
    out = c.on_exec_report(_report(1_000_001, 1, "rejected", "REJECTED"), NOW)
    assert [d for d, _ in out] == ["@timer", "@timer", *NOTIFY]
    assert [(m.key, m.due_ns, m.arg) for _, m in out[:2]] == \
        [("step", 0, "1000001"), ("budget", 0, "1000001")]
    s = out[2][1]
    assert (s.state, s.filled_a_lots, s.filled_b_lots, s.residual_base) == ("failed", 0, 0, 0.0)
    # no fill was applied (``tids`` None): the slippage the long walk finds is zero too
    assert rec.tids is None and (rec.entry_slippage(0), rec.entry_slippage(1)) == \
        ((0.0, 0), (0.0, 0))
    assert (s.slip_a_tick_lots, s.slip_b_tick_lots, s.entry_a_lots, s.entry_b_lots) == \
        (0.0, 0.0, 0, 0)
    assert c.counters["failed"] == 1 and rec._legs is None
    assert 1_000_001 in c.ledger.finished


def test_a_filled_leg_reports_its_slippage_when_the_combo_finishes() -> None:
    c = _core()
    c.on_combo_intent(intent(), NOW)
    c.on_exec_report(_report(1_000_001, 0, "fill", "FILLED", qty_lots=28, px_ticks=30502,
                             cum_lots=28, trade_id="t1"), NOW)
    c.on_exec_report(_report(1_000_001, 0, "done", "FILLED", cum_lots=28), NOW)
    rec = c.combos[1_000_001]
    assert rec.unhedged_since_ns == NOW  # one leg held: the unhedged clock runs
    # a fill that completes leg B's order closes it: the combo finishes without the done
    out = c.on_exec_report(_report(1_000_001, 1, "fill", "FILLED", qty_lots=9,
                                   px_ticks=26500, cum_lots=9, trade_id="t2"), NOW)
    states = [m for d, m in out if d == "risk"]
    assert [s.state for s in states] == ["complete"] and rec.unhedged_since_ns is None
    # bought A 2 ticks over the 30500 expected on 28 lots; sold B at the expected price
    assert (states[0].slip_a_tick_lots, states[0].entry_a_lots) == (2.0 * 28, 28)
    assert (states[0].slip_b_tick_lots, states[0].entry_b_lots) == (0.0, 9)
    # its done changes nothing held: nothing more is said
    assert c.on_exec_report(_report(1_000_001, 1, "done", "FILLED", cum_lots=9), NOW) == []


def _flat_reference(c: ComboRecord) -> bool:
    """``ComboRecord.flat`` as it was before the shortcut for a record holding nothing."""
    if len(c.legs) < 2:
        return True
    c.tolerance()
    exp = c._exp
    assert exp is not None
    if c._target:
        e = abs(c.residual() - c._target)
        return all(round_lots(e / b) == 0 for _, _, b in exp)
    e = abs(c.residual())
    if e <= c._tolerance + _EPS:
        return True
    return all(round_lots(e / b) == 0 for _, _, b in exp)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.integers(-3, 3), st.integers(-3, 3))
def test_flat_of_a_record_holding_nothing_or_something_is_the_long_test(
        a: int, b: int, held_a: int, held_b: int) -> None:
    # uneven intents (a close of what a failed combo left) have a target: never flat when empty
    c = _core()
    c.on_combo_intent(_two_leg_intent(1_000_001, "B", a, b, 30503, 26500.0), NOW)
    rec = c.combos[1_000_001]
    rec._held[0], rec._held[1] = held_a, held_b
    assert rec.flat() == _flat_reference(rec)


# --- checkpoints pickled before the change --------------------------------------------------------


def _old_state(obj: Any, renames: dict[str, str], drop: tuple[str, ...]) -> tuple[None, dict]:
    """``obj``'s pickled state as the code before the change wrote it: slots only, some under
    their old names, the new ones absent."""
    slots = {k: getattr(obj, k) for k in type(obj).__slots__ if hasattr(obj, k)}
    for new, old in renames.items():
        slots[old] = slots.pop(new)
    for k in drop:
        slots.pop(k, None)
    return None, slots


def test_a_record_pickled_with_eager_legs_loads_and_decides_the_same() -> None:
    old_core, new_core = _core(), _core()
    i = intent()
    old_core._open(i, old_core._legs, NOW)  # the general path: legs built eagerly
    new_core.on_combo_intent(i, NOW)
    old = old_core.combos[1_000_001]
    back = ComboRecord.__new__(ComboRecord)
    back.__setstate__(_old_state(old, {"_legs": "legs"}, ("_pl",)))
    assert back._pl is None and back.legs is old.legs
    old_core.combos[1_000_001] = back
    reports = [_report(1_000_001, 0, "fill", "FILLED", qty_lots=28, px_ticks=30503,
                       cum_lots=28, trade_id="t1"),
               _report(1_000_001, 0, "done", "FILLED", cum_lots=28),
               _report(1_000_001, 1, "rejected", "REJECTED")]
    for r in reports:
        assert repr(old_core.on_exec_report(r, NOW)) == repr(new_core.on_exec_report(r, NOW))
    assert old_core.snapshot() == new_core.snapshot()


def test_a_leg_table_pickled_without_its_lean_cache_loads_and_fills_it() -> None:
    c = _core()
    c.on_combo_intent(intent(), NOW)
    table = c._legs
    back = LegTable.__new__(LegTable)
    back.__setstate__(_old_state(table, {}, ("_lean",)))
    assert back._lean == {} and back.pairs is table.pairs
    assert back.lean(intent(1_000_002)) is not None and "au-gc" in back._lean
    # and through pickle, as a checkpoint carries the core
    loaded = pickle.loads(pickle.dumps(c))
    assert repr(loaded.on_combo_intent(intent(1_000_002), NOW)) == \
        repr(c.on_combo_intent(intent(1_000_002), NOW))
    assert isinstance(loaded.combos[1_000_001].orders[(0, 0)], OrderRecord)
