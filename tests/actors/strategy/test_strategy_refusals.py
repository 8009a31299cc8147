"""StrategyCore's cheap per-update paths (session 10): a calm tick's NO_EDGE refused without
pricing, the FX rate and costs worked out inline, a held position's close gate checked only
when something can block it. Each must say exactly what the general path says."""

from __future__ import annotations

import copy
import math
from typing import Any

import msgspec
import pytest

from actors.strategy.strategy import MIN_WARM_SAMPLES, StrategyCore
from transports.config.engine import load_config
from transports.wire.messages import BookUpdate, Decision, TradingState, VenueGate

GRAMS_PER_OZ = 31.1034768
T0 = 10_000_000_000
BASIS = 0.5  #: the calm spread A - parity(B), CNY/g


def _core(**over: Any) -> StrategyCore:
    """The demo pair (quote age and skew gates off)."""
    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = msgspec.structs.replace(cfg.pairs[0], max_quote_age_ms=10**13,
                                max_quote_skew_ms=10**9, **over)
    return StrategyCore("strategy.au-gc", p, c[p.leg_a], c[p.leg_b], c[p.fx], "combo", 1)


def _upd(venue: str, sym: str, bid: int, qty: int = 100, ts: int = 0) -> BookUpdate:
    return BookUpdate(venue, sym, True, ts, ts, ts, [bid, bid - 1, bid - 2], [qty] * 3,
                      [bid + 2, bid + 3, bid + 4], [qty] * 3)


def _feed(s: StrategyCore, au_mid_cny: float, ts: int) -> list:
    return s.on_book_update(_upd("shfe", "au2606", round(au_mid_cny / 0.02) - 1, 100, ts), ts)


def _prime(s: StrategyCore) -> float:
    """Warm the pair on a calm market (basis 0.5 CNY/g); return parity (CNY/g)."""
    s.on_book_update(_upd("fx", "USDCNH", 71_999), 0)
    s.on_book_update(_upd("comex", "GCZ6", 26_499), 0)
    parity = 2650.0 * 7.2 / GRAMS_PER_OZ
    for i in range(MIN_WARM_SAMPLES + 50):
        _feed(s, parity + BASIS + (0.02 if i % 2 else 0.0), i)
    return parity


def _refusal(s: StrategyCore, reason: str, now_ns: int) -> list:
    return [(s.journal, Decision(s.name, "refuse", reason, now_ns))]


def test_calm_ticks_count_no_edge_every_time_and_journal_it_when_the_reason_changes() -> None:
    s = _core()
    parity = _prime(s)
    n0 = s.refusals.get("NO_EDGE", 0)
    got = [_feed(s, parity + BASIS, T0 + i) for i in range(5)]
    assert got == [[]] * 5  # journaled once already during the warm calm ticks
    assert s.refusals["NO_EDGE"] == n0 + 5
    assert abs(s.last["z"]) < s.pair.z_entry  # the band the shortcut covers
    # another refusal in between: NO_EDGE is journaled again on the next calm tick, once
    s.guard.cooldown_until_ns = T0 + 100
    assert _feed(s, parity + BASIS, T0 + 10) == _refusal(s, "COOLDOWN", T0 + 10)
    s.guard.cooldown_until_ns = 0
    assert _feed(s, parity + BASIS, T0 + 20) == _refusal(s, "NO_EDGE", T0 + 20)
    assert _feed(s, parity + BASIS, T0 + 21) == []
    assert s.refusals["NO_EDGE"] == n0 + 7 and s.refusals["COOLDOWN"] == 1
    # a dislocation beyond the band is priced and opens, as before
    out = _feed(s, parity + BASIS + 1.6, T0 + 30)
    assert [type(m).__name__ for _, m in out] == ["ComboIntent"]


@pytest.mark.parametrize("invert", [False, True])
@pytest.mark.parametrize("fx_bid", [71_999, 65_432, 0, -2])
def test_an_fx_update_sets_the_rate_cost_and_needed_edge_as_the_helpers_do(
        invert: bool, fx_bid: int) -> None:
    s = _core(fx_invert=invert, premium=0.25, import_tax=0.13)
    s.on_book_update(_upd("fx", "USDCNH", 71_000), 0)
    ref = copy.deepcopy(s)
    u = _upd("fx", "USDCNH", fx_bid)
    assert s.on_book_update(u, 5) == []
    mid = (fx_bid + fx_bid + 2) * 0.5 * 0.0001  # the rate as the FX leg's helper priced it
    rate = (1.0 / mid if mid else float("inf")) if invert else mid
    ref._set_fx(rate)  # the general path (``_configure``'s): the cost and the needed edge
    for k in ("_fx", "_cost_fx", "_need_fx"):  # bit for bit (inf and nan included)
        a, b = getattr(s, k), getattr(ref, k)
        assert a == b or (math.isnan(a) and math.isnan(b)), (k, a, b)
    # an FX book without a side keeps the last rate
    s.on_book_update(BookUpdate("fx", "USDCNH", True, 6, 6, 6, [], [], [72_000], [5]), 6)
    assert s._fx == ref._fx


def test_a_held_position_waits_for_a_venue_gate_a_risk_halt_and_the_close_cooldown() -> None:
    s = _core()
    parity = _prime(s)
    s.posn.pos_dir, s.posn.pos_a_lots, s.posn.pos_b_lots = -1, -28, 9
    s.entry = (BASIS + 1.6, 1.6, T0)
    # nothing blocks: the exit rule decides (not reverted yet: nothing to do)
    assert _feed(s, parity + BASIS + 1.6, T0 + 1) == []
    s.on_venue_gate(VenueGate("comex", "uncertain", T0 + 2), T0 + 2)
    assert _feed(s, parity + BASIS, T0 + 3) == _refusal(s, "VENUE_UNCERTAIN", T0 + 3)
    s.on_venue_gate(VenueGate("comex", "", T0 + 4), T0 + 4)
    s.on_trading_state(TradingState("HALTED", "loss", T0 + 5), T0 + 5)
    assert _feed(s, parity + BASIS, T0 + 6) == _refusal(s, "HALTED", T0 + 6)
    s.on_trading_state(TradingState("ACTIVE", "", T0 + 7), T0 + 7)
    s.guard.fail_streak, s.guard.close_retry_ns = 2, T0 + 100
    assert _feed(s, parity + BASIS, T0 + 8) == _refusal(s, "COOLDOWN", T0 + 8)
    # the cooldown over: the close goes (reverted)
    out = _feed(s, parity + BASIS, T0 + 200)
    assert [type(m).__name__ for _, m in out] == ["ComboIntent", "Decision"]
    assert out[0][1].action == "close"
    assert out[1] == (s.journal, Decision(s.name, "close", "revert", T0 + 200))
