"""FundingCore: entry after N consecutive marks inside the lead window, refusals with their
reasons, exits on rate flip, basis break and margin, flatten, base-unit lot matching."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from actors.strategy.funding import FundingCore
from actors.strategy.kinds import build_strategy
from tests.support.helpers import msgs
from transports.config.engine import load_config
from transports.wire.messages import (
    BookUpdate,
    ComboIntent,
    ComboState,
    Decision,
    FeedHealth,
    Flatten,
    MarkUpdate,
    SessionStatus,
    SetParams,
)

CONF = Path(__file__).resolve().parents[3] / "conf" / "scenarios" / "funding.toml"
S = 1_000_000_000
T = 100 * S  #: the next funding time (venue clock) in these tests; lead_s = 2 in the config
SPOT, PERP = ("spot", "BTC-USDT"), ("perp", "BTC-USDT-SWAP")


def _core(**funding: object) -> FundingCore:
    """The demo pair; quotes are stamped at the tests' clock, so the quote-age gate stays off
    unless a test turns it on."""
    cfg = load_config(str(CONF))
    contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    p = cfg.pairs[0]
    assert p.funding is not None
    p = msgspec.structs.replace(p, max_quote_age_ms=10**9,
                                funding=msgspec.structs.replace(p.funding, **funding))
    core = build_strategy("strategy.btc-funding", p, contracts, "combo", 1, 0)
    assert isinstance(core, FundingCore)
    return core


def _book(c: FundingCore, spot: float, perp: float, ts: int, qty: int = 50,
          perp_clock_ns: int = 0) -> list:
    """Both legs' books around ``spot`` and ``perp`` (USDT, tick 0.1), one tick wide, made at
    ``ts`` (the perpetual's stamped in its venue clock, ``perp_clock_ns`` ahead of ours)."""
    out = []
    for (venue, sym), px, ahead in ((SPOT, spot, 0), (PERP, perp, perp_clock_ns)):
        bid = round(px / 0.1)
        u = BookUpdate(venue, sym, True, ts + ahead, ts, ts, [bid, bid - 1], [qty, qty],
                       [bid + 1, bid + 2], [qty, qty])
        out += c.on_book_update(u, ts)
    return out


def _mark(c: FundingCore, rate: float, ts: int, nxt: int = T, px: float = 60018.0) -> list:
    m = MarkUpdate("perp", "BTC-USDT-SWAP", round(px / 0.1), 600000, rate, nxt, ts, ts)
    return c.on_mark_update(m, ts)


def _reasons(out: list) -> list[str]:
    return [d.detail for d in msgs(out, Decision) if d.what == "refuse"]


def _why(out: list) -> str:
    """The reason the last evaluation of ``out`` refused (both books update in turn: the first
    sees the other leg a refresh old, ``SKEW``; the second decides)."""
    reasons = _reasons(out)
    return reasons[-1] if reasons else ""


def _opened(c: FundingCore, rate: float = 0.0003) -> ComboIntent:
    """Three marks beyond the threshold, then the lead window opens: the entry."""
    for i in range(3):
        _mark(c, rate, T - 5 * S + i * S // 10)
    (intent,) = msgs(_book(c, 60000.0, 60018.0, T - 2 * S + S // 10), ComboIntent)
    c.on_combo_state(ComboState(intent.combo_id, "btc-funding", "open", "complete",
                                intent.direction, 10, 1, 0.0, T - 2 * S + S // 5), 0)
    return intent


def test_lots_match_in_base_units() -> None:
    c = _core()
    # 10 spot lots of 0.001 BTC against one contract of 0.01 BTC
    assert (c.lots_a, c.lots_b) == (10, 1)
    assert c.residual_base == pytest.approx(0.0)


def test_enters_after_n_consecutive_marks_inside_the_lead_window() -> None:
    c = _core()
    _book(c, 60000.0, 60018.0, T - 3 * S)
    t = T - 2 * S + S // 10  # inside the 2 s lead
    assert _reasons(_mark(c, 0.0003, t)) == ["STREAK"]
    assert msgs(_mark(c, 0.0003, t + 1), ComboIntent) == []  # two marks: still STREAK
    assert c.guard.refusals["STREAK"] == 2
    out = _mark(c, 0.0003, t + 2)  # the third in a row
    (intent,) = msgs(out, ComboIntent)
    assert (intent.action, intent.direction) == ("open", 1)
    a, b = intent.legs
    # buy spot, sell the perpetual (the shorts collect a positive rate); IOC limits beyond the
    # touch by max_slippage_ticks, the expected price the clip's VWAP
    assert (a.venue, a.side, a.qty_lots, b.venue, b.side, b.qty_lots) == \
        ("spot", "B", 10, "perp", "S", 1)
    assert (a.expected_px_ticks, a.limit_px_ticks) == (600001, 600004)
    assert (b.expected_px_ticks, b.limit_px_ticks) == (600180, 600177)
    assert intent.mean == 0.0003 and intent.z == 3.0
    assert intent.edge == pytest.approx(0.0003 * 0.01 * 60018.0)  # funding per interval
    assert c.snapshot()["pending"] == intent.combo_id
    assert msgs(_mark(c, 0.0003, t + 3), ComboIntent) == []  # nothing twice while pending


def test_refuses_before_the_lead_window_and_enters_when_it_opens() -> None:
    c = _core()
    _book(c, 60000.0, 60018.0, T - 10 * S)
    out = []
    for i in range(4):
        out += _mark(c, 0.0003, T - 10 * S + i)
    assert "BEFORE_LEAD" in _reasons(out) and msgs(out, ComboIntent) == []
    assert msgs(_book(c, 60000.0, 60018.0, T - 2 * S - 1), ComboIntent) == []
    # the marks before the window count: the first book inside it enters
    (intent,) = msgs(_book(c, 60000.0, 60018.0, T - 2 * S), ComboIntent)
    assert intent.direction == 1


def test_the_lead_is_measured_in_the_venue_clock() -> None:
    c = _core()
    # the perpetual's venue clock runs 1 s ahead of ours: its funding time comes 1 s sooner
    c.on_feed_health(FeedHealth("perp", "SYNCED", 0, 0, 0, 0, 0, 0, clock_offset_ns=S), 0)
    _book(c, 60000.0, 60018.0, T - 5 * S, perp_clock_ns=S)
    for i in range(3):
        _mark(c, 0.0003, T - 5 * S + i)
    assert _why(_book(c, 60000.0, 60018.0, T - 3 * S - S // 10, perp_clock_ns=S)) == \
        "BEFORE_LEAD"
    (intent,) = msgs(_book(c, 60000.0, 60018.0, T - 3 * S + S // 10, perp_clock_ns=S),
                     ComboIntent)
    assert intent.direction == 1


def test_refuses_after_the_funding_time_passed() -> None:
    c = _core()
    for i in range(3):
        _mark(c, 0.0003, T - 5 * S + i)
    assert _why(_book(c, 60000.0, 60018.0, T + 1)) == "AFTER_FUNDING"


def test_refuses_a_rate_below_entry_and_negative_funding_unless_reverse() -> None:
    c = _core()
    for i in range(3):
        _mark(c, 0.00005, T - 5 * S + i)
    assert _why(_book(c, 60000.0, 60005.0, T - S)) == "RATE_BELOW_ENTRY"
    c = _core(reverse=False)
    for i in range(3):
        _mark(c, -0.0002, T - 5 * S + i)
    assert _why(_book(c, 60000.0, 59990.0, T - S)) == "REVERSE_OFF"
    c = _core(reverse=True)
    for i in range(3):
        _mark(c, -0.0002, T - 5 * S + i)
    (intent,) = msgs(_book(c, 60000.0, 59990.0, T - S), ComboIntent)
    # negative funding: the longs collect: sell spot, buy the perpetual
    assert intent.direction == -1
    assert [(x.venue, x.side) for x in intent.legs] == [("spot", "S"), ("perp", "B")]


def test_a_mark_inside_the_band_restarts_the_streak() -> None:
    c = _core()
    _book(c, 60000.0, 60018.0, T - 3 * S)
    _mark(c, 0.0003, T - 3 * S)
    _mark(c, 0.0003, T - 3 * S + 1)
    _mark(c, 0.00005, T - 3 * S + 2)  # one observation not beyond: the streak is broken
    assert c.streak == 0
    assert _reasons(_mark(c, 0.0003, T - S)) == ["STREAK"]
    assert msgs(_mark(c, 0.0003, T - S + 1), ComboIntent) == []
    assert msgs(_mark(c, 0.0003, T - S + 2), ComboIntent) != []


def test_refuses_a_wide_basis_and_too_much_margin() -> None:
    c = _core()
    for i in range(3):
        _mark(c, 0.0003, T - 5 * S + i)
    # the perpetual 40 bp over spot: beyond max_basis_bps = 30
    assert _why(_book(c, 60000.0, 60240.0, T - S)) == "BASIS"
    # one contract takes 0.01 x 60018 x 0.1 = 60 USDT of margin: 85.7% of 70
    c = _core(margin_capital=70.0)
    for i in range(3):
        _mark(c, 0.0003, T - 5 * S + i)
    assert _why(_book(c, 60000.0, 60018.0, T - S)) == "MARGIN"


def test_journals_each_refusal_reason_once_per_change() -> None:
    c = _core()
    _book(c, 60000.0, 60018.0, T - 10 * S)
    outs = [_mark(c, 0.00005, T - 10 * S + i) for i in range(5)]
    assert sum(len(_reasons(o)) for o in outs) == 1
    assert c.guard.refusals["RATE_BELOW_ENTRY"] == 5


def test_holds_while_the_rate_stays_on_its_side_then_closes_on_a_flip() -> None:
    c = _core()
    intent = _opened(c)
    assert (c.pos.pos_dir, c.pos.pos_a_lots, c.pos.pos_b_lots) == (1, 10, -1)
    # positive but below the entry threshold: still collecting, held
    assert msgs(_mark(c, 0.00005, T + S), ComboIntent) == []
    out = _mark(c, -0.0001, T + 2 * S)  # flipped through exit_rate = 0
    (close,) = msgs(out, ComboIntent)
    assert (close.action, close.direction) == ("close", 1)
    assert [(x.venue, x.side, x.qty_lots) for x in close.legs] == \
        [("spot", "S", 10), ("perp", "B", 1)]
    (why,) = [d for d in msgs(out, Decision) if d.what == "close"]
    assert why.detail.startswith("RATE_FLIP")
    c.on_combo_state(ComboState(close.combo_id, "btc-funding", "close", "complete", 1, 10, 1,
                                0.0, T + 3 * S), 0)
    assert c.snapshot()["pos_dir"] == 0 and c.snapshot()["pending"] is None
    assert close.combo_id == intent.combo_id + 1


def test_exit_rate_sets_where_the_flip_is() -> None:
    c = _core(exit_rate=0.0001)
    _opened(c)
    (close,) = msgs(_mark(c, 0.00005, T + S), ComboIntent)  # below exit_rate: closed
    assert close.action == "close"


def test_closes_when_the_basis_breaks() -> None:
    c = _core()
    _opened(c)
    assert msgs(_book(c, 60000.0, 60100.0, T - S), ComboIntent) == []  # 17 bp: inside
    out = _book(c, 60000.0, 60200.0, T - S + 1)  # 33 bp > 30
    (close,) = msgs(out, ComboIntent)
    assert close.action == "close"
    assert [d.detail.split()[0] for d in msgs(out, Decision) if d.what == "close"] == \
        ["BASIS_BREAK"]


def test_closes_when_margin_use_crosses_the_limit() -> None:
    c = _core(margin_capital=80.0)  # one contract: 60 USDT = 75% of 80
    _opened(c)
    assert msgs(_mark(c, 0.0003, T - S, px=60018.0), ComboIntent) == []
    # the mark rises 10%: 66 USDT = 82.5% of 80, beyond max_margin_pct = 80
    out = _mark(c, 0.0003, T - S + 1, px=66020.0)
    (close,) = msgs(out, ComboIntent)
    assert close.action == "close"
    assert [d.detail.split()[0] for d in msgs(out, Decision) if d.what == "close"] == ["MARGIN"]


def test_a_live_margin_change_reaches_the_rule() -> None:
    c = _core()
    _opened(c)
    out = c.on_set_params(SetParams("pairs.btc-funding", {"funding.margin_capital": 50.0}), 0)
    assert [d.what for d in msgs(out, Decision)] == ["set"]
    (close,) = msgs(_mark(c, 0.0003, T - S), ComboIntent)  # 60 USDT of 50: 120%
    assert close.action == "close"
    bad = c.on_set_params(SetParams("pairs.btc-funding", {"funding.consecutive": 0}), 0)
    assert [d.what for d in msgs(bad, Decision)] == ["set_rejected"]


def test_flatten_closes_what_is_held_and_blocks_new_entries() -> None:
    c = _core()
    _opened(c)
    c.on_flatten(Flatten("end of run"), 0)
    out = _mark(c, 0.0003, T - S)  # the rate still pays: flatten closes anyway
    (close,) = msgs(out, ComboIntent)
    assert close.action == "close"
    assert [d.detail.split()[0] for d in msgs(out, Decision) if d.what == "close"] == \
        ["FLATTEN"]
    # a flatten's limits are wider (3 x max_slippage_ticks)
    assert close.legs[0].limit_px_ticks == 600000 - 9
    c.on_combo_state(ComboState(close.combo_id, "btc-funding", "close", "complete", 1, 10, 1,
                                0.0, T), 0)
    snap = c.snapshot()
    assert (snap["pos_dir"], snap["pending"]) == (0, None)
    assert _reasons(_mark(c, 0.0003, T - S + 1)) == ["HALTED"]


# --- the monitoring closes (issue 15, item 6) -----------------------------------------------------


def _limit_up(c: FundingCore, px: float, ts: int) -> list:
    """The perpetual locked limit-up: bids at ``px``, no ask."""
    bid = round(px / 0.1)
    u = BookUpdate(*PERP, True, ts, ts, ts, [bid, bid - 1], [50, 50], [], [])
    return c.on_book_update(u, ts)


def _closes(out: list) -> list[str]:
    return [d.detail.split()[0] for d in msgs(out, Decision) if d.what == "close"]


def test_a_limit_locked_leg_closes_what_is_held_at_the_locked_price() -> None:
    c = _core()
    _opened(c)  # long 10 spot, short 1 perp
    out = _limit_up(c, 60300.0, T - S)
    (close,) = msgs(out, ComboIntent)
    assert _closes(out) == ["limit"] and close.action == "close"
    spot, perp = close.legs
    assert (spot.side, spot.qty_lots) == ("S", 10)
    # the short perpetual is bought back as an IOC at the locked price
    assert (perp.side, perp.qty_lots, perp.limit_px_ticks) == ("B", 1, 603000)


def test_a_halted_leg_closes_what_is_held_on_the_next_book_update() -> None:
    c = _core()
    _opened(c)
    c.on_session_status(SessionStatus(*SPOT, "halt", T - S), T - S)
    out = _book(c, 60000.0, 60018.0, T - S + 1)
    assert _closes(out) == ["halt"] and len(msgs(out, ComboIntent)) == 1


def test_without_close_on_limit_a_locked_leg_only_refuses() -> None:
    c = _core()
    c._configure(msgspec.structs.replace(c.pair, close_on_limit=False))
    _opened(c)
    out = _limit_up(c, 60300.0, T - S)
    assert msgs(out, ComboIntent) == [] and _why(out) == "EMPTY_B"


def test_nothing_opens_on_a_limit_locked_leg() -> None:
    c = _core()
    for i in range(3):
        _mark(c, 0.0003, T - 5 * S + i * S // 10)
    _book(c, 60000.0, 60018.0, T - 2 * S)
    out = _limit_up(c, 60018.0, T - 2 * S + S // 10)
    assert msgs(out, ComboIntent) == [] and _why(out) == "EMPTY_B"
