"""The LegExecutor's pre-trade checks (DESIGN §8): one reason code per denial, no extra hop.

Checks, in order: ``wrong_venue``, ``unknown_instrument``, ``bad_qty``, ``halted`` (HALTED denies
every new order), ``reducing`` (REDUCING lets through only orders that bring the instrument's
position closer to zero, counting what already works on that side), ``venue_uncertain`` (while an
order's outcome is unknown the venue is REDUCING for us too), ``max_lots`` (per order),
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
the best ask, or a sell below the best bid, by more than ``RiskConfig.price_band_ticks``; only
once a valid book was seen).
"""

from __future__ import annotations

from decimal import Decimal

from transports.config import ContractConfig, RiskConfig
from transports.messages import LegOrder

_TOKEN = 1_000_000_000  #: one order in nano-tokens


class RateBucket:
    """A token bucket of ``rate_per_s`` orders per second (burst: one second's worth)."""

    __slots__ = ("_cap", "_last_ns", "_rate", "_tokens")

    def __init__(self, rate_per_s: int) -> None:
        self._rate = rate_per_s
        self._cap = rate_per_s * _TOKEN  #: a full bucket: one second's worth
        self._tokens = self._cap
        self._last_ns: int | None = None

    def take(self, now_ns: int) -> bool:
        """Take one token at ``now_ns``; False (and nothing taken) if the bucket is empty."""
        last = self._last_ns
        if last is None or now_ns > last:
            if last is not None:
                tokens = self._tokens + (now_ns - last) * self._rate
                self._tokens = tokens if tokens < self._cap else self._cap
            self._last_ns = now_ns
        tokens = self._tokens
        if tokens < _TOKEN:
            return False
        self._tokens = tokens - _TOKEN
        return True


def reduces(side: str, qty: int, position: int, working_same_side: int) -> bool:
    """True if an order can only bring ``position`` closer to zero, even with what works."""
    sign = 1 if side == "B" else -1
    return position * sign < 0 and working_same_side + qty <= abs(position)


class MarketView:
    """What a LegExecutor knows of its venue's market and of risk, for ``market_reason``."""

    __slots__ = ("band", "exposure", "feed_ok", "fx", "max_exposure", "max_notional", "session",
                 "tick", "touch")

    def __init__(self, risk: RiskConfig, contracts: dict[str, ContractConfig]) -> None:
        self.band = risk.price_band_ticks
        self.max_exposure = risk.max_net_exposure_base
        self.max_notional = risk.max_notional_per_order
        self.tick = {s: float(Decimal(c.tick)) for s, c in contracts.items()}
        self.feed_ok = True  #: False while the venue's feed is STALE / not connected
        self.session: dict[str, str] = {}  #: sym -> session state (absent = open)
        self.touch: dict[str, tuple[int, int]] = {}  #: sym -> (best bid, best ask); 0 = none
        self.exposure: dict[str, float] = {}  #: underlying -> signed base units (RiskView)
        self.fx: dict[str, float] = {}  #: ccy -> home ccy per unit (RiskView)


def market_reason(o: LegOrder, contract: ContractConfig, position: int, working_same_side: int,
                  mv: MarketView) -> str:
    """Return the ``MarketView`` denial reason for ``o`` (see the module), or ""."""
    sign = 1 if o.side == "B" else -1
    qty = o.qty_lots
    if not (position * sign < 0 and working_same_side + qty <= abs(position)):  # increasing
        if not mv.feed_ok:
            return "feed_unhealthy"
        if mv.session.get(o.sym, "open") != "open":
            return "session_closed"
        u = contract.underlying
        if u and u in mv.exposure:
            cur = mv.exposure[u]
            new = cur + sign * qty * contract.base_per_lot
            if abs(new) > mv.max_exposure and abs(new) > abs(cur):
                return "max_exposure"
    if mv.max_notional:
        notional = o.px_ticks * mv.tick.get(o.sym, 0.0) * contract.multiplier * qty
        if notional * mv.fx.get(contract.ccy, 1.0) > mv.max_notional:
            return "max_notional"
    if mv.band:
        bid, ask = mv.touch.get(o.sym, (0, 0))
        if sign > 0 and ask and o.px_ticks > ask + mv.band:
            return "price_band"
        if sign < 0 and bid and o.px_ticks < bid - mv.band:
            return "price_band"
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
) -> str:
    """Return the denial reason for ``o``, or "" if it may be sent (a token is then taken)."""
    if o.venue != venue:
        return "wrong_venue"
    if contract is None:
        return "unknown_instrument"
    qty = o.qty_lots
    if qty <= 0:
        return "bad_qty"
    if trading_state == "HALTED":
        return "halted"
    sign = 1 if o.side == "B" else -1
    if trading_state == "REDUCING" or uncertain:
        # ``reduces``, inline (only these two checks need it)
        reducing = position * sign < 0 and working_same_side + qty <= abs(position)
        if trading_state == "REDUCING" and not reducing:
            return "reducing"
        if uncertain and not reducing:
            return "venue_uncertain"
    if qty > contract.max_lots_per_order:
        return "max_lots"
    worst = position + sign * (working_same_side + qty)
    if abs(worst) > contract.max_position_lots and abs(worst) > abs(position):
        return "max_position"
    if market is not None:
        why = market_reason(o, contract, position, working_same_side, market)
        if why:
            return why
    if not bucket.take(now_ns):
        return "rate_limit"
    return ""


__all__ = ["MarketView", "RateBucket", "market_reason", "pretrade_reason", "reduces"]
