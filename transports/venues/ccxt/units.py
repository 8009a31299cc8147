"""Exchange decimals <-> protocol integers: prices in ticks, quantities in lots (pure).

A ``Scale`` is one instrument's price step (``tick``) and amount step (``step``: the exchange's
amount precision, in the unit ccxt sizes orders in: base currency on spot and Binance USDⓈ-M,
contracts on OKX swaps). A lot is one amount step. Off-step values are refused, never rounded:
a price that is not a whole number of ticks means the instrument data is wrong.

Two paths: the exact one on ``Decimal`` (orders, fills, instruments) and a float one for the
market-data hot path, where ccxt's order book already holds floats; it accepts a float within a
millionth of a step of a whole step (float noise), and refuses anything further off.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from transports.errors import VenueError

#: a float within this fraction of a step of a whole step is that step (float noise)
FLOAT_TOLERANCE = 1e-6


class OffStep(VenueError):
    """A price or amount is not a whole number of ticks or lots."""


def to_decimal(value: Any) -> Decimal:
    """A ccxt number (float, int or string) as an exact ``Decimal`` of its shortest repr."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


class Scale:
    """One instrument's tick and amount step, with precomputed float forms for the hot path."""

    __slots__ = ("_inv_step_f", "_inv_tick_f", "_step_f", "_tick_f", "step", "sym", "tick")

    def __init__(self, sym: str, tick: Any, step: Any) -> None:
        self.sym = sym
        self.tick = to_decimal(tick)
        self.step = to_decimal(step)
        if self.tick <= 0 or self.step <= 0:
            raise VenueError(f"{sym}: tick {self.tick} and step {self.step} must be > 0")
        self._tick_f = float(self.tick)
        self._step_f = float(self.step)
        self._inv_tick_f = 1.0 / self._tick_f
        self._inv_step_f = 1.0 / self._step_f

    # --- exact (Decimal) -------------------------------------------------------------------

    def price_to_ticks(self, price: Any) -> int:
        """A price as whole ticks; ``OffStep`` if it is not on the tick grid."""
        q, r = divmod(to_decimal(price), self.tick)
        if r:
            raise OffStep(f"{self.sym}: price {price} is not a multiple of tick {self.tick}")
        return int(q)

    def amount_to_lots(self, amount: Any) -> int:
        """An exchange amount as whole lots; ``OffStep`` if it is not a multiple of the step."""
        q, r = divmod(to_decimal(amount), self.step)
        if r:
            raise OffStep(f"{self.sym}: amount {amount} is not a multiple of step {self.step}")
        return int(q)

    def ticks_to_price(self, ticks: int) -> Decimal:
        """Whole ticks as the exchange's decimal price."""
        return ticks * self.tick

    def lots_to_amount(self, lots: int) -> Decimal:
        """Whole lots as the exchange's decimal amount."""
        return lots * self.step

    def nearest_ticks(self, price: Any) -> int:
        """A computed price (a mark or index, not a book level) at the nearest tick."""
        return int((to_decimal(price) / self.tick).to_integral_value())

    # --- float hot path ----------------------------------------------------------------------

    def price_ticks_f(self, price: float) -> int:
        """A float book price as whole ticks; ``OffStep`` beyond float noise."""
        x = price * self._inv_tick_f
        n = round(x)
        if abs(x - n) > FLOAT_TOLERANCE:
            raise OffStep(f"{self.sym}: price {price!r} is not a multiple of tick {self.tick}")
        return n

    def amount_lots_f(self, amount: float) -> int:
        """A float book amount as whole lots; ``OffStep`` beyond float noise."""
        x = amount * self._inv_step_f
        n = round(x)
        if abs(x - n) > FLOAT_TOLERANCE:
            raise OffStep(f"{self.sym}: amount {amount!r} is not a multiple of step {self.step}")
        return n


__all__ = ["FLOAT_TOLERANCE", "OffStep", "Scale", "to_decimal"]
