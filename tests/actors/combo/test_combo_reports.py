"""The ComboExecutor's report path (issue 18, session 10) against the general record.

A lean record (``open_pair_combo``: its legs are not built until something reads them) reads a
leg's side and expected price from its intent when a fill or a done moves what it holds and when
its final state prices the slippage; ``on_exec_report`` applies fills and dones inline and hands
the flat test it worked out to ``evaluate``. Each check fails if the lean record stops deciding
what a record built with its legs (the general path, ``_open``) decides, or if the held lots or
the slippage stop being what the reports say.
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.combo.executor import ComboExecutorCore
from tests.actors.combo.test_combo_executor import CONTRACTS, intent, pair
from transports.wire.messages import ExecReport, LegSpec, Timer

NOW = 1_000_000_000
NOTIFY = ["strategy.au-gc", "risk"]
CID = 1_000_001
TARGET = (28, 9)  #: the intent's lots on leg A and leg B
EXPECTED = (30500.0, 26497.5)  #: the prices the decision expected (ticks)


def _core(legging_mode: str = "concurrent") -> ComboExecutorCore:
    return ComboExecutorCore("combo", {"au-gc": pair(legging_mode=legging_mode)}, CONTRACTS,
                             NOTIFY)


def _intent(side_a: str) -> Any:
    side_b = "S" if side_a == "B" else "B"
    return intent(CID, legs=[
        LegSpec("shfe", "au2606", side_a, TARGET[0], 30503, EXPECTED[0]),  # type: ignore[arg-type]
        LegSpec("comex", "GCZ6", side_b, TARGET[1], 26497, EXPECTED[1]),  # type: ignore[arg-type]
    ])


def _report(leg: int, side: str, kind: str, state: str, **kw: Any) -> ExecReport:
    venue, sym = ("shfe", "au2606") if leg == 0 else ("comex", "GCZ6")
    base: dict[str, Any] = {
        "venue": venue, "cl": f"1.{CID}.{leg}.0", "combo_id": CID, "leg": leg, "attempt": 0,
        "sym": sym, "side": side, "kind": kind, "state": state, "px_ticks": 0, "qty_lots": 0,
        "cum_lots": 0, "leaves_lots": 0, "fee": 0.0, "trade_id": "", "reason": "",
        "ts_event_ns": 1, "ts_recv_ns": 2}
    return ExecReport(**{**base, **kw})


#: one venue report of an entry order: (leg, kind, lots, price offset in ticks, repeat the
#: previous trade id)
EVENT = st.tuples(st.integers(0, 1), st.sampled_from(["fill", "fill", "done", "rejected"]),
                  st.integers(0, 12), st.integers(-3, 3), st.booleans())


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["B", "S"]), st.sampled_from(["concurrent", "lead"]),
       st.lists(EVENT, max_size=9))
def test_a_lean_record_decides_every_report_as_a_record_with_its_legs(
        side_a: str, mode: str, events: list[tuple[int, str, int, int, bool]]) -> None:
    lean, general = _core(mode), _core(mode)
    it = _intent(side_a)
    lean.on_combo_intent(it, NOW)
    general._open(it, general._legs, NOW)  # the general path: the record's legs built at once
    rec = lean.combos[CID]
    assert rec._legs is None and general.combos[CID]._legs is not None
    sides = (side_a, "S" if side_a == "B" else "B")
    cum = [0, 0]
    tid = 0
    # what the reports say each leg holds (its one order, in the intent's direction): the
    # deduped fills, or the venue's largest final cum when fills are still in flight
    applied: set[tuple[int, int]] = set()
    fill_lots, final_cum = [0, 0], [0, 0]
    for i, (leg, kind, lots, off, again) in enumerate(events):
        now = NOW + (i + 1) * 1_000
        sent = (leg, 0) in rec.orders  # in lead mode leg B's order waits for A's fills
        if kind == "fill":
            if not (again and tid):
                tid += 1
            px = round(EXPECTED[leg]) + off
            cum[leg] += lots
            state = "FILLED" if cum[leg] >= TARGET[leg] else "PARTIALLY_FILLED"
            r = _report(leg, sides[leg], "fill", state, qty_lots=lots, px_ticks=px,
                        cum_lots=cum[leg], trade_id=f"t{tid}")
            if sent and (leg, tid) not in applied:
                applied.add((leg, tid))
                fill_lots[leg] += lots
        elif kind == "done":  # the venue's final cum may be ahead of the fills (in flight)
            r = _report(leg, sides[leg], "done", "FILLED" if lots % 2 else "CANCELED",
                        cum_lots=cum[leg] + lots % 3 - lots % 2)  # at times behind the fills
            if sent:
                final_cum[leg] = max(final_cum[leg], r.cum_lots)
        else:
            r = _report(leg, sides[leg], "rejected", "REJECTED", reason="no")
        got, want = lean.on_exec_report(r, now), general.on_exec_report(r, now)
        assert repr(got) == repr(want), (i, r)
        assert rec._held == [max(fill_lots[k], final_cum[k]) for k in (0, 1)], (i, r)
    assert lean.snapshot() == general.snapshot()
    g = general.combos[CID]
    assert rec._held == g._held and rec._open == g._open and rec.state == g.state
    assert rec.entry_slippages() == (*g.entry_slippage(0), *g.entry_slippage(1))
    assert rec.entry_slippages() == (*rec.entry_slippage(0), *rec.entry_slippage(1))


def test_a_complete_combo_never_builds_its_legs_and_reports_its_slippage() -> None:
    c = _core()
    c.on_combo_intent(_intent("B"), NOW)
    rec = c.combos[CID]
    c.on_exec_report(_report(0, "B", "fill", "PARTIALLY_FILLED", qty_lots=20, px_ticks=30502,
                             cum_lots=20, trade_id="t1"), NOW)
    c.on_exec_report(_report(0, "B", "fill", "FILLED", qty_lots=8, px_ticks=30499,
                             cum_lots=28, trade_id="t2"), NOW)
    c.on_exec_report(_report(0, "B", "done", "FILLED", cum_lots=28), NOW)
    assert rec._held == [28, 0] and rec.unhedged_since_ns == NOW
    out = c.on_exec_report(_report(1, "S", "fill", "FILLED", qty_lots=9, px_ticks=26496,
                                   cum_lots=9, trade_id="t3"), NOW + 5)
    (state,) = [m for d, m in out if d == "risk"]
    assert state.state == "complete" and rec._legs is None  # decided without the legs
    # bought A: 20 lots 2 ticks over, 8 lots 1 tick under the 30500 expected (+32 tick-lots);
    # sold B 1.5 ticks under the 26497.5 expected on 9 lots (+13.5 tick-lots: worse)
    assert (state.slip_a_tick_lots, state.entry_a_lots) == (32.0, 28)
    assert (state.slip_b_tick_lots, state.entry_b_lots) == (13.5, 9)
    assert c.counters["max_unhedged_ns"] == 5 and rec.unhedged_since_ns is None
    assert rec.legs[1].expected_px == EXPECTED[1]  # read now: built from the intent
    # a later combo hedged sooner leaves the longest unhedged time as it was
    c.on_combo_intent(msgspec.structs.replace(_intent("B"), combo_id=CID + 1), NOW + 10)
    for leg, side, lots, px in ((0, "B", 28, 30500), (1, "S", 9, 26497)):
        c.on_exec_report(msgspec.structs.replace(
            _report(leg, side, "fill", "FILLED", qty_lots=lots, px_ticks=px, cum_lots=lots,
                    trade_id=f"u{leg}"), combo_id=CID + 1, cl=f"1.{CID + 1}.{leg}.0"),
            NOW + 11 + leg)
    assert c.combos[CID + 1].state == "complete" and c.counters["max_unhedged_ns"] == 5


def test_combos_that_fail_unhedged_keep_the_longest_unhedged_time() -> None:
    c = _core()
    for k, (filled_ns, budget_ns) in enumerate(((NOW, NOW + 700), (NOW + 1_000, NOW + 1_200))):
        cid = CID + k
        c.on_combo_intent(msgspec.structs.replace(_intent("B"), combo_id=cid), filled_ns - 1)
        c.on_exec_report(msgspec.structs.replace(
            _report(0, "B", "fill", "FILLED", qty_lots=28, px_ticks=30500, cum_lots=28,
                    trade_id=f"t{k}"), combo_id=cid, cl=f"1.{cid}.0.0"), filled_ns)
        assert c.combos[cid].unhedged_since_ns == filled_ns  # leg B never traded
        out = c.on_timer(Timer("budget", budget_ns, str(cid)), budget_ns)
        assert c.combos[cid].state == "failed" and c.combos[cid].unhedged_since_ns is None
        assert [m.state for d, m in out if d == "risk"] == ["failed"]
    assert c.counters["max_unhedged_ns"] == 700  # the first's 700 ns, not the second's 200
