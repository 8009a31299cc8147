"""RiskCore's per-combo work made cheaper with the same answers (docs/performance.md).

What changed, and what each test holds it to:

- the holdings kept from ``ComboState`` (``combo_holding``, ``PairHoldings``) skip the work of a
  state that holds nothing new: the same positions and per-combo holdings as the rule written
  out in full (``_ref_holding`` / ``_RefHoldings``, the code before the change);
- ``Orphans.check`` asks "is a combo live?" before valuing the exposure, and the exposure is
  valued once per change of the positions (``Book.exposure_view``, never pickled): every
  output of every message equals the old rule computed from a fresh ``Book.exposure()``;
- the reject rate counts its rejects as the window moves (``Limits.rejected_n``,
  ``Limits.on_outcome``) instead of summing the window per report; an older checkpoint without
  the count gets it on load.
"""

from __future__ import annotations

import pickle
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.risk.holdings import NOTHING, PairHoldings, combo_holding
from actors.risk.limits import Limits
from actors.risk.orphans import DISARM
from actors.risk.risk import RiskCore
from actors.risk.valuation import Book
from transports.config.engine import RiskConfig, load_config
from transports.wire.messages import (
    BookUpdate,
    ComboState,
    ExecReport,
    Position,
    SetParams,
    SetTimer,
    Timer,
)

PAIRS = {"au-gc": ("shfe:au2606", "comex:GCZ6")}
STATES = ("working", "complete", "repairing", "repaired", "failed")


def _ref_holding(s: ComboState) -> tuple[int, int]:
    """``combo_holding`` as it was written before (the rule in full)."""
    sign_a = 1 if s.direction > 0 else -1
    a, b = sign_a * s.filled_a_lots, -sign_a * s.filled_b_lots
    if s.action != "open":
        return -a, -b
    return a, b


class _RefHoldings:
    """``PairHoldings`` as it was written before."""

    def __init__(self) -> None:
        self.pos: dict[str, tuple[int, int]] = {}
        self.by_combo: dict[str, dict[int, tuple[int, int]]] = {}

    def on_combo_state(self, s: ComboState) -> None:
        a, b = _ref_holding(s)
        combos = self.by_combo.setdefault(s.pair, {})
        old = combos.get(s.combo_id, (0, 0))
        combos[s.combo_id] = (a, b)
        pa, pb = self.pos.get(s.pair, (0, 0))
        pa, pb = pa + a - old[0], pb + b - old[1]
        self.pos[s.pair] = (pa, pb)
        if pa == 0 and pb == 0 and s.state not in ("working", "repairing"):
            combos.clear()


combo_states = st.builds(
    ComboState, st.integers(1, 4), st.sampled_from(["au-gc", "other"]),
    st.sampled_from(["open", "close"]), st.sampled_from(STATES), st.sampled_from([-1, 0, 1]),
    st.integers(-1, 3), st.integers(-1, 3), st.just(0.0), st.just(0))


@given(st.lists(combo_states, max_size=40))
@settings(max_examples=150, deadline=None)
def test_holdings_are_those_of_the_rule_in_full(states: list[ComboState]) -> None:
    new, ref = PairHoldings(), _RefHoldings()
    for s in states:
        assert combo_holding(s) == _ref_holding(s)
        new.on_combo_state(s)
        ref.on_combo_state(s)
        # the same sums, and the same per-combo memory (the same keys in the same order)
        assert new.pos == ref.pos and list(new.pos) == list(ref.pos)
        assert new._by_combo == ref.by_combo
        assert [list(c) for c in new._by_combo.values()] == \
            [list(c) for c in ref.by_combo.values()]


def test_nothing_filled_holds_the_shared_nothing_either_way() -> None:
    for action in ("open", "close"):
        for direction in (-1, 1):
            s = ComboState(1, "p", action, "working", direction, 0, 0, 0.0, 0)
            assert combo_holding(s) is NOTHING == (0, 0)


# --- the whole core against the old rule, message by message -------------------------------------


def _core(**limits: Any) -> RiskCore:
    cfg = load_config()
    contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    risk = msgspec.structs.replace(RiskConfig(unhedged_limit_ms=100), **limits)
    r = RiskCore("risk", contracts, risk, ["leg.shfe", "leg.comex"], ["strategy.au-gc"],
                 {"USD": ("fx:USDCNH", False)}, epoch=1, pairs=PAIRS)
    for venue, sym, px in (("fx", "USDCNH", 72000), ("shfe", "au2606", 30650),
                           ("comex", "GCZ6", 26500)):
        r.on_book_update(BookUpdate(venue, sym, True, 0, 0, 0, [px - 1], [1], [px + 1], [1]), 0)
    return r


def _report(kind: str, venue: str = "shfe", sym: str = "au2606", side: str = "B",
            qty: int = 1) -> ExecReport:
    return ExecReport(venue, "1.1.0.0", 1, 0, 0, sym, side, kind, "", 30650 if venue == "shfe"
                      else 26500, qty, qty, 0, 0.0, "", "", 0, 0)


legs = st.sampled_from([("shfe", "au2606"), ("comex", "GCZ6")])
events = st.one_of(
    combo_states.map(lambda s: msgspec.structs.replace(s, pair="au-gc")),
    st.builds(lambda leg, side, q: _report("fill", *leg, side, q), legs,
              st.sampled_from("BS"), st.integers(1, 30)),
    st.builds(lambda leg, q: Position(*leg, q, 0), legs, st.integers(-40, 40)),
    st.sampled_from(["sent", "accepted", "rejected", "rejected", "denied", "done"]).map(_report),
    st.integers(1, 6).map(lambda n: SetParams("risk", {"reject_window": n})),
    st.just(Timer("unhedged", 0)),
)


def _old_orphan_check(r: RiskCore, since_before_ns: int, now_ns: int) -> list[Any]:
    """What ``Orphans.check`` says, with the exposure valued fresh: nothing while a combo is
    live (a running clock keeps running, session 12), else disarmed when hedged and no spread
    sits on a pair's legs that nobody holds (``stray_pair``, session 12), armed once when
    not."""
    o = r.orphans
    if o.live_combos:
        return []
    if o.excess(r.book.exposure()) is None and o.stray_pair(r.book) is None:
        return [("@timer", SetTimer("unhedged", 0))]
    if since_before_ns:
        return []
    return [("@timer", SetTimer("unhedged", now_ns + r.risk.unhedged_limit_ms * 1_000_000))]


def _old_reject_check(r: RiskCore) -> str:
    """The reject reason's verdict before: the rate summed over the full window."""
    w = r.limits.outcomes
    if len(w) < w.maxlen:  # type: ignore[operator]
        return "unjudged"
    return "breach" if sum(w) / len(w) > r.risk.max_reject_rate else "clear"


@given(st.lists(events, max_size=60))
@settings(max_examples=120, deadline=None)
def test_every_output_is_the_old_rules_with_the_exposure_valued_fresh(evs: list[Any]) -> None:
    r = _core(reject_window=3, max_reject_rate=0.5, max_net_exposure_base=1e12)
    ref = _RefHoldings()
    for i, m in enumerate(evs, start=1):
        now_ns = i * 1_000_000
        since_ns = r.orphans.unhedged_since_ns
        due_before = r.orphans.due
        reasons_before = dict(r.reasons)
        out = r.handle(m, now_ns)
        # the cached exposure is never stale: positions change only through fills and adopts
        assert r.book.exposure_view() == r.book.exposure()
        assert list(r.book.exposure_view()) == list(r.book.exposure())
        assert r.limits.rejected_n == sum(r.limits.outcomes)
        if isinstance(m, ComboState):
            ref.on_combo_state(m)
            assert r.holdings.pos == ref.pos and r.holdings._by_combo == ref.by_combo
            expected = _old_orphan_check(r, since_ns, now_ns)
            if due_before and not r.orphans.live_combos:
                # the timer expired while combos were live: judged now, after the check
                assert out[:len(expected)] == expected and not r.orphans.due
            else:
                assert out == expected
        elif isinstance(m, ExecReport) and m.kind in ("accepted", "rejected"):
            verdict = _old_reject_check(r)
            if verdict == "breach":
                assert r.reasons.get("reject_rate") == "REDUCING"
            elif verdict == "clear":
                assert "reject_rate" not in r.reasons
            else:
                assert out == [] and r.reasons == reasons_before
        elif isinstance(m, ExecReport) and m.kind in ("sent", "done"):
            assert out == []


def test_a_working_state_does_not_value_the_exposure() -> None:
    r = _core()
    r.on_exec_report(_report("fill", qty=5), 1)  # 5 au nobody holds: unhedged
    assert r.book._exposure is not None  # valued by the fill's checks
    r.on_exec_report(_report("fill", qty=1), 2)
    r.book._exposure = None  # as after any fill that nothing valued since
    assert r.orphans.unhedged_since_ns == 1  # the clock runs from the first fill
    out = r.on_combo_state(ComboState(7, "au-gc", "open", "working", 1, 0, 0, 0.0, 0), 3)
    assert out == [] and r.orphans.unhedged_since_ns == 1  # a live combo does not reset it
    assert r.book._exposure is None  # nothing is judged while a combo is live
    out = r.on_combo_state(ComboState(7, "au-gc", "open", "failed", 1, 0, 0, 0.0, 0), 4)
    assert not [m for _, m in out if isinstance(m, SetTimer)]  # still the clock of t=1
    assert r.book._exposure == {"gold": 6000.0} and r.orphans.unhedged_since_ns == 1
    # hedged again with no combo live: disarmed
    out = r.on_exec_report(_report("fill", side="S", qty=6), 5)
    assert DISARM in out and r.orphans.unhedged_since_ns == 0


# --- checkpoints ---------------------------------------------------------------------------------


def test_the_exposure_cache_is_never_pickled_and_a_loaded_book_values_afresh() -> None:
    r = _core()
    r.on_exec_report(_report("fill", qty=5), 1)
    assert r.book._exposure == {"gold": 5000.0}
    state = r.book.__getstate__()
    assert "_exposure" not in state  # a checkpoint holds what the base code's held
    back = pickle.loads(pickle.dumps(r.book))
    assert back._exposure is None and back.exposure_view() == {"gold": 5000.0}
    old = Book.__new__(Book)  # an older checkpoint: a plain __dict__ without the cache
    old.__setstate__(dict(state))
    assert old._exposure is None and old.exposure_view() == r.book.exposure()


def test_an_older_limits_without_the_reject_count_counts_it_on_load() -> None:
    lim = Limits("risk", "journal", ("leg.shfe",), 4)
    risk = RiskConfig(max_reject_rate=0.9, reject_window=4)
    for rejected in (True, False, True, True, True):
        lim.on_outcome(rejected, risk, 0)
    assert lim.rejected_n == 3 and lim.state == "ACTIVE"
    state = dict(vars(lim))
    del state["rejected_n"]  # pickled by the code before the count existed
    old = Limits.__new__(Limits)
    old.__setstate__(state)
    assert old.rejected_n == 3
    risk = RiskConfig(max_reject_rate=0.5, reject_window=4)
    assert old.check_rejects(risk, 1)[0][1].what == "breach"  # 3 of 4: the same verdict
    assert old.on_outcome(False, risk, 2) == []  # an accept leaves: [T, T, T, F], still 3
    assert old.rejected_n == 3 == sum(old.outcomes)
    # a reject leaves: [T, T, F, F], 2 of 4 is not above 0.5: the reason clears, ACTIVE again
    assert [m.state for _, m in old.on_outcome(False, risk, 3)] == ["ACTIVE"]
    assert old.rejected_n == 2 == sum(old.outcomes) and "reject_rate" not in old.reasons


def test_a_whole_core_pickled_midway_continues_with_the_same_outputs() -> None:
    def run(r: RiskCore, ms: list[Any], t0: int) -> list[Any]:
        return [r.handle(m, t0 + i) for i, m in enumerate(ms)]

    first = [ComboState(1, "au-gc", "open", "working", 1, 0, 0, 0.0, 0), _report("fill", qty=3),
             _report("rejected"), _report("rejected"),
             ComboState(1, "au-gc", "open", "failed", 1, 3, 0, 0.0, 0)]
    then = [_report("rejected"), _report("accepted"), _report("fill", "comex", "GCZ6", "S", 1),
            ComboState(2, "au-gc", "close", "working", 1, 0, 0, 0.0, 0),
            ComboState(2, "au-gc", "close", "complete", 1, 3, 0, 0.0, 0)]
    a = _core(reject_window=3)
    run(a, first, 10)
    b = pickle.loads(pickle.dumps(a))
    assert run(a, then, 100) == run(b, then, 100)
    assert a.snapshot() == b.snapshot()
