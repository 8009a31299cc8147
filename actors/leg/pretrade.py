"""The LegExecutor's pre-trade checks (DESIGN §8): one reason code per denial, no extra hop.

Checks, in order: ``wrong_venue``, ``unknown_instrument``, ``bad_qty``, ``halted`` (HALTED denies
every new order but risk's own position-reducing ``flatten`` IOCs), ``reducing`` (REDUCING lets
through only orders that bring the instrument's position closer to zero, counting what already
works on that side), ``venue_uncertain`` (while an order's outcome is unknown the venue is
REDUCING for us too), ``max_lots`` (per order),
``max_position`` (position plus everything working on the same side plus this order) and
``rate_limit`` (a token bucket refilled at ``max_orders_per_s``, bursting one second's worth,
driven by the caller's ``now_ns`` in integer nano-tokens so replay is exact). Cancels are never
checked here: they are always allowed (the executor only paces them with its cancel bucket,
retrying on a timer, never dropping one).

``MarketView`` adds the checks that need what the executor learns from other actors, run after
``max_position`` and before the rate token is taken: ``feed_unhealthy`` (the venue's feed is
STALE or not connected yet) and ``session_closed`` (the symbol's session is not ``open``) for
exposure-increasing orders only; ``max_exposure`` (net exposure of the underlying across venues,
from the last ``RiskView``, plus this order's base units, beyond
``RiskConfig.max_net_exposure_base`` and growing); ``max_notional`` (price x tick x multiplier x
lots, in the contract's currency converted by the ``RiskView`` FX rate of that currency if one
came, else compared as is: a per-contract limit in its own currency); ``price_band`` (a buy above
the best ask, or a sell below the best bid, by more than ``RiskConfig.price_band_ticks``) and,
with a band set, ``no_touch`` (an exposure-increasing order while that touch is not known: no
valid book since a start without state, the book invalid, or that side empty; a reducing order
passes unchecked); then, for exposure-increasing orders when the limit is on, the two
budget checks of ``budget_reason``: ``gross_notional`` (``RiskConfig.max_gross_notional``) and
``margin`` (``margin_capital`` x ``max_margin_pct`` / 100).

The budget checks value every venue's positions in the home currency. Every venue's part comes
from the last ``RiskView`` (the supervisor's positions at its marks) except the executor's own,
which it replaces with what it knows first hand: per instrument the worst of position plus
everything working on either side (this order included), each lot at the larger of the view's
lot value, the touch and -- for the order's instrument -- the order's own price. Another venue's
fills reach an executor only through the view, and the legs of a combo are checked at once on
every venue against the same view; so an executor may grow its own part beyond what the view
counted by at most its share of the headroom the view leaves under the limit: ``(limit -
view's sum) / budget_venues``. The executors' growths together then stay within the limit
whatever the others do meanwhile; the price is that one venue alone cannot take the whole
headroom. Before the supervisor's first view (it sends one at start) nothing that grows a budget
passes. An order that does not grow its instrument's worst case is never denied by them.

``PreTrade`` is the LegExecutor's pre-trade state, an object the executor owns: its limits, its
``MarketView`` (kept current from ``RiskView``, ``BookUpdate``, ``FeedHealth``, ``SessionStatus``),
its rate buckets and its denial counts. The limits change live (``SetParams`` of the ``risk``
section: the same live change ``risk`` gets, so both lines check the same limits; the rate
buckets keep what they hold, capped at the new burst).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import msgspec

from actors.core import Out
from transports.config.engine import ContractConfig, RiskConfig, live_update
from transports.errors import ConfigError
from transports.wire.messages import (
    BookUpdate,
    Decision,
    FeedHealth,
    LegOrder,
    RiskView,
    SessionStatus,
    SetParams,
)

_TOKEN = 1_000_000_000  #: one order in nano-tokens


class RateBucket:
    """A token bucket of ``rate_per_s`` orders per second (burst: one second's worth)."""

    __slots__ = ("_cap", "_last_ns", "_rate", "_tokens")

    def __init__(self, rate_per_s: int) -> None:
        self._rate = rate_per_s
        self._cap = rate_per_s * _TOKEN  #: a full bucket: one second's worth
        self._tokens = self._cap
        self._last_ns: int | None = None

    @property
    def rate_per_s(self) -> int:
        """The refill rate (orders per second, also the burst)."""
        return self._rate

    def set_rate(self, rate_per_s: int) -> None:
        """Refill at ``rate_per_s`` from now on; what the bucket holds stays, capped at the new
        burst (a lowered limit takes effect at once, a raised one grants nothing at once)."""
        self._rate = rate_per_s
        self._cap = rate_per_s * _TOKEN
        if self._tokens > self._cap:
            self._tokens = self._cap

    def take(self, now_ns: int) -> bool:
        """Take one token at ``now_ns``; False (and nothing taken) if the bucket is empty."""
        last = self._last_ns
        tokens = self._tokens
        if last is None or now_ns > last:
            # a full bucket stays full: the refill (big-int arithmetic) only when below the cap
            cap = self._cap
            if last is not None and tokens < cap:
                tokens += (now_ns - last) * self._rate
                if tokens > cap:
                    tokens = cap
                self._tokens = tokens
            self._last_ns = now_ns
        if tokens < _TOKEN:
            return False
        self._tokens = tokens - _TOKEN
        return True


def reduces(side: str, qty: int, position: int, working_same_side: int) -> bool:
    """True if an order can only bring ``position`` closer to zero, even with what works."""
    sign = 1 if side == "B" else -1
    return position * sign < 0 and working_same_side + qty <= abs(position)


class MarketView:
    """What a LegExecutor knows of its venue's market and of risk, for the checks of
    ``pretrade_reason`` that need it."""

    __slots__ = ("band", "budget", "contracts", "exposure", "feed_ok", "fx", "gross", "key",
                 "lot_value", "margin", "margin_limit", "max_exposure", "max_gross",
                 "max_notional", "session", "split", "tick", "touch", "view_pos")

    def __init__(self, risk: RiskConfig, contracts: dict[str, ContractConfig]) -> None:
        self.set_limits(risk)
        self.contracts = contracts  #: sym -> contract, this venue's
        self.key = {s: f"{c.venue}:{s}" for s, c in contracts.items()}  #: sym -> "venue:sym"
        self.tick = {s: float(Decimal(c.tick)) for s, c in contracts.items()}
        self.feed_ok = True  #: False while the venue's feed is STALE / not connected
        self.session: dict[str, str] = {}  #: sym -> session state (absent = open)
        self.touch: dict[str, tuple[int, int]] = {}  #: sym -> (best bid, best ask); 0 = none
        self.exposure: dict[str, float] = {}  #: underlying -> signed base units (RiskView)
        self.fx: dict[str, float] = {}  #: ccy -> home ccy per unit (RiskView)
        self.gross = 0.0  #: home ccy, every venue (RiskView)
        self.margin = 0.0  #: home ccy, every venue (RiskView)
        self.view_pos: dict[str, int] = {}  #: "venue:sym" -> lots the two sums are of
        self.lot_value: dict[str, float] = {}  #: "venue:sym" -> home ccy per lot (RiskView)
        self.split = 0  #: executors sharing the budgets' headroom (RiskView); 0 = no view yet

    def set_limits(self, risk: RiskConfig) -> None:
        """Take the limits of ``risk`` (construction and a live ``SetParams``)."""
        self.band = risk.price_band_ticks
        self.max_exposure = risk.max_net_exposure_base
        self.max_notional = risk.max_notional_per_order
        self.max_gross = risk.max_gross_notional  #: home ccy; 0 = off
        #: home ccy; 0 = off (no ``margin_capital``)
        self.margin_limit = risk.margin_capital * risk.max_margin_pct / 100.0
        self.budget = bool(self.max_gross or self.margin_limit)  #: any budget check on


def budget_reason(o: LegOrder, contract: ContractConfig, positions: Mapping[str, int],
                  open_orders: Iterable[Any], mv: MarketView) -> str:
    """Return ``gross_notional`` or ``margin`` if ``o`` grows the venue's part of that budget
    beyond its share of the headroom (see the module), or "".

    ``positions`` (sym -> lots) and ``open_orders`` (anything with ``sym``, ``side``,
    ``leaves_lots``) are the executor's own venue; see the module for the valuation."""
    buys: dict[str, int] = {}
    sells: dict[str, int] = {}
    for x in open_orders:
        w = buys if x.side == "B" else sells
        w[x.sym] = w.get(x.sym, 0) + x.leaves_lots
    sym, qty = o.sym, o.qty_lots
    gross, margin, added = mv.gross, mv.margin, 0.0
    for s in {*positions, *buys, *sells, sym}:
        c = contract if s == sym else mv.contracts.get(s)
        if c is None:
            continue
        key = mv.key.get(s) or f"{c.venue}:{s}"
        pos, b, sl = positions.get(s, 0), buys.get(s, 0), sells.get(s, 0)
        worst = max(abs(pos + b), abs(pos - sl))
        seen = mv.lot_value.get(key, 0.0)
        per_tick = mv.tick.get(s, 0.0) * c.multiplier * mv.fx.get(c.ccy, 1.0)
        bid, ask = mv.touch.get(s, (0, 0))
        v = max(seen, (ask or bid) * per_tick)
        if s == sym:
            v = max(v, o.px_ticks * per_tick)
            if o.side == "B":
                grown = max(abs(pos + b + qty), abs(pos - sl))
            else:
                grown = max(abs(pos + b), abs(pos - sl - qty))
            added = (grown - worst) * v
            worst = grown
        d = worst * v - abs(mv.view_pos.get(key, 0)) * seen
        gross += d
        margin += d * c.margin_rate
    if added <= 0.0:
        return ""  # the worst case does not grow
    n = mv.split
    # growth of this venue's part beyond the view vs its share of the view's headroom
    if mv.max_gross and (n <= 0 or (gross - mv.gross) * n > mv.max_gross - mv.gross):
        return "gross_notional"
    if mv.margin_limit and (n <= 0 or (margin - mv.margin) * n > mv.margin_limit - mv.margin):
        return "margin"
    return ""


def pretrade_reason(
    o: LegOrder,
    venue: str,
    contract: ContractConfig | None,
    trading_state: str,
    position: int,
    working_same_side: int,
    uncertain: bool,
    bucket: RateBucket,
    now_ns: int,
    market: MarketView | None = None,
    positions: Mapping[str, int] | None = None,
    open_orders: Iterable[Any] = (),
) -> str:
    """Return the denial reason for ``o``, or "" if it may be sent (a token is then taken).

    The checks and their order are the module's; those of ``market`` (none when it is None)
    come after ``max_position``. ``positions`` and ``open_orders`` (the venue's, for the budget
    checks) default to ``o``'s instrument at ``position`` with nothing working.

    One function on purpose: it runs for every new order, and a call per group of checks cost
    more than the checks (the ``MarketView`` ones and the token were two more calls)."""
    if o.venue != venue:
        return "wrong_venue"
    if contract is None:
        return "unknown_instrument"
    qty = o.qty_lots
    if qty <= 0:
        return "bad_qty"
    sign = 1 if o.side == "B" else -1
    # ``reduces``, inline: the order only brings the position closer to zero, even with what
    # already works on its side
    increasing = not (position * sign < 0 and working_same_side + qty <= abs(position))
    if trading_state == "HALTED" and (increasing or o.purpose != "flatten"):
        # risk's own flatten IOC still goes when it reduces: HALTED stops the trading, and a
        # naked position risk is closing must not be held by its own halt (a latched breach,
        # e.g. a legging transient over ``max_net_exposure``, would keep it naked for good)
        return "halted"
    if increasing and (trading_state == "REDUCING" or uncertain):
        return "reducing" if trading_state == "REDUCING" else "venue_uncertain"
    if qty > contract.max_lots_per_order:
        return "max_lots"
    worst = position + sign * (working_same_side + qty)
    # ``abs(worst) > limit`` without the builtin's call (this runs for every order)
    limit = contract.max_position_lots
    if (worst > limit or worst < -limit) and abs(worst) > abs(position):
        return "max_position"
    mv = market
    if mv is not None:
        # the ``MarketView`` checks (see the module), in order
        if increasing:
            if not mv.feed_ok:
                return "feed_unhealthy"
            session = mv.session
            if session and session.get(o.sym, "open") != "open":
                return "session_closed"
            u = contract.underlying
            if u:
                # no RiskView yet means nothing is held: the limit applies from the first order
                cur = mv.exposure.get(u, 0.0)
                new = cur + sign * qty * contract.base_per_lot
                limit = mv.max_exposure  # ``abs(new) > limit``, as above
                if (new > limit or new < -limit) and abs(new) > abs(cur):
                    return "max_exposure"
        if mv.max_notional:
            notional = o.px_ticks * mv.tick.get(o.sym, 0.0) * contract.multiplier * qty
            if notional * mv.fx.get(contract.ccy, 1.0) > mv.max_notional:
                return "max_notional"
        if mv.band:
            bid, ask = mv.touch.get(o.sym, (0, 0))
            far = ask if sign > 0 else bid  # the touch a buy (sell) is held against
            if not far:
                # no valid book of this side (none seen since a start without state, the book
                # invalid, the side empty): the band cannot be checked, so nothing that grows
                # the position goes out blind; a reducing order still may (a close, a flatten)
                if increasing:
                    return "no_touch"
            elif (o.px_ticks > far + mv.band) if sign > 0 else (o.px_ticks < far - mv.band):
                return "price_band"
        if increasing and mv.budget:
            own = positions if positions is not None else {o.sym: position}
            why = budget_reason(o, contract, own, open_orders, mv)
            if why:
                return why
    if not bucket.take(now_ns):
        return "rate_limit"
    return ""


class PreTrade:
    """The LegExecutor's pre-trade state: its ``risk`` limits, what it learns of the market and
    of risk (``market``, kept current by the executor's ``RiskView``, ``BookUpdate``,
    ``FeedHealth`` and ``SessionStatus`` handlers: ``take_risk_view`` and the others below),
    the order and cancel rate buckets and the count of denials per reason."""

    def __init__(self, venue: str, risk: RiskConfig, contracts: dict[str, ContractConfig]) -> None:
        self.venue = venue  #: market inputs of other venues are ignored
        self.risk = risk
        self.market = MarketView(risk, contracts)
        self.bucket = RateBucket(risk.max_orders_per_s)  #: new orders
        self.cancel_bucket = RateBucket(risk.max_cancels_per_s)  #: cancels (paced, never denied)
        self.denied: dict[str, int] = {}  #: reason -> orders (and paced cancels) denied

    def deny(self, reason: str) -> None:
        """Count a denial for ``reason``."""
        self.denied[reason] = self.denied.get(reason, 0) + 1

    def cancel_delay(self, now_ns: int) -> int:
        """0 if a cancel may go at ``now_ns`` (a token is then taken); else, over the venue's
        cancel rate, the delay after which to retry it (counted ``cancel_rate``)."""
        if self.cancel_bucket.take(now_ns):
            return 0
        self.deny("cancel_rate")
        return max(1_000_000_000 // max(self.risk.max_cancels_per_s, 1), 1)

    def on_set_params(self, m: SetParams, name: str, journal: str, now_ns: int) -> Out:
        """A live change of the ``risk`` limits (the one ``risk`` gets too): validated as the
        config file is, applied whole or not at all (pre-trade limits, order and cancel rate
        buckets), journaled either way as a decision of the executor ``name`` (``set`` /
        ``set_rejected``)."""
        detail = msgspec.json.encode(m.values).decode()
        try:
            if m.section != "risk":
                raise ConfigError(f"{m.section}: an executor holds only the risk section")
            new = live_update(self.risk, m.values)
        except ConfigError as exc:
            return [(journal, Decision(name, "set_rejected", f"{detail}: {exc}", now_ns))]
        self.risk = new
        self.market.set_limits(new)
        self.bucket.set_rate(new.max_orders_per_s)
        self.cancel_bucket.set_rate(new.max_cancels_per_s)
        return [(journal, Decision(name, "set", detail, now_ns))]


# --- what the pre-trade checks learn: the executor's own handlers -------------------------------
# ``LegExecutorCore`` binds these as its ``on_risk_view``, ``on_book_update``, ``on_feed_health``
# and ``on_session_status`` (``core`` is the executor, its ``pretrade`` this module's
# ``PreTrade``): one Python call per delivery instead of two, on the executor's most frequent
# messages.


def take_risk_view(core: Any, m: RiskView, now_ns: int) -> Out:
    """Take what risk sees of every venue (exposure, FX, budgets, their positions)."""
    mv = core.pretrade.market
    mv.exposure = dict(m.exposure)
    if m.fx:
        mv.fx = dict(m.fx)
    mv.gross = m.gross_notional
    mv.margin = m.margin_used
    mv.view_pos = dict(m.positions)
    mv.lot_value = dict(m.lot_notional)
    mv.split = m.budget_venues
    return []


def take_touch(core: Any, u: BookUpdate, now_ns: int) -> Out:
    """Keep the touch of this venue's books (for the price band and the budgets).

    Reads only the validity and the best bid and ask prices: the Book leaves out the
    updates that change none of them (``Topology.touch_only``)."""
    pre = core.pretrade
    if u.venue == pre.venue:
        if u.valid:
            pre.market.touch[u.sym] = (u.bid_px[0] if u.bid_px else 0,
                                       u.ask_px[0] if u.ask_px else 0)
        else:
            pre.market.touch.pop(u.sym, None)
    return []


def take_feed_health(core: Any, h: FeedHealth, now_ns: int) -> Out:
    """Keep whether this venue's feed is healthy."""
    pre = core.pretrade
    if h.venue == pre.venue:
        pre.market.feed_ok = h.state not in ("STALE", "CONNECTING")
    return []


def take_session_status(core: Any, m: SessionStatus, now_ns: int) -> Out:
    """Keep this venue's session state per symbol."""
    pre = core.pretrade
    if m.venue == pre.venue:
        pre.market.session[m.sym] = m.state
    return []


__all__ = ["MarketView", "PreTrade", "RateBucket", "budget_reason",
           "pretrade_reason", "reduces", "take_feed_health", "take_risk_view",
           "take_session_status", "take_touch"]
