"""Each pre-trade limit of the LegExecutor denies locally with its reason: nothing reaches @oe."""

from __future__ import annotations

from typing import Any

import pytest

from actors.leg.executor import LegExecutorCore
from actors.leg.orders import LegTimer
from tests.support.contracts import MS, au, gc
from transports.config.engine import RiskConfig
from transports.wire.messages import (
    BookUpdate,
    CancelLeg,
    ExecReport,
    FeedHealth,
    LegOrder,
    RiskView,
    SessionStatus,
    SetTimer,
    Timer,
    TradingState,
)
from transports.wire.venue_msgs import Ack, CancelReq, Done, Fill, NewOrder

AU = au(max_lots_per_order=30, max_position_lots=40)


def core(**risk: Any) -> LegExecutorCore:
    return LegExecutorCore("leg.shfe", "shfe", "acct", {"au2606": AU}, 1, RiskConfig(**risk),
                           ["combo", "risk"], 2000)


def order(combo: int = 1, side: str = "B", qty: int = 10, px: int = 30500,
          tif: str = "IOC") -> LegOrder:
    return LegOrder(combo, 0, 0, "shfe", "au2606", side, qty, px, tif,  # type: ignore[arg-type]
                    "entry", 1, 2)


def run(c: LegExecutorCore, msg: Any, now: int = 1 * MS) -> list[tuple[str, Any]]:
    return c.handle(msg, now)


def denied(out: list[tuple[str, Any]]) -> str:
    assert not [m for d, m in out if d == "@oe"], "a denied order reached the venue"
    (rep,) = [m for d, m in out if d == "combo" and isinstance(m, ExecReport)]
    assert rep.kind == "denied"
    return rep.reason


def sent(out: list[tuple[str, Any]]) -> bool:
    return any(isinstance(m, NewOrder) for d, m in out if d == "@oe")


def book(bid: int, ask: int, valid: bool = True) -> BookUpdate:
    return BookUpdate("shfe", "au2606", valid, 0, 0, 0, [bid], [5], [ask], [5])


def test_trading_state_halted_and_reducing() -> None:
    c = core()
    run(c, TradingState("HALTED", "x", 0))
    assert denied(run(c, order())) == "halted"
    run(c, TradingState("REDUCING", "x", 0))
    assert denied(run(c, order(combo=2))) == "reducing"


def test_halted_lets_only_risks_reducing_flatten_through() -> None:
    """A latched halt must not keep a naked position risk is closing (the fail-over drill:
    a legging transient breached ``max_net_exposure`` and risk's flatten IOCs were denied
    until the end of the run)."""
    c = core()
    cl = next(m for _, m in run(c, order(qty=8)) if isinstance(m, NewOrder)).cl
    run(c, Fill(cl=cl, oid="X", tid="t1", px=30500, qty=8, ts=1))
    run(c, Done(cl=cl, oid="X", state="filled", cum=8, ts=1))
    run(c, TradingState("HALTED", "max_net_exposure", 0))

    def flatten(combo: int, side: str, qty: int) -> LegOrder:
        return LegOrder(combo, 0, 0, "shfe", "au2606", side, qty, 30400,  # type: ignore[arg-type]
                        "IOC", "flatten", 0, 2)

    assert denied(run(c, order(combo=2, side="S", qty=8))) == "halted"  # a strategy's close
    assert denied(run(c, flatten(3, "B", 1))) == "halted"  # adds to the position
    assert denied(run(c, flatten(4, "S", 9))) == "halted"  # goes through zero
    assert sent(run(c, flatten(5, "S", 8)))


def test_max_lots_and_max_position() -> None:
    c = core()
    assert denied(run(c, order(qty=31))) == "max_lots"
    cl = next(m for _, m in run(c, order(combo=2, qty=30)) if isinstance(m, NewOrder)).cl
    run(c, Fill(cl=cl, oid="X", tid="t1", px=30500, qty=30, ts=1))
    run(c, Done(cl=cl, oid="X", state="filled", cum=30, ts=1))
    assert denied(run(c, order(combo=3, qty=11))) == "max_position"
    assert c.denied == {"max_lots": 1, "max_position": 1}


def test_max_net_exposure_across_venues_from_the_risk_view() -> None:
    c = core(max_net_exposure_base=20_000.0)
    run(c, RiskView({"gold": 15_000.0}, 0))
    assert denied(run(c, order(qty=6))) == "max_exposure"  # 15 kg + 6 kg > 20 kg
    assert sent(run(c, order(combo=2, qty=5)))  # exactly at the limit
    run(c, RiskView({"gold": 25_000.0}, 0))
    assert denied(run(c, order(combo=3, qty=1))) == "max_exposure"


def test_max_notional_per_order_in_contract_ccy_or_converted_by_fx() -> None:
    c = core(max_notional_per_order=5_000_000.0)
    # 30500 ticks x 0.02 x 1000 g = 610,000 CNY per lot
    assert sent(run(c, order(qty=8)))
    assert denied(run(c, order(combo=2, qty=9))) == "max_notional"
    run(c, RiskView({}, 0, fx={"CNY": 0.5}))
    assert sent(run(c, order(combo=3, qty=9)))


def test_order_rate_is_denied_locally() -> None:
    c = core(max_orders_per_s=2)
    assert sent(run(c, order(combo=1, qty=1)))
    assert sent(run(c, order(combo=2, qty=1)))
    assert denied(run(c, order(combo=3, qty=1))) == "rate_limit"


def test_cancel_rate_is_paced_and_retried_never_dropped() -> None:
    c = core(max_cancels_per_s=1)
    cls = []
    for i in (1, 2):
        out = run(c, order(combo=i, qty=1, tif="GTC"))
        cl = next(m for _, m in out if isinstance(m, NewOrder)).cl
        run(c, Ack(cl=cl, oid=f"X{i}", ts=1))
        cls.append(cl)
    out = run(c, CancelLeg("shfe", cls[0]), 10 * MS)
    assert [m for _, m in out if isinstance(m, CancelReq)] == [CancelReq(cl=cls[0], ts=10 * MS)]
    out = run(c, CancelLeg("shfe", cls[1]), 20 * MS)
    assert not [m for d, m in out if d == "@oe"]
    (retry,) = [m for _, m in out if isinstance(m, SetTimer)]
    assert (retry.key, retry.arg) == (LegTimer.CANCEL_RETRY, cls[1])
    assert c.denied["cancel_rate"] == 1
    out = run(c, Timer(retry.key, retry.due_ns, retry.arg), retry.due_ns)
    assert [m for _, m in out if isinstance(m, CancelReq)] == [CancelReq(cl=cls[1],
                                                                         ts=retry.due_ns)]


def test_price_band_against_the_book() -> None:
    c = core(price_band_ticks=5)
    run(c, book(30490, 30500))
    assert denied(run(c, order(combo=2, px=30506))) == "price_band"
    assert sent(run(c, order(combo=3, px=30505)))
    assert denied(run(c, order(combo=4, side="S", px=30484))) == "price_band"
    assert sent(run(c, order(combo=5, side="S", px=30485)))


def test_with_a_band_no_known_touch_denies_what_grows_the_position_only() -> None:
    # a leg started without state hears its book's touch at the latest after 10 ms
    # (``TOUCH_REFRESH_NS``); until then a far-off price could not be told from a good one
    c = core(price_band_ticks=5)
    assert denied(run(c, order(combo=1, px=40000))) == "no_touch"
    run(c, book(30490, 30500))
    cl = next(m for _, m in run(c, order(combo=2, qty=4)) if isinstance(m, NewOrder)).cl
    run(c, Fill(cl=cl, oid="X", tid="t1", px=30500, qty=4, ts=1))
    run(c, Done(cl=cl, oid="X", state="filled", cum=4, ts=1))
    run(c, book(0, 0, valid=False))  # the book went invalid: its touch is forgotten
    assert denied(run(c, order(combo=3, px=30500))) == "no_touch"
    assert denied(run(c, order(combo=4, side="S", qty=5, px=30400))) == "no_touch"  # flips
    assert sent(run(c, order(combo=5, side="S", qty=4, px=20000)))  # a close: unchecked
    run(c, book(30490, 0))  # limit-up: no ask, so a buy has nothing to be held against
    assert denied(run(c, order(combo=6, px=30500))) == "no_touch"
    assert c.denied["no_touch"] == 4


def test_without_a_band_no_touch_is_needed() -> None:
    c = core()
    assert sent(run(c, order(combo=1, px=40000)))


def test_feed_health_and_session_deny_increasing_orders_only() -> None:
    c = core()
    cl = next(m for _, m in run(c, order(combo=1, qty=4)) if isinstance(m, NewOrder)).cl
    run(c, Fill(cl=cl, oid="X", tid="t1", px=30500, qty=4, ts=1))
    run(c, Done(cl=cl, oid="X", state="filled", cum=4, ts=1))
    run(c, FeedHealth("shfe", "STALE", 0, 0, 0, 0, 0, 0))
    assert denied(run(c, order(combo=2))) == "feed_unhealthy"
    assert sent(run(c, order(combo=3, side="S", qty=2)))  # reducing passes
    run(c, FeedHealth("shfe", "SYNCED", 0, 0, 0, 0, 0, 0))
    run(c, SessionStatus("shfe", "au2606", "break", 0))
    assert denied(run(c, order(combo=4))) == "session_closed"
    assert sent(run(c, order(combo=5, side="S", qty=1)))
    run(c, SessionStatus("shfe", "au2606", "open", 0))
    assert sent(run(c, order(combo=6)))


@pytest.mark.parametrize("venue", ["comex"])
def test_other_venues_market_data_is_ignored(venue: str) -> None:
    c = core(price_band_ticks=1)
    run(c, book(30499, 30500))  # its own venue's touch: the band holds the order against it
    run(c, FeedHealth(venue, "STALE", 0, 0, 0, 0, 0, 0))
    run(c, SessionStatus(venue, "au2606", "closed", 0))
    run(c, BookUpdate(venue, "au2606", True, 0, 0, 0, [1], [1], [2], [1]))
    assert sent(run(c, order()))


LOT = 30500 * 0.02 * 1000  #: one au2606 lot at 30500 ticks, CNY (the home ccy)


def filled(c: LegExecutorCore, combo: int, side: str, qty: int, now: int = 1 * MS) -> None:
    """Send an order and fill it completely."""
    cl = next(m for _, m in run(c, order(combo=combo, side=side, qty=qty), now)
              if isinstance(m, NewOrder)).cl
    run(c, Fill(cl=cl, oid=f"X{combo}", tid=f"t{combo}", px=30500, qty=qty, ts=1), now)
    run(c, Done(cl=cl, oid=f"X{combo}", state="filled", cum=qty, ts=1), now)


def test_gross_notional_counts_other_venues_working_orders_and_own_fills() -> None:
    c = core(max_gross_notional=10_000_000.0)  # 16.39 lots of au2606
    # another venue holds 3 lots worth 2M CNY each: 6M of the budget
    run(c, RiskView({}, 0, gross_notional=6_000_000.0, positions={"comex:GCZ6": 3},
                    lot_notional={"comex:GCZ6": 2_000_000.0}, budget_venues=1))
    out = run(c, order(combo=1, qty=6, tif="GTC"))  # 6M + 3.66M
    assert sent(out)
    assert denied(run(c, order(combo=2, qty=1))) == "gross_notional"  # the 6 working count
    assert c.denied == {"gross_notional": 1}
    # the 6 lots fill; the supervisor's view has not caught up: the executor's own count does
    cl = next(m for _, m in out if isinstance(m, NewOrder)).cl
    run(c, Fill(cl=cl, oid="X", tid="t1", px=30500, qty=6, ts=1))
    run(c, Done(cl=cl, oid="X", state="filled", cum=6, ts=1))
    assert denied(run(c, order(combo=3, qty=1))) == "gross_notional"
    assert sent(run(c, order(combo=4, side="S", qty=2)))  # reducing passes
    # an order priced above the view's lot value is valued at its own price: 6 x 680k > 4M
    c2 = core(max_gross_notional=10_000_000.0)
    run(c2, RiskView({}, 0, gross_notional=6_000_000.0, positions={"comex:GCZ6": 3},
                     lot_notional={"comex:GCZ6": 2_000_000.0, "shfe:au2606": LOT},
                     budget_venues=1))
    assert denied(run(c2, order(combo=1, qty=6, px=34000))) == "gross_notional"
    assert sent(run(c2, order(combo=2, qty=6, px=30500)))


def test_gross_notional_replaces_the_views_own_venue_part_not_adds_to_it() -> None:
    c = core(max_gross_notional=10_000_000.0)
    run(c, RiskView({}, 0, budget_venues=1))
    filled(c, 1, "B", 6)
    # the view already holds these 6 lots: they are not counted twice
    run(c, RiskView({}, 0, gross_notional=6 * LOT, positions={"shfe:au2606": 6},
                    lot_notional={"shfe:au2606": LOT}, budget_venues=1))
    assert sent(run(c, order(combo=2, qty=10)))  # 16 lots = 9.76M
    assert denied(run(c, order(combo=3, qty=1))) == "gross_notional"


def test_margin_budget_denies_beyond_max_margin_pct_of_capital() -> None:
    # 1M capital, 50 % usable: 500k; one lot's margin is 10 % of 610k = 61k
    c = core(margin_capital=1_000_000.0, max_margin_pct=50.0)
    run(c, RiskView({}, 0, margin_used=200_000.0, positions={"comex:GCZ6": 1},
                    lot_notional={"comex:GCZ6": 2_000_000.0}, budget_venues=1))
    assert denied(run(c, order(combo=1, qty=5))) == "margin"  # 200k + 305k > 500k
    assert sent(run(c, order(combo=2, qty=4)))  # 200k + 244k
    assert c.denied == {"margin": 1}
    c = core(margin_capital=1_000_000.0)  # max_margin_pct defaults to 100
    run(c, RiskView({}, 0, budget_venues=1))
    filled(c, 1, "S", 16)  # 976k
    assert denied(run(c, order(combo=2, side="S", qty=1))) == "margin"
    assert sent(run(c, order(combo=3, side="B", qty=16)))  # reducing passes


GC = gc(tick="0.1")
GC_LOT = 26500 * 0.1 * 100 * 7.2  #: CNY per GCZ6 lot at 26500 ticks and 7.2 CNY per USD


@pytest.mark.parametrize("budget", ["gross", "margin"])
def test_concurrent_legs_on_two_venues_share_the_headroom(budget: str) -> None:
    """Both legs of a combo are checked at once against the same view: each venue may grow by
    its share of the headroom only, so together they stay within the limit."""
    risk = {"max_gross_notional": 20_000_000.0} if budget == "gross" else \
        {"margin_capital": 2_000_000.0}  # margin_rate 0.1: the same budget in margin
    why = "gross_notional" if budget == "gross" else "margin"
    shfe = core(**risk)
    comex = LegExecutorCore("leg.comex", "comex", "acct", {"GCZ6": GC}, 1, RiskConfig(**risk),
                            ["combo", "risk"], 2000)
    view = RiskView({}, 0, fx={"USD": 7.2}, budget_venues=2)
    run(shfe, view)
    run(comex, view)
    # 28 lots (17.1M) would fit the 20M limit alone, not beside a COMEX leg: 10M each
    assert denied(run(shfe, order(combo=1, qty=28))) == why
    assert sent(run(shfe, order(combo=2, qty=16)))  # 9.76M
    gc = LegOrder(2, 1, 0, "comex", "GCZ6", "S", 6, 26500, "IOC", "entry", 1, 2)
    (rep,) = [m for d, m in run(comex, gc) if d == "combo"]
    assert rep.kind == "denied" and rep.reason == why  # 11.4M
    out = run(comex, LegOrder(3, 1, 0, "comex", "GCZ6", "S", 5, 26500, "IOC", "entry", 1, 2))
    assert [m for d, m in out if d == "@oe"]  # 9.54M: 19.3M in all
    # once the view holds both, the 0.7M left is shared again
    both = RiskView({}, 0, fx={"USD": 7.2}, gross_notional=16 * LOT + 5 * GC_LOT,
                    margin_used=0.1 * (16 * LOT + 5 * GC_LOT),
                    positions={"shfe:au2606": 16, "comex:GCZ6": -5},
                    lot_notional={"shfe:au2606": LOT, "comex:GCZ6": GC_LOT}, budget_venues=2)
    run(shfe, both)
    assert denied(run(shfe, order(combo=4, qty=1))) == why  # 0.61M > 0.35M


def test_before_the_first_view_nothing_grows_a_budget() -> None:
    c = core(max_gross_notional=1e12)
    assert denied(run(c, order(combo=1, qty=1))) == "gross_notional"
    c = core(margin_capital=1e12)
    assert denied(run(c, order(combo=1, qty=1))) == "margin"
    run(c, RiskView({}, 0, budget_venues=2))
    assert sent(run(c, order(combo=2, qty=1)))


def test_budget_checks_are_off_at_zero() -> None:
    c = core()  # max_gross_notional = 0, margin_capital = 0
    run(c, RiskView({}, 0, gross_notional=1e12, margin_used=1e12,
                    positions={"comex:GCZ6": 3}, lot_notional={"comex:GCZ6": 1e11}))
    assert sent(run(c, order(qty=30)))


@pytest.mark.parametrize("pct", [0.0, -1.0, 100.5])
def test_max_margin_pct_is_validated(pct: float) -> None:
    import msgspec

    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"max_margin_pct": pct}, RiskConfig)


def test_an_operators_flatten_through_a_halt_lets_what_reduces_go_and_nothing_else() -> None:
    from transports.wire.messages import FLATTEN_THROUGH_HALT

    c = core()
    cl = next(m for _, m in run(c, order(qty=8)) if isinstance(m, NewOrder)).cl
    run(c, Fill(cl=cl, oid="X", tid="t1", px=30500, qty=8, ts=1))
    run(c, Done(cl=cl, oid="X", state="filled", cum=8, ts=1))
    run(c, TradingState("HALTED", "daily_loss", 0))
    assert denied(run(c, order(combo=2, side="S", qty=8))) == "halted"  # a strategy's close
    out = run(c, TradingState("HALTED", FLATTEN_THROUGH_HALT, 0))
    assert not [m for d, m in out if d == "@oe"]  # nothing more to cancel
    assert sent(run(c, order(combo=3, side="S", qty=8)))  # the close goes now
    assert denied(run(c, order(combo=4, side="S", qty=1))) == "reducing"  # through zero: no
    # a halt again (from ACTIVE after a resume) stops everything again
    run(c, TradingState("ACTIVE", "", 0))
    run(c, TradingState("HALTED", "operator_halt", 0))
    assert denied(run(c, order(combo=5, side="B", qty=1))) == "halted"
