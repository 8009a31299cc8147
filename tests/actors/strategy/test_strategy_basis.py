"""BasisCore (cash-and-carry) on hand-made books: positive and reverse carry entries, hold, exit
at the bound or at convergence, roll, flatten, refusals with their reasons (edge below 1.2x
cost, the last trading days before expiry, halted, no rate), and live parameter changes."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
import pytest

from actors.strategy.basis import MIN_SPREAD_SAMPLES, BasisCore
from actors.strategy.basis_inputs import TradingDaysLeft
from actors.strategy.kinds import build_strategy
from kernels.carry import carry_fair, expiry_ns
from scripts.demo.scenarios import scenario_conf
from tests.support.helpers import msgs
from transports.calendar import parse_calendars
from transports.config.engine import ContractConfig, load_config
from transports.errors import ConfigError
from transports.wire.messages import (
    BookUpdate,
    ComboIntent,
    ComboState,
    Decision,
    Flatten,
    Halt,
    Resume,
    SessionStatus,
    SetParams,
)

CFG = load_config(scenario_conf("basis"))
PAIR = CFG.pairs[0]
CONTRACTS = {f"{c.venue}:{c.sym}": c for c in CFG.contracts}
RATE, DIV = PAIR.basis.rate, PAIR.basis.dividends  # type: ignore[union-attr]
S_BID = 4000  # ETF ticks (0.001 CNY = 1 index point): 4000 / 4001 points


def _utc_ns(y: int, m: int, d: int, h: int = 2) -> int:
    return int(datetime(y, m, d, h, tzinfo=timezone.utc).timestamp()) * 10**9  # noqa: UP017


T0 = _utc_ns(2027, 1, 4)  # a Monday, 75 days before the future's expiry


def _days(now: int) -> float:
    return (expiry_ns("2027-03-19") - now) / 86_400e9


def _core(pair=PAIR, contracts=CONTRACTS, calendars=None) -> BasisCore:
    core = build_strategy("strategy.if-etf", pair, contracts, "combo", 1, 0, calendars=calendars)
    assert isinstance(core, BasisCore)
    return core


def _upd(venue: str, sym: str, bid: int, ask: int, ts: int, qty: int = 100) -> BookUpdate:
    return BookUpdate(venue, sym, True, ts, ts, ts, [bid, bid - 1], [qty, qty], [ask, ask + 1],
                      [qty, qty])


def _fut_ticks(px: float) -> int:
    return round(px / 0.2)


def _feed(core: BasisCore, fut_bid_ticks: int, now: int, s_bid: int = S_BID) -> list:
    """Both legs at ``now``: the ETF at ``s_bid``/``s_bid + 1``, the future one tick wide."""
    out = core.on_book_update(_upd("sse", "510300", s_bid, s_bid + 1, now), now)
    return out + core.on_book_update(
        _upd("cffex", "IF2703", fut_bid_ticks, fut_bid_ticks + 1, now), now)


def _calm_bid(now: int, s_bid: int = S_BID, rate: float = RATE) -> int:
    """The future's bid (ticks) whose mid sits at the fair of the ETF's mid."""
    fair = carry_fair(s_bid + 0.5, rate, _days(now), DIV)
    return _fut_ticks(fair - 0.1)


def _warm(core: BasisCore, now: int = T0) -> int:
    for i in range(MIN_SPREAD_SAMPLES):
        _feed(core, _calm_bid(now + i), now + i)
    return now + MIN_SPREAD_SAMPLES


def _rich_bid(now: int, pts: float = 5.0) -> int:
    """A future bid ``pts`` above the fair of the ETF's ask (positive carry pays)."""
    return _fut_ticks(carry_fair(S_BID + 1.0, RATE, _days(now), DIV) + pts)


def _cheap_bid(now: int, pts: float = 5.0) -> int:
    """A future whose ask is ``pts`` below the fair of the ETF's bid (reverse carry pays)."""
    return _fut_ticks(carry_fair(float(S_BID), RATE, _days(now), DIV) - pts) - 1


def _fill(core: BasisCore, intent: ComboIntent, now: int) -> None:
    core.on_combo_state(ComboState(intent.combo_id, PAIR.name, intent.action, "complete",
                                   intent.direction, 1, 30, 0.0, now), now)


def _reasons(out: list, what: str = "refuse") -> list[str]:
    return [d.detail for d in msgs(out, Decision) if d.what == what]


def _refused(core: BasisCore, out: list) -> str:
    """The reason the last evaluation refused (nothing was sent)."""
    assert msgs(out, ComboIntent) == []
    return core.guard.last_refusal


def test_lots_match_the_index_units_exactly() -> None:
    core = _core()
    assert (core.lots_a, core.lots_b, core.residual_base) == (1, 30, 0.0)


def test_calm_market_refuses_edge_below_cost_with_reason() -> None:
    core = _core()
    now = _warm(core)
    out = _feed(core, _calm_bid(now), now)
    assert msgs(out, ComboIntent) == []
    assert core.guard.refusals["EDGE_BELOW_COST"] >= 1
    assert abs(core.last["dev_bps"]) < 1.0
    assert core.last["need_bps"] == pytest.approx(1.2 * core.last["cost_bps"])


def test_warmup_refuses_until_the_spreads_are_sampled() -> None:
    core = _core()
    out = _feed(core, _rich_bid(T0), T0)
    assert _refused(core, out) == "WARMUP"


def test_future_rich_opens_positive_carry_then_holds_then_exits_at_the_bound() -> None:
    core = _core()
    now = _warm(core)
    (intent,) = msgs(_feed(core, _rich_bid(now), now), ComboIntent)
    assert (intent.action, intent.direction) == ("open", -1)
    a, b = intent.legs
    assert (a.venue, a.side, a.qty_lots, b.venue, b.side, b.qty_lots) == \
        ("cffex", "S", 1, "sse", "B", 30)
    assert a.expected_px_ticks == _rich_bid(now) and b.expected_px_ticks == S_BID + 1
    assert a.limit_px_ticks == _rich_bid(now) - PAIR.max_slippage_ticks
    assert b.limit_px_ticks == S_BID + 1 + PAIR.max_slippage_ticks
    assert intent.edge >= 1.2 * intent.cost > 0
    assert msgs(_feed(core, _rich_bid(now + 1), now + 1), ComboIntent) == []  # pending
    _fill(core, intent, now + 2)
    assert (core.pos.pos_dir, core.pos.pos_a_lots, core.pos.pos_b_lots) == (-1, -1, 30)
    # still rich (less so, beyond the cost bound): hold
    out = _feed(core, _rich_bid(now + 3, 3.0), now + 3)
    assert msgs(out, ComboIntent) == [] and core.last["dev_bps"] > core.last["cost_bps"]
    # back at fair: inside the bound, close, saying why
    out = _feed(core, _calm_bid(now + 4), now + 4)
    (close,) = msgs(out, ComboIntent)
    assert _reasons(out, "close") == ["BOUND"]
    assert close.action == "close" and close.direction == -1
    assert [(x.side, x.qty_lots) for x in close.legs] == [("B", 1), ("S", 30)]
    _fill(core, close, now + 5)
    assert core.snapshot()["pos_dir"] == 0 and core.snapshot()["pending"] is None


def test_future_cheap_opens_reverse_carry_and_not_when_reverse_is_off() -> None:
    core = _core()
    now = _warm(core)
    (intent,) = msgs(_feed(core, _cheap_bid(now), now), ComboIntent)
    assert (intent.action, intent.direction) == ("open", 1)
    assert [(x.side, x.qty_lots) for x in intent.legs] == [("B", 1), ("S", 30)]
    off = msgspec.structs.replace(PAIR, basis=msgspec.structs.replace(PAIR.basis, reverse=False))
    core = _core(off)
    now = _warm(core)
    out = _feed(core, _cheap_bid(now), now)
    assert _refused(core, out) == "REVERSE_OFF"


def test_edge_between_cost_and_1_2x_cost_is_refused() -> None:
    core = _core()
    now = _warm(core)
    fair_ask = carry_fair(S_BID + 1.0, RATE, _days(now), DIV)
    cost_pts = None
    for k in range(1, 40):  # the first tick level whose edge is inside (cost, 1.2 cost]
        bid = _fut_ticks(fair_ask) + k
        out = _feed(core, bid, now + k)
        last = core.last
        if cost_pts is None:
            cost_pts = last["cost_bps"]
        if last["cost_bps"] < last["rich_bps"] < last["need_bps"]:
            assert msgs(out, ComboIntent) == []
            assert core.guard.last_refusal == "EDGE_BELOW_COST"
            break
        assert msgs(out, ComboIntent) == [], "nothing opens below 1.2x cost"
    else:
        pytest.fail("no tick level between cost and 1.2x cost")
    # the same book opens when the rule is relaxed to 1.0x (a live change)
    out = core.on_set_params(SetParams(f"pairs.{PAIR.name}", {"basis.cost_multiple": 1.0}),
                             now + 100)
    assert [d.what for d in msgs(out, Decision)] == ["set"]
    (intent,) = msgs(_feed(core, bid, now + 101), ComboIntent)
    assert intent.direction == -1 and intent.cost < intent.edge < 1.2 * intent.cost


def test_no_entry_in_the_last_trading_days_then_the_roll_closes() -> None:
    # Wednesday 17 March: Wed, Thu, Fri 19 left = 3 = no_entry_days
    now = _utc_ns(2027, 3, 17)
    core = _core()
    now = _warm(core, now)
    out = _feed(core, _rich_bid(now), now)
    assert _refused(core, out) == "NO_ENTRY_DAYS"
    # Tuesday 16 March: 4 left, enters; held into Wednesday, the roll closes it
    tue = _utc_ns(2027, 3, 16)
    core = _core()
    t = _warm(core, tue)
    (intent,) = msgs(_feed(core, _rich_bid(t), t), ComboIntent)
    _fill(core, intent, t + 1)
    assert msgs(_feed(core, _rich_bid(t + 2), t + 2), ComboIntent) == []  # still rich: hold
    wed = _utc_ns(2027, 3, 17)
    out = _feed(core, _rich_bid(wed), wed)
    (close,) = msgs(out, ComboIntent)
    assert close.action == "close" and _reasons(out, "close") == ["ROLL"]


def test_trading_days_follow_the_legs_calendar() -> None:
    cals = parse_calendars(b"""
[calendars.cffex]
tz = "Asia/Shanghai"
days = ["Mon", "Tue", "Wed", "Thu", "Fri"]
sessions = [{ start = "00:00", end = "24:00" }]
holidays = ["2027-03-16", "2027-03-17"]
""")
    left = TradingDaysLeft("2027-03-19", cals["cffex"])
    mon = _utc_ns(2027, 3, 15)  # 10:00 in Shanghai
    assert left.at(mon) == 3  # Mon, Thu, Fri
    assert TradingDaysLeft("2027-03-19", None).at(mon) == 5
    assert TradingDaysLeft("2027-03-19", None).at(_utc_ns(2027, 3, 20)) == 0
    core = _core(calendars={"cffex": cals["cffex"]})
    t = _warm(core, mon)
    out = _feed(core, _rich_bid(t), t)
    assert _refused(core, out) == "NO_ENTRY_DAYS"
    core = _core()  # weekdays only: 5 left, enters
    t = _warm(core, mon)
    assert len(msgs(_feed(core, _rich_bid(t), t), ComboIntent)) == 1


def test_halted_refuses_resume_opens() -> None:
    core = _core()
    now = _warm(core)
    core.on_halt(Halt("operator"), now)
    out = _feed(core, _rich_bid(now), now)
    assert _refused(core, out) == "HALTED"
    core.on_resume(Resume("operator"), now + 1)
    assert len(msgs(_feed(core, _rich_bid(now + 2), now + 2), ComboIntent)) == 1


def test_set_params_rate_changes_the_decision() -> None:
    core = _core()
    now = _warm(core)
    out = _feed(core, _calm_bid(now), now)
    assert msgs(out, ComboIntent) == []
    # at 4.5% the fair future is ~18 points higher: the same future is now cheap
    out = core.on_set_params(SetParams(f"pairs.{PAIR.name}", {"basis.rate": 0.045}), now + 1)
    assert [d.what for d in msgs(out, Decision)] == ["set"]
    assert core.rate() == 0.045
    (intent,) = msgs(_feed(core, _calm_bid(now + 2), now + 2), ComboIntent)
    assert intent.direction == 1 and intent.mean == pytest.approx(
        carry_fair(S_BID + 0.5, 0.045, _days(now + 2), DIV))
    bad = core.on_set_params(SetParams(f"pairs.{PAIR.name}", {"basis.exit": "never"}), now + 3)
    assert [d.what for d in msgs(bad, Decision)] == ["set_rejected"]
    assert core.pair.basis.exit == "bound"
    bad = core.on_set_params(SetParams(f"pairs.{PAIR.name}", {"basis.rate_from": "x:y"}), now + 4)
    assert [d.what for d in msgs(bad, Decision)] == ["set_rejected"]
    assert "restart" in msgs(bad, Decision)[0].detail and core.rate() == 0.045


def test_converge_holds_inside_the_bound_until_fair() -> None:
    conv = msgspec.structs.replace(PAIR, basis=msgspec.structs.replace(PAIR.basis,
                                                                       exit="converge"))
    core = _core(conv)
    now = _warm(core)
    (intent,) = msgs(_feed(core, _rich_bid(now), now), ComboIntent)
    _fill(core, intent, now + 1)
    # inside the cost bound but still above fair: "bound" would close, "converge" holds
    fair_mid = carry_fair(S_BID + 0.5, RATE, _days(now), DIV)
    bid = _fut_ticks(fair_mid + 1.0)
    out = _feed(core, bid, now + 2)
    assert 0 < core.last["dev_bps"] <= core.last["cost_bps"]
    assert msgs(out, ComboIntent) == []
    out = _feed(core, _fut_ticks(fair_mid - 1.0), now + 3)
    (close,) = msgs(out, ComboIntent)
    assert close.action == "close" and _reasons(out, "close") == ["CONVERGED"]


def test_flatten_closes_what_is_held_and_opens_nothing() -> None:
    core = _core()
    now = _warm(core)
    (intent,) = msgs(_feed(core, _cheap_bid(now), now), ComboIntent)
    _fill(core, intent, now + 1)
    core.on_flatten(Flatten("shutdown"), now + 2)
    out = _feed(core, _cheap_bid(now + 3), now + 3)  # still cheap: closes anyway
    (close,) = msgs(out, ComboIntent)
    assert _reasons(out, "close") == ["FLATTEN"]
    assert [(x.side, x.qty_lots) for x in close.legs] == [("S", 1), ("B", 30)]
    # wider limits on a flatten
    assert close.legs[0].limit_px_ticks == close.legs[0].expected_px_ticks - \
        3 * PAIR.max_slippage_ticks
    _fill(core, close, now + 4)
    snap = core.snapshot()
    assert snap["pos_dir"] == 0 and snap["pending"] is None
    out = _feed(core, _cheap_bid(now + 5), now + 5)
    assert _refused(core, out) == "HALTED"


def test_rate_from_a_book() -> None:
    rc = ContractConfig(venue="cffex", sym="SHIBOR3M", tick="0.0001", multiplier=1.0,
                        unit="rate", ccy="CNY")
    contracts = {**CONTRACTS, "cffex:SHIBOR3M": rc}
    pair = msgspec.structs.replace(PAIR, basis=msgspec.structs.replace(
        PAIR.basis, rate_from="cffex:SHIBOR3M"))
    core = _core(pair, contracts)
    now = _warm(core)  # the spreads are sampled, but no rate book yet
    assert _refused(core, _feed(core, _calm_bid(now), now)) == "INVALID_RATE"
    # 4.5% from the book, not the configured 2.5%: the calm future (at 2.5%) is cheap
    core.on_book_update(_upd("cffex", "SHIBOR3M", 449, 451, now + 1), now + 1)
    assert core.rate() == pytest.approx(0.045)
    (intent,) = msgs(_feed(core, _calm_bid(now + 2), now + 2), ComboIntent)
    assert intent.direction == 1 and core.last["rate"] == pytest.approx(0.045)


def test_a_basis_pair_needs_a_future_with_expiry() -> None:
    ca = msgspec.structs.replace(CONTRACTS[PAIR.leg_a], expiry="")
    with pytest.raises(ConfigError, match="expiry"):
        _core(contracts={**CONTRACTS, PAIR.leg_a: ca})


def test_same_inputs_same_decisions() -> None:
    def run() -> list:
        core = _core()
        now = _warm(core)
        outs = []
        for i, bid in enumerate([_rich_bid(now), _calm_bid(now), _cheap_bid(now)]):
            out = _feed(core, bid, now + i)
            outs.append(out)
            for it in msgs(out, ComboIntent):
                _fill(core, it, now + i)
        return outs

    assert run() == run()


def test_legs_out_of_step_wait_and_a_stale_leg_refuses() -> None:
    core = _core()
    now = _warm(core)
    later = now + 2 * PAIR.max_quote_skew_ms * 1_000_000
    # the future moves; the ETF's book is one refresh older: no decision on the pair of books
    # from different instants, no journal record; the core waits for the ETF's own update
    rich = _rich_bid(later)
    out = core.on_book_update(_upd("cffex", "IF2703", rich, rich + 1, later), later)
    assert out == [] and core.guard.refusals["SKEW"] == 1
    out = core.on_book_update(_upd("sse", "510300", S_BID, S_BID + 1, later), later)
    (intent,) = msgs(out, ComboIntent)
    assert intent.direction == -1
    # a leg older than max_quote_age_ms is stale, not out of step: journaled
    core = _core()
    now = _warm(core)
    late = now + PAIR.max_quote_age_ms * 1_000_000
    out = core.on_book_update(_upd("sse", "510300", S_BID, S_BID + 1, late), late)
    assert _reasons(out) == ["STALE_QUOTE"]


def test_a_live_impact_window_keeps_the_estimate_and_the_warm_up() -> None:
    core = _core()
    now = _warm(core)
    out = core.on_set_params(SetParams(f"pairs.{PAIR.name}", {"basis.impact_window": 5}), now)
    assert [d.what for d in msgs(out, Decision)] == ["set"]
    for s in core.spreads.values():
        assert s.buf.shape == (5,) and s.mean == 1.0 and s.n >= MIN_SPREAD_SAMPLES
    # the future's book widens to 3 ticks: after 4 updates the 5-update window holds
    # 1, 3, 3, 3, 3 (mean 2.6 ticks) and the cost estimate grows with it
    cost0 = None
    for i in range(4):
        t = now + 1 + i
        core.on_book_update(_upd("sse", "510300", S_BID, S_BID + 1, t), t)
        bid = _calm_bid(t)
        core.on_book_update(_upd("cffex", "IF2703", bid - 1, bid + 2, t), t)
        cost0 = cost0 or core.last["cost_bps"]
    assert core.spreads["cffex:IF2703"].mean == pytest.approx(2.6)
    assert core.last["cost_bps"] > cost0


# --- the monitoring closes (issue 15, item 6) -----------------------------------------------------

SEC = 10**9


def _one_sided(venue: str, sym: str, bid: int | None, ask: int | None, ts: int) -> BookUpdate:
    """A valid book with one side empty: limit-up (bids only) or limit-down (asks only)."""
    bids, asks = ([bid, bid - 1] if bid else []), ([ask, ask + 1] if ask else [])
    return BookUpdate(venue, sym, True, ts, ts, ts, bids, [100] * len(bids), asks,
                      [100] * len(asks))


def _held_rich(core: BasisCore) -> int:
    """Warm, sample the deviation on a one-tick wobble, open positive carry (short A, long B)
    and fill it; return the time."""
    now = _warm(core)
    for i in range(40):
        _feed(core, _calm_bid(now + i) + i % 2, now + i)
    now += 40
    (intent,) = msgs(_feed(core, _rich_bid(now), now), ComboIntent)
    assert intent.direction == -1
    _fill(core, intent, now + 1)
    return now + 2


def test_a_limit_locked_leg_closes_what_is_held_at_the_locked_price() -> None:
    core = _core()
    now = _held_rich(core)
    # the future locked limit-up (bids only): the close buys A, IOC at the locked price
    locked = _rich_bid(now, 20.0)
    core.on_book_update(_upd("sse", "510300", S_BID, S_BID + 1, now), now)
    out = core.on_book_update(_one_sided("cffex", "IF2703", locked, None, now), now)
    (close,) = msgs(out, ComboIntent)
    assert _reasons(out, "close") == ["limit"] and close.action == "close"
    a, b = close.legs
    assert (a.side, a.qty_lots, a.limit_px_ticks, a.expected_px_ticks) == ("B", 1, locked,
                                                                          locked)
    assert (b.side, b.qty_lots, b.limit_px_ticks) == ("S", 30, S_BID - PAIR.max_slippage_ticks)


def test_a_halted_leg_closes_what_is_held_on_the_next_book_update() -> None:
    core = _core()
    now = _held_rich(core)
    core.on_session_status(SessionStatus("sse", "510300", "halt", now), now)
    out = _feed(core, _rich_bid(now + 1), now + 1)
    assert _reasons(out, "close") == ["halt"] and len(msgs(out, ComboIntent)) == 1


def test_without_close_on_limit_a_locked_leg_only_refuses() -> None:
    core = _core(pair=msgspec.structs.replace(PAIR, close_on_limit=False))
    now = _held_rich(core)
    out = core.on_book_update(_one_sided("cffex", "IF2703", _rich_bid(now), None, now), now)
    assert msgs(out, ComboIntent) == [] and core.guard.last_refusal == "EMPTY_A"


def test_nothing_opens_on_a_limit_locked_leg() -> None:
    core = _core()
    now = _warm(core)
    core.on_book_update(_upd("sse", "510300", S_BID, S_BID + 1, now), now)
    out = core.on_book_update(_one_sided("cffex", "IF2703", _rich_bid(now, 20.0), None, now),
                              now)
    assert _refused(core, out) == "EMPTY_A"


def test_deviation_beyond_k_sigma_against_the_position_for_t_seconds_closes() -> None:
    core = _core()
    now = _held_rich(core)
    k, hold = PAIR.deviation_close_sigma, PAIR.deviation_close_s
    assert (k, hold) == (2.0, 60.0)
    # the basis widens further against the short future, far beyond 2 sigma of its wobble
    out = _feed(core, _rich_bid(now, 9.0), now)
    assert msgs(out, ComboIntent) == []
    assert core.last["dev_bps"] - core._entry_dev > k * core.dev_std.std > 0
    t = now + 1
    for s in (10, 30, 59):  # beyond, but not for 60 s yet: hold
        t = now + s * SEC
        assert msgs(_feed(core, _rich_bid(t, 9.0), t), ComboIntent) == []
    t = now + 60 * SEC
    out = _feed(core, _rich_bid(t, 9.0), t)
    (close,) = msgs(out, ComboIntent)
    assert _reasons(out, "close") == ["deviation"] and close.direction == -1


def test_deviation_clock_restarts_inside_the_bound_and_is_off_at_zero() -> None:
    core = _core()
    now = _held_rich(core)
    _feed(core, _rich_bid(now, 9.0), now)
    t = now + 40 * SEC
    assert msgs(_feed(core, _rich_bid(t, 5.0), t), ComboIntent) == []  # back near the entry
    for s in (41, 80, 100):  # beyond again from 41 s: 59 s at 100 s, not yet
        t = now + s * SEC
        assert msgs(_feed(core, _rich_bid(t, 9.0), t), ComboIntent) == []
    off = _core(pair=msgspec.structs.replace(PAIR, deviation_close_sigma=0.0))
    now = _held_rich(off)
    for s in (0, 60, 600):
        t = now + s * SEC
        assert msgs(_feed(off, _rich_bid(t, 9.0), t), ComboIntent) == []
