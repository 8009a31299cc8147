"""The LegExecutor's pre-trade checks (DESIGN §8): one reason code per denial, no extra hop.

Checks, in order: ``wrong_venue``, ``unknown_instrument``, ``bad_qty``, ``halted`` (HALTED denies
every new order), ``reducing`` (REDUCING lets through only orders that bring the instrument's
position closer to zero, counting what already works on that side), ``venue_uncertain`` (while an
order's outcome is unknown the venue is REDUCING for us too), ``max_lots`` (per order),
``max_position`` (position plus everything working on the same side plus this order) and
``rate_limit`` (a token bucket refilled at ``max_orders_per_s``, bursting one second's worth,
driven by the caller's ``now_ns`` in integer nano-tokens so replay is exact). Cancels are never
checked: they are always allowed.
"""

from __future__ import annotations

from transports.config import ContractConfig
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
    if not bucket.take(now_ns):
        return "rate_limit"
    return ""


__all__ = ["RateBucket", "pretrade_reason", "reduces"]
