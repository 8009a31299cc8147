"""RiskCore: exposure across venues, PnL in one currency, states with reasons, latched halts."""

from __future__ import annotations

import msgspec
import pytest

from actors.risk.risk import RiskCore
from tests.support.helpers import msgs
from transports.config.engine import RiskConfig, load_config
from transports.wire.messages import (
    BookUpdate,
    ComboState,
    Decision,
    ExecReport,
    Flatten,
    Halt,
    LegOrder,
    Reduce,
    Resume,
    SetParams,
    SetTimer,
    Timer,
    TradingState,
)


def _core(**limits: object) -> RiskCore:
    cfg = load_config()
    contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    risk = msgspec.structs.replace(RiskConfig(), **limits)
    return RiskCore("risk", contracts, risk, ["leg.shfe", "leg.comex", "combo"],
                    ["strategy.au-gc"], {"USD": ("fx:USDCNH", False)}, epoch=1)


def _fill(venue: str, sym: str, side: str, qty: int, px: int, fee: float = 0.0) -> ExecReport:
    return ExecReport(venue, "1.1.0.0", 1, 0, 0, sym, side, "fill", "FILLED", px, qty, qty, 0,
                      fee, "t1", "", 0, 0)


def _report(kind: str, reason: str = "") -> ExecReport:
    return ExecReport("shfe", "1.1.0.0", 1, 0, 0, "au2606", "B", kind, "", 0, 1, 0, 0, 0.0, "",
                      reason, 0, 0)


def _mark(r: RiskCore, venue: str, sym: str, bid: int, ask: int) -> None:
    r.on_book_update(BookUpdate(venue, sym, True, 0, 0, 0, [bid], [1], [ask], [1]), 0)


def _marks(r: RiskCore, au: int = 30650, gc: int = 26500, fx: int = 72000) -> None:
    _mark(r, "fx", "USDCNH", fx - 1, fx + 1)
    _mark(r, "shfe", "au2606", au - 1, au + 1)
    _mark(r, "comex", "GCZ6", gc - 1, gc + 1)


def test_net_exposure_offsets_across_venues_in_grams() -> None:
    r = _core()
    r.on_exec_report(_fill("shfe", "au2606", "S", 28, 30650), 1)
    r.on_exec_report(_fill("comex", "GCZ6", "B", 9, 26500), 2)
    assert r.exposure()["gold"] == pytest.approx(-28_000 + 9 * 3110.34768)


def test_pnl_is_in_the_home_currency_through_the_fx_book() -> None:
    r = _core()
    _marks(r)
    r.on_exec_report(_fill("comex", "GCZ6", "B", 1, 26500, fee=2.5), 1)
    _marks(r, gc=26510)  # +1.0 USD/oz on 100 oz = 100 USD
    p = r.pnl()
    assert p["gross"] == pytest.approx(100 * 7.2, rel=1e-6)
    assert p["fees"] == pytest.approx(2.5 * 7.2, rel=1e-6)


def test_exposure_breach_halts_with_its_reason_and_stays_halted() -> None:
    r = _core(max_net_exposure_base=10_000.0)
    out = r.on_exec_report(_fill("shfe", "au2606", "B", 11, 30650), 1)
    states = msgs(out, TradingState)
    assert states and all(s.state == "HALTED" and s.reason == "max_net_exposure" for s in states)
    assert {d for d, m in out if isinstance(m, TradingState)} == {
        "leg.shfe", "leg.comex", "combo", "strategy.au-gc"}
    # back within the limit: still HALTED (latched) until an explicit resume
    r.on_exec_report(_fill("shfe", "au2606", "S", 11, 30650), 2)
    assert r.state == "HALTED"
    out = r.handle(Resume(), 3)
    assert r.state == "ACTIVE" and msgs(out, TradingState)[0].state == "ACTIVE"


def test_reject_rate_reduces_then_clears() -> None:
    r = _core(reject_window=4, max_reject_rate=0.5)
    for _ in range(3):
        r.on_exec_report(_report("rejected"), 1)
    out = r.on_exec_report(_report("accepted"), 2)
    assert r.state == "REDUCING" and msgs(out, TradingState)[0].reason == "reject_rate"
    for _ in range(4):
        r.on_exec_report(_report("accepted"), 3)
    assert r.state == "ACTIVE"


def test_daily_loss_halts() -> None:
    r = _core(daily_loss_limit=1000.0)
    _marks(r)
    r.on_exec_report(_fill("shfe", "au2606", "B", 1, 30650), 1)
    _marks(r, au=30550)  # -2 CNY/g on 1000 g
    out = r.on_exec_report(_fill("shfe", "au2606", "S", 1, 30550), 2)
    assert r.state == "HALTED" and r.reasons == {"daily_loss": "HALTED"}
    assert msgs(out, TradingState)


def test_margin_usage_alarm_reduces() -> None:
    r = _core(margin_capital=1_000_000.0, margin_alarm_pct=85.0)
    _marks(r)
    # 30 lots × 1000 g × 613 CNY/g × 10% = 1.84M > 85% of 1M
    r.on_exec_report(_fill("shfe", "au2606", "B", 30, 30650), 1)
    assert r.state == "REDUCING" and "margin_usage" in r.reasons
    r.on_exec_report(_fill("shfe", "au2606", "S", 30, 30650), 2)
    assert r.state == "ACTIVE"


def test_orphan_exposure_is_flattened_after_its_limit_then_halts() -> None:
    r = _core(unhedged_limit_ms=100)
    _marks(r)
    out = r.on_exec_report(_fill("comex", "GCZ6", "B", 1, 26500), 1_000_000)
    (timer,) = [m for _, m in out if isinstance(m, SetTimer) and m.due_ns]
    assert timer.due_ns == 1_000_000 + 100_000_000
    out = r.on_timer(Timer("unhedged", timer.due_ns), timer.due_ns)
    (order,) = msgs(out, LegOrder)
    # the GC lot nobody holds is closed on its own contract, not cut on the smallest lot
    # (3 au would leave an au/GC spread nobody holds)
    assert (order.venue, order.side, order.qty_lots, order.purpose) == ("comex", "S", 1, "flatten")
    # a live combo owns exposure: no timer
    r2 = _core(unhedged_limit_ms=100)
    r2.on_combo_state(ComboState(5, "au-gc", "open", "working", 1, 0, 0, 0.0, 0), 0)
    out = r2.on_exec_report(_fill("comex", "GCZ6", "B", 1, 26500), 1)
    assert not [m for _, m in out if isinstance(m, SetTimer) and m.due_ns]


def test_denials_are_counted_by_reason() -> None:
    r = _core()
    r.on_exec_report(_report("denied", "max_lots"), 1)
    r.on_exec_report(_report("denied", "max_lots"), 2)
    r.on_exec_report(_report("denied", "rate_limit"), 3)
    assert r.snapshot()["denials"] == {"max_lots": 2, "rate_limit": 1}


def test_operator_halt_and_reduce() -> None:
    r = _core()
    r.handle(Reduce("desk"), 1)
    assert r.state == "REDUCING"
    out = r.handle(Halt("desk"), 2)
    assert r.state == "HALTED" and msgs(out, TradingState)[0].reason == "operator_halt"
    assert [s for _, s, _ in r.state_changes] == ["REDUCING", "HALTED"]


def test_executors_learn_exposure_and_fx_for_their_pretrade_checks() -> None:
    from transports.wire.messages import RiskView

    r = _core()
    out = r.on_book_update(BookUpdate("fx", "USDCNH", True, 0, 0, 0, [71999], [1], [72001],
                                      [1]), 0)
    views = msgs(out, RiskView)
    assert {d for d, m in out if isinstance(m, RiskView)} == {"leg.shfe", "leg.comex"}
    assert views[0].fx["USD"] == pytest.approx(7.2)
    # an unchanged rate is not sent again; a fill always is
    assert r.on_book_update(BookUpdate("fx", "USDCNH", True, 0, 0, 0, [71999], [1], [72001],
                                       [1]), 1) == []
    out = r.on_exec_report(_fill("shfe", "au2606", "B", 2, 30650), 2)
    assert msgs(out, RiskView)[0].exposure == {"gold": 2000.0}


def test_the_view_carries_gross_notional_and_margin_across_venues_in_home_ccy() -> None:
    from transports.wire.messages import RiskView

    r = _core()
    _marks(r)  # au 613.00 CNY/g, GC 2650.0 USD/oz, USDCNH 7.2
    r.on_exec_report(_fill("shfe", "au2606", "S", 28, 30650), 1)
    out = r.on_exec_report(_fill("comex", "GCZ6", "B", 9, 26500), 2)
    view, other = msgs(out, RiskView)  # one per leg executor, the same
    assert view == other
    au_lot, gc_lot = 30650 * 0.02 * 1000, 26500 * 0.1 * 100 * 7.2
    assert view.lot_notional["shfe:au2606"] == pytest.approx(au_lot)
    assert view.lot_notional["comex:GCZ6"] == pytest.approx(gc_lot)
    assert "fx:USDCNH" not in view.lot_notional
    assert view.positions == {"shfe:au2606": -28, "comex:GCZ6": 9}
    gross = 28 * au_lot + 9 * gc_lot  # short and long both count
    assert view.gross_notional == pytest.approx(gross)
    assert view.margin_used == pytest.approx(0.1 * gross)  # margin_rate 0.1 (default)
    assert view.budget_venues == 2  # leg.shfe and leg.comex share the headroom
    # a held lot's value moving more than 10 bp sends a new view; a smaller move does not
    assert not msgs(r.on_book_update(BookUpdate("shfe", "au2606", True, 0, 0, 0, [30651], [1],
                                                [30653], [1]), 3), RiskView)
    out = r.on_book_update(BookUpdate("shfe", "au2606", True, 0, 0, 0, [30700], [1], [30702],
                                      [1]), 4)
    assert msgs(out, RiskView)[0].lot_notional["shfe:au2606"] == pytest.approx(30701 * 20)


def test_the_executors_get_a_first_view_at_start() -> None:
    from transports.wire.messages import RiskView

    out = _core().on_start(5)
    assert {d for d, m in out if isinstance(m, RiskView)} == {"leg.shfe", "leg.comex"}
    view = msgs(out, RiskView)[0]
    assert (view.budget_venues, view.gross_notional, view.positions) == (2, 0.0, {})


def test_a_position_found_at_reconciliation_is_adopted_at_the_mark() -> None:
    from transports.wire.messages import Position

    r = _core()
    r.on_exec_report(_fill("shfe", "au2606", "B", 2, 30650), 1)
    # the venue says 5 (3 more than the fills told): adopted before any mark, priced at the
    # first one; PnL counts from there
    out = r.on_position(Position("shfe", "au2606", 5, 2), 2)
    assert r.positions["shfe:au2606"] == 5
    assert any(getattr(m, "what", "") == "adopt_position" for _, m in out)
    assert r.exposure()["gold"] == pytest.approx(5_000)
    _marks(r, au=30650)
    assert r.pnl()["net"] == pytest.approx(0.0, abs=1e-6)
    assert r.on_position(Position("shfe", "au2606", 5, 3), 3) == []  # nothing new


def test_exposure_a_strategy_holds_is_its_to_close_the_rest_risk_flattens() -> None:
    cfg = load_config()
    contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    r = RiskCore("risk", contracts, RiskConfig(unhedged_limit_ms=100), ["leg.shfe", "leg.comex"],
                 ["strategy.au-gc"], {"USD": ("fx:USDCNH", False)}, epoch=1,
                 pairs={"au-gc": ("shfe:au2606", "comex:GCZ6")})
    _marks(r)
    # a combo failed with leg A filled and B not: the strategy holds 28 au naked (it will close)
    r.on_combo_state(ComboState(7, "au-gc", "open", "working", 1, 0, 0, 0.0, 0), 0)
    r.on_exec_report(_fill("shfe", "au2606", "B", 28, 30650), 1)
    out = r.on_combo_state(ComboState(7, "au-gc", "open", "failed", 1, 28, 0, 28000.0, 2), 2)
    (timer,) = [m for _, m in out if isinstance(m, SetTimer) and m.due_ns]
    out = r.on_timer(Timer("unhedged", timer.due_ns), timer.due_ns)
    assert msgs(out, LegOrder) == []  # no order behind the strategy's back
    assert [d for d, m in out if isinstance(m, Flatten)] == ["strategy.au-gc"]
    # plus 2 GC that nobody holds (e.g. adopted after a restart): those risk flattens itself
    r.on_exec_report(_fill("comex", "GCZ6", "S", 2, 26500), 3)
    out = r.on_timer(Timer("unhedged", timer.due_ns + 10**9), timer.due_ns + 10**9)
    (order,) = msgs(out, LegOrder)
    assert (order.venue, order.side, order.qty_lots) == ("comex", "B", 2)  # back where it was
    assert [d for d, m in out if isinstance(m, Flatten)] == ["strategy.au-gc"]


def test_slippage_sums_replace_a_combo_reported_final_again_and_memory_stays_bounded() -> None:
    from actors.risk.slippage import SLIP_RECENT

    r = _core()

    def final(cid: int, slip_a: float, lots_a: int) -> None:
        r.on_combo_state(ComboState(cid, "au-gc", "open", "complete", 1, lots_a, 9, 0.0, cid,
                                    slip_a, 4.5, lots_a, 9), cid)

    final(1, 28.0, 28)
    final(1, 29.0, 29)  # a late fill re-opened and re-closed it: replaces, does not add
    assert r.slippage()["au-gc"]["A"] == {"avg_ticks": 1.0, "lots": 29}
    assert r.slippage()["au-gc"]["B"] == {"avg_ticks": 0.5, "lots": 9}
    for cid in range(2, SLIP_RECENT + 50):
        final(cid, 0.0, 28)
    assert len(r.slips) == SLIP_RECENT
    assert r.slippage()["au-gc"]["A"]["lots"] == 29 + 28 * (SLIP_RECENT + 48)


def test_set_params_changes_the_limits_at_once_and_is_journaled() -> None:
    r = _core()
    r.on_exec_report(_fill("shfe", "au2606", "B", 5, 30650), 1)  # 5,000 g: within 50,000
    assert r.state == "ACTIVE"
    out = r.handle(SetParams("risk", {"max_net_exposure_base": 4000.0, "reject_window": 4}), 2)
    assert next((d, m.what, m.detail) for d, m in out if isinstance(m, Decision)) == (
        "journal", "set", '{"max_net_exposure_base":4000.0,"reject_window":4}')
    # the tightened limit is breached by what is held now: HALTED at once
    assert r.state == "HALTED" and r.reasons["max_net_exposure"] == "HALTED"
    assert r.risk.max_net_exposure_base == 4000.0 and r.outcomes.maxlen == 4
    for _ in range(4):
        r.on_exec_report(_report("rejected"), 3)
    assert r.reasons.get("reject_rate") == "REDUCING"  # judged over the new window


@pytest.mark.parametrize(("msg", "why"), [
    (SetParams("risk", {"max_orders_per_s": 0, "max_drawdown": 5.0}), "max_orders_per_s"),
    (SetParams("risk", {"home_ccy": "USD"}), "not a live parameter"),
    (SetParams("risk", {"max_drawdown": "x"}), "max_drawdown"),
    (SetParams("risk", {}), "no field"),
    (SetParams("pairs.au-gc", {"z_entry": 3.0}), "only the risk section"),
])
def test_a_refused_set_params_changes_nothing(msg: SetParams, why: str) -> None:
    r = _core()
    before = r.risk
    out = r.handle(msg, 5)
    ((dest, d),) = [(d, m) for d, m in out if isinstance(m, Decision)]
    assert dest == "journal" and d.what == "set_rejected" and why in d.detail
    assert r.risk is before and out == [(dest, d)]


def test_flatten_is_passed_on_to_every_strategy_with_its_reason() -> None:
    r = _core()
    out = r.handle(Flatten("desk"), 1)
    assert [(d, m) for d, m in out if isinstance(m, Flatten)] == [("strategy.au-gc",
                                                                  Flatten("desk"))]


def test_names_come_from_the_topology() -> None:
    from actors.topology import Topology

    class Renamed(Topology, frozen=True):
        @staticmethod
        def strategy(pair: str) -> str:
            return f"strat/{pair}"

        @staticmethod
        def leg(venue: str) -> str:
            return f"exec/{venue}"

    cfg = load_config()
    contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    r = RiskCore("risk", contracts, RiskConfig(unhedged_limit_ms=100), ["exec/shfe"],
                 ["strat/au-gc"], {"USD": ("fx:USDCNH", False)},
                 pairs={"au-gc": ("shfe:au2606", "comex:GCZ6")},
                 topo=Renamed(journal="jrnl"))
    _marks(r)
    r.on_combo_state(ComboState(7, "au-gc", "open", "working", 1, 0, 0, 0.0, 0), 0)
    r.on_exec_report(_fill("shfe", "au2606", "B", 28, 30650), 1)
    out = r.on_combo_state(ComboState(7, "au-gc", "open", "failed", 1, 28, 0, 28000.0, 2), 2)
    r.on_exec_report(_fill("comex", "GCZ6", "S", 2, 26500), 3)
    (timer,) = [m for _, m in out if isinstance(m, SetTimer) and m.due_ns]
    out = r.on_timer(Timer("unhedged", timer.due_ns), timer.due_ns)
    dests = {d for d, _ in out}
    assert {"strat/au-gc", "exec/comex", "jrnl"} <= dests
    assert not {"strategy.au-gc", "leg.comex", "journal"} & dests


def _pair_core() -> RiskCore:
    """A risk core that knows the au-gc pair (so it can tell a strategy's holdings from
    nobody's), with marks."""
    cfg = load_config()
    contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    r = RiskCore("risk", contracts, RiskConfig(), ["leg.shfe", "leg.comex"],
                 ["strategy.au-gc"], {"USD": ("fx:USDCNH", False)}, epoch=1,
                 pairs={"au-gc": ("shfe:au2606", "comex:GCZ6")})
    _marks(r)
    return r


def test_a_flatten_while_a_combo_is_live_waits_for_it_then_closes_only_what_is_nobodys() -> None:
    # the fail-over drill's naked leg: a shutdown flatten came while a combo was working with
    # leg A filled; its fill was not yet in what the strategy holds, so risk took it for
    # nobody's and bought it back with an IOC, while the strategy, told to flatten too, closed
    # the whole spread the combo then completed: 28 au closed twice
    r = _pair_core()
    r.on_combo_state(ComboState(7, "au-gc", "open", "working", -1, 0, 0, 0.0, 0), 0)
    r.on_exec_report(_fill("shfe", "au2606", "S", 28, 30650), 1)
    out = r.on_flatten(Flatten("shutdown"), 2)
    assert msgs(out, LegOrder) == []  # the live combo's fill is not risk's to close
    assert [d for d, m in out if isinstance(m, Flatten)] == ["strategy.au-gc"]
    assert [m.what for m in msgs(out, Decision)] == ["flatten_deferred"]
    # the combo completes: the spread is the strategy's (it closes it), nothing is nobody's
    r.on_exec_report(_fill("comex", "GCZ6", "B", 9, 26500), 3)
    out = r.on_combo_state(ComboState(7, "au-gc", "open", "complete", -1, 28, 9, 0.0, 4), 4)
    assert msgs(out, LegOrder) == []
    # a later flatten with no combo live acts at once, on what nobody holds (2 GC adopted)
    r.on_exec_report(_fill("comex", "GCZ6", "S", 2, 26500), 5)
    out = r.on_flatten(Flatten("desk"), 6)
    (order,) = msgs(out, LegOrder)
    assert (order.venue, order.side, order.qty_lots) == ("comex", "B", 2)  # on its own contract


def test_a_deferred_flatten_closes_what_a_failed_combo_left_to_nobody() -> None:
    r = _pair_core()
    r.on_combo_state(ComboState(8, "au-gc", "open", "working", 1, 0, 0, 0.0, 0), 0)
    r.on_exec_report(_fill("shfe", "au2606", "B", 28, 30650), 1)
    r.on_exec_report(_fill("comex", "GCZ6", "S", 2, 26500), 1)  # nobody's (adopted at restart)
    out = r.on_flatten(Flatten("shutdown"), 2)
    assert msgs(out, LegOrder) == []
    # the combo ends holding its 28 au (the strategy's to close); the 2 GC are still nobody's:
    # risk flattens them now, the flatten it was asked for
    out = r.on_combo_state(ComboState(8, "au-gc", "open", "failed", 1, 28, 0, 28000.0, 3), 3)
    (order,) = msgs(out, LegOrder)
    assert (order.venue, order.side, order.qty_lots) == ("comex", "B", 2)
    assert not r.orphans.flatten_wanted


def _trade_a_combo(r: RiskCore, cid: int, t_ns: int) -> list:
    """A strategy's combo, working then complete (both legs filled, hedged); its outputs."""
    out = r.on_combo_state(ComboState(cid, "au-gc", "open", "working", 1, 0, 0, 0.0, t_ns), t_ns)
    out += r.on_exec_report(_fill("shfe", "au2606", "B", 28, 30650), t_ns)
    out += r.on_exec_report(_fill("comex", "GCZ6", "S", 9, 26500), t_ns)
    return out + r.on_combo_state(ComboState(cid, "au-gc", "open", "complete", 1, 28, 9, 0.0,
                                             t_ns), t_ns)


def test_a_strategy_trading_often_does_not_push_back_the_flatten_of_nobodys_exposure() -> None:
    # session 12: every live combo reset the unhedged clock, so with a strategy trading more
    # often than ``unhedged_limit_ms`` (the demo: about once a second) nobody's exposure was
    # never flattened -- a spread adopted by nobody stayed at the venue for the whole run
    ms = 1_000_000
    r = _pair_core()
    r.risk = msgspec.structs.replace(r.risk, unhedged_limit_ms=100)
    out = r.on_exec_report(_fill("comex", "GCZ6", "B", 2, 26500), ms)  # nobody's 2 GC
    (armed,) = [m for _, m in out if isinstance(m, SetTimer) and m.due_ns]
    assert armed.due_ns == 101 * ms
    for k in range(1, 4):  # a combo every 30 ms, each hedged
        out = _trade_a_combo(r, 100 + k, 30 * k * ms)
        assert not [m for _, m in out if isinstance(m, SetTimer)]  # the deadline stands
    out = r.on_timer(Timer("unhedged", armed.due_ns), armed.due_ns)
    (order,) = msgs(out, LegOrder)
    assert (order.venue, order.side, order.qty_lots) == ("comex", "S", 2)
    assert not [d for d, m in out if isinstance(m, Flatten)]  # the strategy's spreads are hedged


def test_an_unhedged_timer_expiring_while_a_combo_is_live_is_judged_when_it_ends() -> None:
    ms = 1_000_000
    r = _pair_core()
    r.risk = msgspec.structs.replace(r.risk, unhedged_limit_ms=100)
    r.on_exec_report(_fill("comex", "GCZ6", "B", 2, 26500), ms)  # nobody's 2 GC
    r.on_combo_state(ComboState(9, "au-gc", "open", "working", 1, 0, 0, 0.0, 0), 90 * ms)
    r.on_exec_report(_fill("shfe", "au2606", "B", 28, 30650), 95 * ms)
    # expires with the combo's leg A filled and its leg B not yet: not judged now (the
    # combo's naked leg is the combo's to repair)
    assert r.on_timer(Timer("unhedged", 101 * ms), 101 * ms) == []
    r.on_exec_report(_fill("comex", "GCZ6", "S", 9, 26500), 102 * ms)
    out = r.on_combo_state(ComboState(9, "au-gc", "open", "complete", 1, 28, 9, 0.0, 0),
                           103 * ms)
    (order,) = msgs(out, LegOrder)
    assert (order.venue, order.side, order.qty_lots) == ("comex", "S", 2)
    assert not r.orphans.due


def test_a_hedged_spread_nobody_holds_is_closed_leg_by_leg_after_its_limit() -> None:
    # the fail-over drills' failure of sessions 10 and 12: au -28 / GC +9 at the venue, a
    # spread no strategy held; hedged (-7 g), the exposure never showed it, so risk left it
    ms = 1_000_000
    r = _pair_core()
    r.risk = msgspec.structs.replace(r.risk, unhedged_limit_ms=100)
    out = r.on_exec_report(_fill("shfe", "au2606", "S", 28, 30650), ms)
    out += r.on_exec_report(_fill("comex", "GCZ6", "B", 9, 26500), 2 * ms)
    assert abs(r.exposure()["gold"]) < r.orphans.tolerance_base  # hedged
    # armed by the first fill, and the hedge did not disarm it
    assert [m.due_ns for _, m in out if isinstance(m, SetTimer)] == [101 * ms]
    out = r.on_timer(Timer("unhedged", 101 * ms), 101 * ms)
    assert sorted((o.venue, o.side, o.qty_lots) for o in msgs(out, LegOrder)) == [
        ("comex", "S", 9), ("shfe", "B", 28)]
    assert [m.what for m in msgs(out, Decision)].count("flatten_pair") == 1
    assert not [d for d, m in out if isinstance(m, Flatten)]
    # a spread a strategy holds is its own: nothing armed for it
    r2 = _pair_core()
    r2.on_combo_state(ComboState(3, "au-gc", "open", "working", -1, 0, 0, 0.0, 0), 0)
    r2.on_exec_report(_fill("shfe", "au2606", "S", 28, 30650), ms)
    r2.on_exec_report(_fill("comex", "GCZ6", "B", 9, 26500), ms)
    out = r2.on_combo_state(ComboState(3, "au-gc", "open", "complete", -1, 28, 9, 0.0, 0), ms)
    assert not [m for _, m in out if isinstance(m, SetTimer) and m.due_ns]


def test_a_hedged_spread_nobody_holds_is_alarmed_not_halted_without_flatten_orphans() -> None:
    ms = 1_000_000
    r = _pair_core()
    r.risk = msgspec.structs.replace(r.risk, unhedged_limit_ms=100, flatten_orphans=False)
    out = r.on_exec_report(_fill("shfe", "au2606", "S", 28, 30650), ms)
    out += r.on_exec_report(_fill("comex", "GCZ6", "B", 9, 26500), 2 * ms)
    assert [m.due_ns for _, m in out if isinstance(m, SetTimer)] == [101 * ms]
    out = r.on_timer(Timer("unhedged", 101 * ms), 101 * ms)
    assert msgs(out, LegOrder) == [] and r.state == "ACTIVE"
    (alarm,) = msgs(out, Decision)
    assert alarm.what == "alarm" and '"orphan_spread"' in alarm.detail and '"au-gc"' in alarm.detail


def test_a_shutdown_flatten_closes_a_hedged_spread_nobody_holds() -> None:
    r = _pair_core()
    r.on_exec_report(_fill("shfe", "au2606", "B", 28, 30650), 1)
    r.on_exec_report(_fill("comex", "GCZ6", "S", 9, 26500), 1)
    out = r.on_flatten(Flatten("shutdown"), 2)
    assert sorted((o.venue, o.side, o.qty_lots) for o in msgs(out, LegOrder)) == [
        ("comex", "B", 9), ("shfe", "S", 28)]


def test_an_operators_flatten_while_halted_tells_the_executors_first_once_per_halt() -> None:
    from transports.wire.messages import FLATTEN_THROUGH_HALT

    r = _pair_core()
    assert not [m for _, m in r.on_flatten(Flatten("desk"), 1) if isinstance(m, TradingState)]
    r.on_halt(Halt("operator"), 2)
    out = r.on_flatten(Flatten("desk"), 3)
    through = [(d, m) for d, m in out if isinstance(m, TradingState)]
    assert {d for d, _ in through} == {"leg.shfe", "leg.comex", "strategy.au-gc"}
    assert all((m.state, m.reason) == ("HALTED", FLATTEN_THROUGH_HALT) for _, m in through)
    first_flatten = next(i for i, (_d, m) in enumerate(out) if isinstance(m, Flatten))
    assert max(i for i, (_d, m) in enumerate(out) if isinstance(m, TradingState)) < first_flatten
    assert "flatten_through_halt" in [m.what for m in msgs(out, Decision)]
    assert r.state == "HALTED"
    assert not [m for _, m in r.on_flatten(Flatten("desk"), 4) if isinstance(m, TradingState)]
    r.on_resume(Resume(), 5)
    r.on_halt(Halt("operator"), 6)
    out = r.on_flatten(Flatten("desk"), 7)
    assert [m.reason for _, m in out if isinstance(m, TradingState)][:1] == [FLATTEN_THROUGH_HALT]


def test_nobodys_lots_on_a_contract_no_live_combo_trades_are_closed_while_combos_are_live(
) -> None:
    # the unhedged timer waits for the last live combo to judge its contracts; pairs that keep
    # some combo live at every moment would keep it waiting for good, so nobody's lots on the
    # contracts no live combo trades are closed when it expires (session 12)
    from actors.strategy.kinds import combo_pairs

    ms = 1_000_000
    cfg = load_config("conf/scenarios/multi-venue.toml")
    contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    pairs = {n: (p.leg_a, p.leg_b) for n, p in combo_pairs(cfg).items()}
    r = RiskCore("risk", contracts, RiskConfig(unhedged_limit_ms=100),
                 ["leg.bina", "leg.okx", "leg.byb"], ["strategy.m"], {}, epoch=1, pairs=pairs)
    for venue, sym in [("bina", "BTCUSDT"), ("okx", "BTC-USDT"), ("byb", "BTCUSDT-P")]:
        r.on_book_update(BookUpdate(venue, sym, True, 0, 0, 0, [6_000_000], [1],
                                    [6_000_100], [1]), 0)
    live = next(n for n, (a, b) in pairs.items() if (a, b) == ("bina:BTCUSDT", "okx:BTC-USDT"))
    out = r.on_exec_report(_fill("byb", "BTCUSDT-P", "B", 5, 6_000_000), ms)  # nobody's
    (armed,) = [m for _, m in out if isinstance(m, SetTimer) and m.due_ns]
    r.on_combo_state(ComboState(7, live, "open", "working", 1, 0, 0, 0.0, 0), 50 * ms)
    r.on_exec_report(_fill("bina", "BTCUSDT", "B", 3, 6_000_000), 60 * ms)  # its leg A
    out = r.on_timer(Timer("unhedged", armed.due_ns), armed.due_ns)
    (order,) = msgs(out, LegOrder)  # the idle contract's lots, not the live combo's leg
    assert (order.venue, order.side, order.qty_lots) == ("byb", "S", 5)
    assert [m.due_ns for _, m in out if isinstance(m, SetTimer)] == [armed.due_ns + 100 * ms]
    assert not r.orphans.due
    # a live combo on a pair risk does not know: nothing is closed behind it
    r2 = RiskCore("risk", contracts, RiskConfig(unhedged_limit_ms=100),
                  ["leg.bina", "leg.okx", "leg.byb"], ["strategy.m"], {}, epoch=1, pairs=pairs)
    for venue, sym in [("bina", "BTCUSDT"), ("okx", "BTC-USDT"), ("byb", "BTCUSDT-P")]:
        r2.on_book_update(BookUpdate(venue, sym, True, 0, 0, 0, [6_000_000], [1],
                                     [6_000_100], [1]), 0)
    r2.on_exec_report(_fill("byb", "BTCUSDT-P", "B", 5, 6_000_000), ms)
    r2.on_combo_state(ComboState(8, "unknown-pair", "open", "working", 1, 0, 0, 0.0, 0), 2 * ms)
    assert msgs(r2.on_timer(Timer("unhedged", armed.due_ns), armed.due_ns), LegOrder) == []
    assert r2.orphans.due  # judged when the combo ends
