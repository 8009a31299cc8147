"""The LegExecutor's order path as trimmed for speed (session 9) keeps the rules it had.

``pretrade_reason`` now runs the ``MarketView`` checks and takes the token in one function: it
is checked here against the two functions it was (kept below as the reference). The other
shortcuts are checked where they could go wrong: the cached epoch part of the client id (a
pickle from before it, a rebuild's new epoch), the trade ids an order shares until its first
fill, an open-order index write of another object under the same id, the reject of an order
that is not live, and the executor attributes kept by its helpers (``actors.leg.views``).
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.leg.book import OpenOrders
from actors.leg.executor import LegExecutorCore
from actors.leg.orders import LiveOrder
from actors.leg.pretrade import MarketView, RateBucket, budget_reason, pretrade_reason
from actors.runtime.rebuild.rebuild import re_epoch
from tests.support.contracts import au
from transports.config.engine import ContractConfig, RiskConfig
from transports.wire.messages import ExecReport, LegOrder
from transports.wire.venue_msgs import Fill, NewOrder, Reject

AU = au(max_lots_per_order=30, max_position_lots=40)


def core(epoch: int = 3) -> LegExecutorCore:
    return LegExecutorCore("leg.shfe", "shfe", "acct", {"au2606": AU}, epoch,
                           RiskConfig(max_orders_per_s=1000), ["combo", "risk"], 2000)


def order(combo: int = 1, side: str = "B", qty: int = 10, px: int = 30500) -> LegOrder:
    return LegOrder(combo, 0, 0, "shfe", "au2606", side, qty, px, "IOC",  # type: ignore[arg-type]
                    "entry", 1, 2)


def sent_cl(out: list[tuple[str, Any]]) -> str:
    (new,) = [m for d, m in out if d == "@oe" and isinstance(m, NewOrder)]
    return new.cl


# --- pretrade_reason against the rules as they were (two functions and a method) --------------

def _reference_market(o: LegOrder, contract: ContractConfig, position: int, working: int,
                      mv: MarketView, positions: dict[str, int], open_orders: Any) -> str:
    """``market_reason`` as it was before session 9 inlined it."""
    sign = 1 if o.side == "B" else -1
    qty = o.qty_lots
    increasing = not (position * sign < 0 and working + qty <= abs(position))
    if increasing:
        if not mv.feed_ok:
            return "feed_unhealthy"
        if mv.session.get(o.sym, "open") != "open":
            return "session_closed"
        u = contract.underlying
        if u:
            cur = mv.exposure.get(u, 0.0)
            new = cur + sign * qty * contract.base_per_lot
            if abs(new) > mv.max_exposure and abs(new) > abs(cur):
                return "max_exposure"
    if mv.max_notional:
        notional = o.px_ticks * mv.tick.get(o.sym, 0.0) * contract.multiplier * qty
        if notional * mv.fx.get(contract.ccy, 1.0) > mv.max_notional:
            return "max_notional"
    if mv.band:
        bid, ask = mv.touch.get(o.sym, (0, 0))
        far = ask if sign > 0 else bid
        if not far:
            if increasing:
                return "no_touch"
        elif (o.px_ticks > far + mv.band) if sign > 0 else (o.px_ticks < far - mv.band):
            return "price_band"
    if increasing and mv.budget:
        return budget_reason(o, contract, positions, open_orders, mv)
    return ""


def _reference_reason(o: LegOrder, venue: str, contract: ContractConfig | None, state: str,
                      position: int, working: int, uncertain: bool, bucket: Any, now_ns: int,
                      mv: MarketView, positions: dict[str, int]) -> str:
    """``pretrade_reason`` as it was, calling the reference above, then the token."""
    if o.venue != venue:
        return "wrong_venue"
    if contract is None:
        return "unknown_instrument"
    qty = o.qty_lots
    if qty <= 0:
        return "bad_qty"
    if state == "HALTED":
        return "halted"
    sign = 1 if o.side == "B" else -1
    if state == "REDUCING" or uncertain:
        reducing = position * sign < 0 and working + qty <= abs(position)
        if state == "REDUCING" and not reducing:
            return "reducing"
        if uncertain and not reducing:
            return "venue_uncertain"
    if qty > contract.max_lots_per_order:
        return "max_lots"
    worst = position + sign * (working + qty)
    if abs(worst) > contract.max_position_lots and abs(worst) > abs(position):
        return "max_position"
    why = _reference_market(o, contract, position, working, mv, positions, ())
    if why:
        return why
    if not bucket.take(now_ns):
        return "rate_limit"
    return ""


def _view(feed_ok: bool, session: str | None, exposure: float | None, max_exposure: float,
          max_notional: float, fx: float | None, band: int, touch: tuple[int, int] | None,
          max_gross: float) -> MarketView:
    mv = MarketView(RiskConfig(max_net_exposure_base=max_exposure, price_band_ticks=band,
                               max_notional_per_order=max_notional,
                               max_gross_notional=max_gross), {"au2606": AU})
    mv.feed_ok = feed_ok
    if session is not None:
        mv.session["au2606"] = session
    if exposure is not None:
        mv.exposure["gold"] = exposure
    if fx is not None:
        mv.fx["CNY"] = fx
    if touch is not None:
        mv.touch["au2606"] = touch
    mv.split = 2
    mv.lot_value["shfe:au2606"] = 600_000.0
    return mv


# each check's outcome is likely on its own: the states that pass are drawn more often, so
# the later checks are reached in most examples
@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(["B", "S"]), st.integers(-1, 35), st.integers(30_000, 31_000),
    st.sampled_from(["ACTIVE", "ACTIVE", "ACTIVE", "REDUCING", "HALTED"]), st.integers(-45, 45),
    st.integers(0, 20), st.sampled_from([False, False, False, True]),
    st.sampled_from([True, True, True, False]),
    st.sampled_from([None, None, "open", "closed"]),
    st.one_of(st.none(), st.floats(-20_000.0, 20_000.0)),
    st.sampled_from([0.0, 5_000.0, 12_000.0, 1e12]),
    st.sampled_from([0.0, 2e5, 6e6]), st.one_of(st.none(), st.floats(0.5, 2.0)),
    st.integers(0, 5),
    st.one_of(st.none(), st.tuples(st.sampled_from([0, 30_400, 30_500]),
                                   st.sampled_from([0, 30_500, 30_600]))),
    st.sampled_from([0.0, 1e7, 1e9]), st.integers(1, 3),
)
def test_pretrade_reason_with_a_market_view_is_the_rules_it_was(
    side: str, qty: int, px: int, state: str, position: int, working: int, uncertain: bool,
    feed_ok: bool, session: str | None, exposure: float | None, max_exposure: float,
    max_notional: float, fx: float | None, band: int, touch: tuple[int, int] | None,
    max_gross: float, rate: int,
) -> None:
    o = order(side=side, qty=qty, px=px)
    args = (feed_ok, session, exposure, max_exposure, max_notional, fx, band, touch, max_gross)
    mv_got, mv_want = _view(*args), _view(*args)
    positions = {"au2606": position}
    b_got, b_want = RateBucket(rate), RateBucket(rate)
    for now in (1_000, 1_001, 1_002, 1_003):  # the bucket runs dry after ``rate`` orders
        got = pretrade_reason(o, "shfe", AU, state, position, working, uncertain, b_got, now,
                              mv_got, positions, ())
        want = _reference_reason(o, "shfe", AU, state, position, working, uncertain, b_want,
                                 now, mv_want, positions)
        assert got == want
        assert (b_got._tokens, b_got._last_ns) == (b_want._tokens, b_want._last_ns)


# --- the client id's cached epoch part ---------------------------------------------------------

def test_an_entry_pickled_before_the_cl_cache_makes_the_same_ids() -> None:
    """A checkpoint of the code before session 9 has no ``_cl_prefix`` on the entry: the class
    default stands in and the ids are the epoch's."""
    c = core(epoch=7)
    c.entry.__dict__.pop("_cl_prefix", None)
    back = pickle.loads(pickle.dumps(c, protocol=5))
    assert "_cl_prefix" not in vars(back.entry)
    assert sent_cl(back.handle(order(combo=11), 1_000)) == "7.11.0.0"
    assert sent_cl(back.handle(order(combo=12), 2_000)) == "7.12.0.0"


def test_the_cl_follows_a_new_epoch_after_a_rebuild() -> None:
    """A rebuild moves the core to a new epoch (``re_epoch`` shifts integer attributes): the
    cached epoch part must follow, never keep the old epoch's ids."""
    c = core(epoch=3)
    assert sent_cl(c.handle(order(combo=1), 1_000)) == "3.1.0.0"
    back = pickle.loads(pickle.dumps(c, protocol=5))
    re_epoch(back, core(epoch=3), core(epoch=9))
    assert back.epoch == 9
    assert sent_cl(back.handle(order(combo=2), 2_000)) == "9.2.0.0"


# --- trade ids shared until the first fill -----------------------------------------------------

def test_orders_never_share_their_trade_ids_once_filled() -> None:
    a = LiveOrder("1.1.0.0", "shfe", "au2606", "B", 30500, 10, "IOC")
    b = LiveOrder("1.2.0.0", "shfe", "au2606", "B", 30500, 10, "IOC")
    for lo in (a, b):
        lo.submit(1)
    assert a.apply_fill("t1", 30500, 2, 0.0, 2) is not None
    assert a.apply_fill("t2", 30500, 2, 0.0, 3) is not None
    assert a.apply_fill("t1", 30500, 2, 0.0, 4) is None  # a duplicate after the first fill
    assert a.trade_ids == {"t1", "t2"} and not b.trade_ids
    assert b.apply_fill("t1", 30500, 3, 0.0, 5) is not None  # another order's trade id
    assert (a.cum_lots, b.cum_lots, a.duplicate_fills) == (4, 3, 1)
    fresh = LiveOrder("1.3.0.0", "shfe", "au2606", "B", 30500, 10, "IOC")
    assert not fresh.trade_ids  # the shared empty one was never written


def test_an_order_pickled_with_an_empty_set_dedupes_as_before() -> None:
    c = core()
    cl = sent_cl(c.handle(order(), 1_000))
    c.book.orders[cl].trade_ids = set()  # as the code before session 9 pickled it
    back = pickle.loads(pickle.dumps(c, protocol=5))
    fill = Fill(cl=cl, oid="v1", tid="t9", px=30500, qty=4, fee=0.0, ts=5)
    first = [m for _, m in back.handle(fill, 2_000) if isinstance(m, ExecReport)]
    again = [m for _, m in back.handle(fill, 3_000) if isinstance(m, ExecReport)]
    assert [r.kind for r in first] == ["fill", "fill"] and again == []
    assert back.positions == {"au2606": 4}


# --- the open-order index ----------------------------------------------------------------------

def test_put_of_another_object_under_an_id_replaces_it_and_recounts() -> None:
    """``put`` writes a new key only (``dict.setdefault``); another object under the same id
    (a revived or adopted record) must still replace the first and be counted instead."""
    opened = OpenOrders()
    first = LiveOrder("1.1.0.0", "shfe", "au2606", "B", 30500, 10, "IOC")
    opened.put("1.1.0.0", first)
    other = LiveOrder("1.1.0.0", "shfe", "au2606", "B", 30500, 6, "IOC")
    opened.put("1.1.0.0", other)
    assert opened["1.1.0.0"] is other
    assert opened.sums == {("au2606", "B"): 6}
    opened["1.1.0.0"] = first  # item assignment is the same method
    assert opened["1.1.0.0"] is first and opened.sums == {("au2606", "B"): 10}


# --- the reject of an order that is not live ---------------------------------------------------

def test_a_reject_of_a_denied_or_unknown_id_is_alarmed_not_applied() -> None:
    c = core()
    out = c.handle(order(qty=0), 1_000)  # denied bad_qty: it never left
    (rep,) = [m for d, m in out if d == "combo"]
    assert rep.kind == "denied"
    for cl in (rep.cl, "3.999.0.0"):
        out = c.handle(Reject(cl=cl, code="x", reason="y", ts=0), 2_000)
        assert not [m for _, m in out if isinstance(m, ExecReport)]
        assert "unknown_cl" in out[0][1].detail
    assert c.counters["unknown_reports"] == 2 and c.counters["rejects"] == 0


def test_a_reject_of_a_retired_order_revives_it_first() -> None:
    c = core()
    cl = sent_cl(c.handle(order(), 1_000))
    c.handle(Fill(cl=cl, oid="v1", tid="t1", px=30500, qty=10, fee=0.0, ts=5), 2_000)
    assert c.retire(10**13) == 1 and cl not in c.orders
    out = c.handle(Reject(cl=cl, code="late", reason="r", ts=0), 10**13)
    assert c.counters["revived"] == 1 and cl in c.orders
    # a FILLED order cannot be rejected: alarmed as an illegal transition, no report
    assert not [m for _, m in out if isinstance(m, ExecReport)]
    assert "illegal_transition" in out[0][1].detail


# --- the executor's attributes kept by its helpers ---------------------------------------------

def test_helper_attributes_read_through_and_only_positions_is_writable() -> None:
    c = core()
    assert c.orders is c.book.orders and c.journal == c.reports.journal == "journal"
    assert c.report_to == ["combo", "risk"] and c.risk is c.pretrade.risk
    c.positions = {"au2606": 3}
    assert c.book.positions == {"au2606": 3}
    with pytest.raises(AttributeError):
        c.orders = {}  # type: ignore[misc]
    assert LegExecutorCore.orders.__doc__ == "cl -> order, every order not retired " \
        "(``book.orders``)"
