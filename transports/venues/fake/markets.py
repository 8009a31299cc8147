"""The markets of a fake exchange in exchange units: which simulator venue serves spot or swap,
its contracts, and the conversion of exchange decimals to the simulator's integer ticks and lots
(the exchange's price step and amount step ARE the contract's tick and multiplier). Also the
errors every exchange layer maps to its own codes. Pure (no clock, no sockets).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from transports.config.engine import AppConfig, ContractConfig
from transports.config.gateways import FakeConfig
from transports.errors import CmcError


class FakeError(CmcError):
    """A request the fake exchange refuses; ``code`` is generic (unknown_symbol, bad_price,
    bad_qty, insufficient_balance, ...), each exchange layer maps it to its own error."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg = code, msg


class FilterError(FakeError):
    """A price or amount off the exchange's step, not positive or out of range (``what``:
    ``price`` or ``qty``)."""

    def __init__(self, what: str, msg: str) -> None:
        super().__init__(f"bad_{what}", msg)
        self.what = what


class Throttled(FakeError):
    """The account's order rate limit: answer with the exchange's 429 and ``retry_after_s``."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("throttled", "too many orders")
        self.retry_after_s = retry_after_s


def oid_int(oid: str | int) -> int:
    """The integer of a simulator id: ``"binance-12"`` -> 12, ``"binance-t5"`` -> 5."""
    if isinstance(oid, int):
        return oid
    digits = str(oid).rsplit("-", 1)[-1].lstrip("t")
    return int(digits) if digits.isdigit() else 0


tid_int = oid_int


class Markets:
    """The served markets and unit conversions (``FakeCore`` is one)."""

    def __init__(self, cfg: AppConfig, fake: FakeConfig) -> None:
        self._venue = {m.market: m.venue for m in fake.markets}
        self._market = {m.venue: m.market for m in fake.markets}
        self._contracts = {(c.venue, c.sym): c for c in cfg.contracts if c.venue in self._market}

    @property
    def venues(self) -> list[str]:
        """The served simulator venues."""
        return list(self._market)

    def venue_for(self, market: str) -> str:
        """The simulator venue serving ``market`` (spot or swap); ``FakeError`` if none."""
        v = self._venue.get(market)
        if v is None:
            raise FakeError("unknown_market", f"this fake serves no {market} market")
        return v

    def market_of(self, venue: str) -> str:
        """``spot`` or ``swap``."""
        return self._market[venue]

    def contracts(self, venue: str) -> list[ContractConfig]:
        """The contracts of a served venue."""
        return [c for (v, _), c in self._contracts.items() if v == venue]

    def contract(self, venue: str, sym: str) -> ContractConfig:
        """The contract of ``sym`` on ``venue``; ``FakeError("unknown_symbol")`` if none."""
        c = self._contracts.get((venue, sym))
        if c is None:
            raise FakeError("unknown_symbol", f"invalid symbol {sym!r}")
        return c

    def tick(self, venue: str, sym: str) -> Decimal:
        """The price step."""
        return Decimal(self.contract(venue, sym).tick)

    def step(self, venue: str, sym: str) -> Decimal:
        """The amount step (the contract's multiplier: one lot)."""
        return Decimal(repr(self.contract(venue, sym).multiplier))

    def to_ticks(self, venue: str, sym: str, price: str | Decimal) -> int:
        """An exchange price as integer ticks (``FilterError`` if not a positive multiple)."""
        return self._units(price, self.tick(venue, sym), "price", None)

    def to_lots(self, venue: str, sym: str, amount: str | Decimal) -> int:
        """An exchange amount as integer lots (``FilterError`` if not a positive multiple or
        above the contract's max lots per order)."""
        return self._units(amount, self.step(venue, sym), "qty",
                           self.contract(venue, sym).max_lots_per_order)

    @staticmethod
    def _units(x: str | Decimal, step: Decimal, what: str, most: int | None) -> int:
        try:
            d = Decimal(x)
        except (InvalidOperation, TypeError, ValueError):
            raise FilterError(what, f"{what} {x!r} is not a number") from None
        if not d.is_finite() or d <= 0:
            raise FilterError(what, f"{what} {x} must be > 0")
        n, rest = divmod(d, step)
        if rest != 0:
            raise FilterError(what, f"{what} {x} is not a multiple of {step}")
        if most is not None and n > most:
            raise FilterError(what, f"{what} {x} is above the maximum {step * most}")
        return int(n)

    def from_ticks(self, venue: str, sym: str, ticks: int) -> Decimal:
        """Integer ticks as the exchange's decimal price."""
        return ticks * self.tick(venue, sym)

    def from_lots(self, venue: str, sym: str, lots: int) -> Decimal:
        """Integer lots as the exchange's decimal amount."""
        return lots * self.step(venue, sym)


__all__ = ["FakeError", "FilterError", "Markets", "Throttled", "oid_int", "tid_int"]
