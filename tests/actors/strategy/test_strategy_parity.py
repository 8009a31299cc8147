"""StrategyCore's triggers (edge, ratio), conditions, exit rules and monitoring closes, on
hand-made books of the demo pair (SHFE gold against COMEX gold through USDCNH)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from actors.strategy.closes import DeviationClock, close_leg, limit_state
from actors.strategy.strategy import MIN_WARM_SAMPLES, StrategyCore
from tests.support.helpers import msgs
from transports.config.engine import load_config
from transports.wire.messages import (
    BookUpdate,
    ComboIntent,
    ComboState,
    Decision,
    Flatten,
    SessionStatus,
    SetParams,
)

GRAMS_PER_OZ = 31.1034768
SEC = 1_000_000_000
T0 = 10 * SEC  #: the tests' clock after priming
BASIS = 0.5  #: the calm spread A - parity(B), CNY/g


def _core(**over: Any) -> StrategyCore:
    """The demo pair with ``over`` applied; quote age and skew gates off (the tests stamp the
    books in their own clock, leg B once at priming)."""
    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = msgspec.structs.replace(cfg.pairs[0], max_quote_age_ms=10**13,
                                max_quote_skew_ms=10**9, **over)
    return StrategyCore("strategy.au-gc", p, c[p.leg_a], c[p.leg_b], c[p.fx], "combo", 1)


def _upd(venue: str, sym: str, bid: int | None, ask: int | None, qty: int = 100,
         ts: int = 0) -> BookUpdate:
    bids = [bid, bid - 1] if bid is not None else []
    asks = [ask, ask + 1] if ask is not None else []
    return BookUpdate(venue, sym, True, ts, ts, ts, bids, [qty] * len(bids), asks,
                      [qty] * len(asks))


def _feed(s: StrategyCore, au_mid_cny: float, ts: int, qty: int = 100) -> list:
    au_bid = round(au_mid_cny / 0.02) - 1
    return s.on_book_update(_upd("shfe", "au2606", au_bid, au_bid + 2, qty=qty, ts=ts), ts)


def _prime(s: StrategyCore, gc: float = 2650.0, fx: float = 7.2) -> float:
    """Warm the pair on a calm market (basis 0.5 CNY/g, a one-tick wobble); return parity."""
    s.on_book_update(_upd("fx", "USDCNH", round(fx / 0.0001) - 1, round(fx / 0.0001) + 1), 0)
    s.on_book_update(_upd("comex", "GCZ6", round(gc / 0.1) - 1, round(gc / 0.1) + 1), 0)
    parity = gc * fx / GRAMS_PER_OZ
    for i in range(MIN_WARM_SAMPLES + 50):
        _feed(s, parity + BASIS + (0.02 if i % 2 else 0.0), i)
    return parity


def _closes(out: list) -> list[str]:
    """The reasons of the close Decisions journaled in ``out``."""
    return [d.detail for d in msgs(out, Decision) if d.what == "close"]


def _opened(s: StrategyCore, parity: float, disl: float = 1.6, t: int = T0) -> ComboIntent:
    """Open on a dislocation of ``disl`` CNY/g at ``t`` and complete the combo."""
    (intent,) = msgs(_feed(s, parity + BASIS + disl, t), ComboIntent)
    assert intent.action == "open"
    s.on_combo_state(ComboState(intent.combo_id, "au-gc", "open", "complete", intent.direction,
                                28, 9, 6.87, t + 1), t + 1)
    assert s.pos_dir == intent.direction
    return intent


# --- the edge trigger ----------------------------------------------------------------------------


def test_edge_opens_on_the_executable_edge_where_the_z_gate_would_not() -> None:
    # z_entry far away: the zscore trigger refuses what the edge trigger takes
    z = _core(z_entry=1e6)
    parity = _prime(z)
    assert msgs(_feed(z, parity + BASIS + 1.6, T0), ComboIntent) == []
    assert z.refusals["NO_EDGE"] >= 1
    e = _core(z_entry=1e6, trigger="edge")
    parity = _prime(e)
    (intent,) = msgs(_feed(e, parity + BASIS + 1.6, T0), ComboIntent)
    assert intent.direction == -1 and [x.side for x in intent.legs] == ["S", "B"]
    assert intent.edge >= intent.cost * 1.2 + 0.3
    assert intent.edge == pytest.approx(intent.spread - intent.mean)


def test_edge_buys_a_when_the_spread_is_too_low() -> None:
    s = _core(trigger="edge")
    parity = _prime(s)
    (intent,) = msgs(_feed(s, parity + BASIS - 1.6, T0), ComboIntent)
    assert intent.direction == 1 and [x.side for x in intent.legs] == ["B", "S"]


def test_edge_refuses_below_costs_and_on_a_thin_book() -> None:
    s = _core(trigger="edge")
    parity = _prime(s)
    # 0.3 CNY/g of deviation: below cost x 1.2 + min_edge 0.3
    assert msgs(_feed(s, parity + BASIS + 0.3, T0), ComboIntent) == []
    assert s.snapshot()["refusals"]["NO_EDGE"] >= 1
    # the clip (28 lots) cannot fill on 5 + 5 lots
    assert msgs(_feed(s, parity + BASIS + 1.6, T0 + 1, qty=5), ComboIntent) == []
    assert s.refusals["DEPTH"] == 1


def test_edge_with_a_z_filter_also_needs_z() -> None:
    s = _core(trigger="edge", z_filter=1e9)
    parity = _prime(s)
    out = _feed(s, parity + BASIS + 1.6, T0)
    assert msgs(out, ComboIntent) == []
    assert [d.detail for d in msgs(out, Decision)] == ["Z_FILTER"]
    s.on_set_params(SetParams("pairs.au-gc", {"z_filter": 2.0}), T0 + 1)
    assert len(msgs(_feed(s, parity + BASIS + 1.6, T0 + 2), ComboIntent)) == 1


def test_min_touch_lots_refuses_a_thin_touch_that_still_fills_the_clip() -> None:
    s = _core(trigger="edge", min_touch_lots=50)
    parity = _prime(s)
    # 40 lots at each level: the clip fills over two levels, but the touch shows 40 < 50
    assert msgs(_feed(s, parity + BASIS + 1.6, T0, qty=40), ComboIntent) == []
    assert s.refusals["THIN_TOUCH"] == 1
    assert len(msgs(_feed(s, parity + BASIS + 1.6, T0 + 1, qty=60), ComboIntent)) == 1


def test_edge_holds_while_dislocated_and_closes_inside_exit_edge() -> None:
    s = _core(trigger="edge", exit_edge=0.2)
    parity = _prime(s)
    _opened(s, parity)
    assert msgs(_feed(s, parity + BASIS + 1.0, T0 + 2), ComboIntent) == []  # still 1.0 away
    assert msgs(_feed(s, parity + BASIS + 0.4, T0 + 3), ComboIntent) == []  # 0.4 > 0.2
    out = _feed(s, parity + BASIS + 0.1, T0 + 4)
    (close,) = msgs(out, ComboIntent)
    assert close.action == "close" and [(x.side, x.qty_lots) for x in close.legs] == \
        [("B", 28), ("S", 9)]
    assert _closes(out) == ["revert"]


# --- the ratio trigger ---------------------------------------------------------------------------


def test_ratio_opens_beyond_the_band_and_closes_inside_the_exit_band() -> None:
    s = _core(trigger="ratio", ratio_entry_bps=15.0, ratio_exit_bps=2.0)
    parity = _prime(s)
    # 1.6 CNY/g on ~614 CNY/g is ~26 bps over the fair ratio
    (intent,) = msgs(_feed(s, parity + BASIS + 1.6, T0), ComboIntent)
    assert intent.direction == -1
    dev_bps, fair_ratio = s.rlast
    # the calm mid ratio (A's mid on its 0.02 grid, the wobble), within 0.2 bp
    assert fair_ratio == pytest.approx((parity + BASIS + 0.01) / parity, abs=2e-5)
    assert dev_bps == pytest.approx(1.6 / parity * 1e4, abs=1.0)
    s.on_combo_state(ComboState(intent.combo_id, "au-gc", "open", "complete", -1, 28, 9, 6.87,
                                T0 + 1), T0 + 1)
    assert msgs(_feed(s, parity + BASIS + 0.5, T0 + 2), ComboIntent) == []  # ~8 bps: held
    out = _feed(s, parity + BASIS, T0 + 3)
    assert [m.action for m in msgs(out, ComboIntent)] == ["close"]
    assert _closes(out) == ["revert"]


def test_ratio_refuses_inside_the_band_and_below_costs() -> None:
    s = _core(trigger="ratio", ratio_entry_bps=40.0)
    parity = _prime(s)
    calm = s.refusals["RATIO_BAND"]  # the calm market is inside the band too
    assert msgs(_feed(s, parity + BASIS + 1.6, T0), ComboIntent) == []  # 26 bps < 40
    assert s.refusals["RATIO_BAND"] == calm + 1
    s.on_set_params(SetParams("pairs.au-gc", {"ratio_entry_bps": 1.0}), T0 + 1)
    # 0.2 CNY/g is ~3 bps, beyond 1 bp, but far below the costs
    assert msgs(_feed(s, parity + BASIS + 0.2, T0 + 2), ComboIntent) == []
    assert s.refusals.get("NO_EDGE", 0) == 1


def test_ratio_fair_from_fair_basis() -> None:
    s = _core(trigger="ratio", fair_basis=BASIS, ratio_entry_bps=15.0)
    parity = _prime(s)
    (intent,) = msgs(_feed(s, parity + BASIS - 1.6, T0), ComboIntent)
    assert intent.direction == 1
    _, fair_ratio = s.rlast
    assert fair_ratio == pytest.approx(1.0 + BASIS / parity, rel=1e-9)


# --- exit rules and monitoring -------------------------------------------------------------------


def test_take_profit_closes_when_the_spread_moved_our_way() -> None:
    s = _core(trigger="edge", exit_rule="take_profit", take_profit=0.5)
    parity = _prime(s)
    _opened(s, parity)  # sold the spread 1.6 over fair
    assert msgs(_feed(s, parity + BASIS + 1.3, T0 + 2), ComboIntent) == []  # 0.3 our way
    out = _feed(s, parity + BASIS + 1.0, T0 + 3)  # 0.6 our way, still far from fair
    assert [m.action for m in msgs(out, ComboIntent)] == ["close"]
    assert _closes(out) == ["take_profit"]


def test_time_stop_closes_a_position_held_too_long() -> None:
    s = _core(trigger="edge", time_stop_s=1.0)
    parity = _prime(s)
    _opened(s, parity)  # complete at T0 + 1
    assert msgs(_feed(s, parity + BASIS + 1.6, T0 + SEC // 2), ComboIntent) == []
    out = _feed(s, parity + BASIS + 1.6, T0 + 1 + SEC)
    assert _closes(out) == ["time_stop"] and len(msgs(out, ComboIntent)) == 1


def test_stop_loss_closes_on_an_adverse_move_since_entry() -> None:
    s = _core(trigger="edge", stop_loss=0.5)
    parity = _prime(s)
    _opened(s, parity)
    assert msgs(_feed(s, parity + BASIS + 1.9, T0 + 2), ComboIntent) == []  # 0.3 against
    out = _feed(s, parity + BASIS + 2.3, T0 + 3)  # 0.7 against
    assert _closes(out) == ["stop_loss"] and len(msgs(out, ComboIntent)) == 1


def test_deviation_held_beyond_k_sigma_for_t_seconds_closes() -> None:
    s = _core(trigger="edge", deviation_close_sigma=2.0, deviation_close_s=2.0)
    parity = _prime(s)
    _opened(s, parity)
    assert msgs(_feed(s, parity + BASIS + 1.6, T0 + 2), ComboIntent) == []  # beyond since now
    assert msgs(_feed(s, parity + BASIS + 1.6, T0 + 2 + SEC), ComboIntent) == []
    out = _feed(s, parity + BASIS + 1.6, T0 + 2 + 2 * SEC)
    assert _closes(out) == ["deviation"] and len(msgs(out, ComboIntent)) == 1


def test_deviation_monitor_restarts_when_back_inside_and_is_off_at_zero() -> None:
    s = _core(trigger="edge", deviation_close_sigma=3.0, deviation_close_s=2.0)
    parity = _prime(s)
    _opened(s, parity)
    t = T0 + 2
    assert msgs(_feed(s, parity + BASIS + 1.6, t), ComboIntent) == []
    assert s.dev_since_ns == t
    # one tick above fair (~0.01 CNY/g, inside 3 sigma, not reverted): the clock restarts
    assert msgs(_feed(s, parity + BASIS + 0.02, t + 3 * SEC // 2), ComboIntent) == []
    assert s.dev_since_ns == 0 and s.pos_dir == -1
    t2 = t + 5 * SEC // 2
    assert msgs(_feed(s, parity + BASIS + 1.6, t2), ComboIntent) == []  # 2.5 s after t
    assert msgs(_feed(s, parity + BASIS + 1.6, t2 + SEC), ComboIntent) == []
    out = _feed(s, parity + BASIS + 1.6, t2 + 2 * SEC)
    assert _closes(out) == ["deviation"]
    off = _core(trigger="edge", deviation_close_sigma=0.0)
    parity = _prime(off)
    _opened(off, parity)
    for k in range(1, 5):
        assert msgs(_feed(off, parity + BASIS + 1.6, T0 + k * 100 * SEC), ComboIntent) == []


def test_a_limit_locked_leg_closes_what_is_held() -> None:
    s = _core(trigger="edge")
    parity = _prime(s)
    _opened(s, parity)  # short 28 A, long 9 B
    # A locked limit-up: bids only; the close must buy A, priced at the locked price
    bid = round((parity + BASIS + 3.0) / 0.02)
    out = s.on_book_update(_upd("shfe", "au2606", bid, None, ts=T0 + 5), T0 + 5)
    (close,) = msgs(out, ComboIntent)
    assert _closes(out) == ["limit"]
    a, b = close.legs
    assert (a.side, a.qty_lots, a.limit_px_ticks) == ("B", 28, bid)
    assert (b.side, b.qty_lots) == ("S", 9)


def test_a_limit_lock_without_close_on_limit_only_refuses() -> None:
    s = _core(trigger="edge", close_on_limit=False)
    parity = _prime(s)
    _opened(s, parity)
    bid = round((parity + BASIS + 3.0) / 0.02)
    out = s.on_book_update(_upd("shfe", "au2606", bid, None, ts=T0 + 5), T0 + 5)
    assert msgs(out, ComboIntent) == [] and s.refusals["EMPTY_A"] == 1


def test_a_halted_leg_closes_what_is_held() -> None:
    s = _core(trigger="edge")
    parity = _prime(s)
    _opened(s, parity)
    s.on_session_status(SessionStatus("comex", "GCZ6", "halt", T0 + 4), T0 + 4)
    out = _feed(s, parity + BASIS + 1.6, T0 + 5)
    assert _closes(out) == ["halt"] and len(msgs(out, ComboIntent)) == 1
    # flat, a halted leg is refused as before
    flat = _core(trigger="edge")
    parity = _prime(flat)
    flat.on_session_status(SessionStatus("comex", "GCZ6", "halt", T0), T0)
    assert msgs(_feed(flat, parity + BASIS + 1.6, T0 + 1), ComboIntent) == []
    assert flat.refusals["CLOSED_B"] == 1


def test_flatten_close_journals_its_reason() -> None:
    s = _core(trigger="edge")
    parity = _prime(s)
    _opened(s, parity)
    s.on_flatten(Flatten(), T0 + 2)
    out = _feed(s, parity + BASIS + 1.6, T0 + 3)
    assert _closes(out) == ["flatten"] and s.snapshot()["closes"] == {"flatten": 1}


# --- live parameters -----------------------------------------------------------------------------


def test_live_set_params_switch_the_trigger_and_the_exit_rule() -> None:
    s = _core(z_entry=1e6)  # zscore: nothing opens
    parity = _prime(s)
    assert msgs(_feed(s, parity + BASIS + 1.6, T0), ComboIntent) == []
    out = s.on_set_params(SetParams("pairs.au-gc", {"trigger": "edge", "exit_rule":
                                                    "take_profit", "take_profit": 0.5}), T0 + 1)
    assert [d.what for d in msgs(out, Decision)] == ["set"]
    assert s.snapshot()["trigger"] == "edge"
    _opened(s, parity, t=T0 + 2)
    out = _feed(s, parity + BASIS + 1.0, T0 + 4)
    assert _closes(out) == ["take_profit"]
    bad = s.on_set_params(SetParams("pairs.au-gc", {"trigger": "moon"}), T0 + 5)
    assert [d.what for d in msgs(bad, Decision)] == ["set_rejected"]
    assert s.pair.trigger == "edge"


def test_live_set_params_of_the_monitoring_fields_take_effect() -> None:
    s = _core(trigger="edge")
    parity = _prime(s)
    _opened(s, parity)
    assert msgs(_feed(s, parity + BASIS + 1.6, T0 + 5 * SEC), ComboIntent) == []
    s.on_set_params(SetParams("pairs.au-gc", {"time_stop_s": 3.0}), T0 + 5 * SEC)
    out = _feed(s, parity + BASIS + 1.6, T0 + 6 * SEC)
    assert _closes(out) == ["time_stop"]


def test_nothing_opens_on_a_limit_locked_leg() -> None:
    s = _core(trigger="edge")
    parity = _prime(s)
    bid = round((parity + BASIS + 1.6) / 0.02)  # dislocated, but A locked limit-up
    out = s.on_book_update(_upd("shfe", "au2606", bid, None, ts=T0), T0)
    assert msgs(out, ComboIntent) == [] and s.refusals["EMPTY_A"] == 1


def test_the_shared_limit_helpers_every_kind_uses() -> None:
    s = _core(trigger="edge")
    _prime(s)
    a, b = s.a, s.b
    assert limit_state((a, b)) == ""
    held_bid = a.bid_px[0]
    # a long closes into the bids (walked, limit slip below the worst level reached)
    spec, vwap = close_leg(a, 3, 2)
    assert (spec.side, spec.qty_lots, spec.limit_px_ticks, vwap) == ("S", 3, held_bid - 2,
                                                                    held_bid)
    a.ask_px, a.ask_qty, a.ask_n = [], [], 0  # limit-up: a short is bought at the locked bid
    assert limit_state((a, b)) == "limit"
    spec, vwap = close_leg(a, -3, 2)
    assert (spec.side, spec.limit_px_ticks, vwap) == ("B", held_bid, float(held_bid))
    a.valid = False  # an invalid update is not a lock
    assert limit_state((a, b)) == ""
    a.bid_px, a.bid_qty, a.bid_n = [], [], 0
    assert close_leg(a, -3, 2) == (None, 0.0)  # no level at all: unpriced
    b.set_session("halt")
    assert limit_state((a, b)) == "halt"
    clock = DeviationClock()
    assert not clock.beyond(3.0, 2.0, 1, 10) and not clock.beyond(3.0, 2.0, 10, 10)
    assert clock.beyond(3.0, 2.0, 11, 10)
    assert not clock.beyond(1.0, 2.0, 12, 10) and clock.since_ns == 0  # back inside: restart
    assert not clock.beyond(3.0, float("nan"), 13, 10)  # no sigma yet: never beyond
