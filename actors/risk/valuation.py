"""The RiskSupervisor's book: what it holds, and its value in the home currency.

Money is kept per currency and converted into the home currency with the live FX book of the
pair that prices the foreign leg. Net exposure per underlying is signed lots × base units per
lot (grams of gold) summed over venues, so a long COMEX and a short SHFE position offset.

``Book`` owns the positions, the cash, the fees, the marks and the adopted lots whose cost still
awaits a mark; the contracts, ticks and FX books are configuration it is given. It judges
nothing: the limit checks (``actors.risk.limits``) read its numbers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from actors.core import restore_attrs
from actors.risk.sides import TwoSided
from transports.config.engine import ContractConfig


class Book:
    """Positions, cash, fees and marks per contract; PnL, exposure, gross and margin from them.

    ``contracts`` maps ``"venue:sym"`` to its contract; ``fx_books`` maps a currency to
    ``(fx book key, invert)`` converting it into ``home_ccy``."""

    def __init__(self, contracts: dict[str, ContractConfig], home_ccy: str,
                 fx_books: dict[str, tuple[str, bool]]) -> None:
        self.contracts = contracts
        self.home_ccy = home_ccy  # not a live parameter: fixed for the run
        self.fx_books = fx_books
        #: contract key -> price units per tick
        self.ticks = {k: float(Decimal(c.tick)) for k, c in contracts.items()}
        self.fx_keys = {k for k, _ in fx_books.values()}  #: books that are FX rates
        #: FX book key -> the currencies it prices (derived from ``fx_books``; never pickled)
        self.fx_ccys = _fx_ccys(fx_books)
        #: venue -> symbol -> ``"venue:sym"`` of every contract: a book update's key without
        #: building the string (derived from ``ticks``; never pickled)
        self.keys = _keys(self.ticks)
        self.positions: dict[str, int] = {}  #: key -> signed lots
        self.cash: dict[str, float] = {}  #: signed notional paid (-) / received (+) per ccy
        self.fees: dict[str, float] = {}  #: ccy -> fees paid
        #: ccy -> funding received (+) / paid (-) on perpetual positions (protocol v2)
        self.funding: dict[str, float] = {}
        self.marks: dict[str, float] = {}  #: key -> mid price (price units, not ticks)
        self.unpriced: dict[str, int] = {}  #: key -> adopted lots whose cost awaits a mark
        #: long/short (today/yesterday) lots of the contracts with offsets (``actors.risk.sides``)
        self.sides = TwoSided(contracts)
        #: ``exposure()`` as of the last change of ``positions`` (None: not valued since); a
        #: cache, never pickled (``__getstate__``)
        self._exposure: dict[str, float] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """The state without the exposure cache and the lookups derived from the configuration:
        a checkpoint holds what the base code's did, whether or not the exposure was valued
        since the last fill."""
        state = dict(self.__dict__)
        state.pop("_exposure", None)
        state.pop("fx_ccys", None)
        state.pop("keys", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint (this code's or an older one's: neither holds the cache nor the
        derived lookups, made here from the configuration)."""
        restore_attrs(self, state)
        self._exposure = None
        self.fx_ccys = _fx_ccys(self.fx_books)
        self.keys = _keys(self.ticks)

    # --- changes ---------------------------------------------------------------------------------

    def mark(self, key: str, bid_ticks: int, ask_ticks: int) -> float | None:
        """Set ``key``'s mark to the mid of ``bid_ticks`` and ``ask_ticks`` and return it (price
        units); return None (and change nothing) for a book that is not a known contract."""
        tick = self.ticks.get(key)
        if tick is None:
            return None
        self.marks[key] = mark = (bid_ticks + ask_ticks) * 0.5 * tick
        if self.unpriced:
            self._price_adopted(key)
        return mark

    def fill(self, key: str, signed_lots: int, px_ticks: int, fee: float,
             fee_ccy: str = "", offset: str = "", now_ns: int = 0) -> None:
        """Book a fill of ``signed_lots`` (+ bought, - sold) at ``px_ticks``, paying ``fee`` in
        ``fee_ccy`` (the contract's currency when empty: a fee the venue charged in another
        currency is kept in that one, never added to the contract's); the fill's price is the
        mark until a book gives one. A contract with offsets also applies it with ``offset`` to
        its two sides (trading day of ``now_ns``)."""
        self.positions[key] = self.positions.get(key, 0) + signed_lots
        self._exposure = None
        if key in self.sides.rules:
            self.sides.fill(key, "B" if signed_lots > 0 else "S", offset, abs(signed_lots), now_ns)
        c = self.contracts.get(key)
        if c is not None:
            px = px_ticks * self.ticks[key]
            self.cash[c.ccy] = self.cash.get(c.ccy, 0.0) - signed_lots * px * c.multiplier
            ccy = fee_ccy or c.ccy
            self.fees[ccy] = self.fees.get(ccy, 0.0) + fee
            self.marks.setdefault(key, px)

    def fund(self, ccy: str, paid: float) -> None:
        """Book a funding payment of ``paid`` in ``ccy`` (negative: paid out)."""
        self.funding[ccy] = self.funding.get(ccy, 0.0) + paid

    def adopt(self, key: str, lots: int, now_ns: int = 0) -> int:
        """Make ``key``'s position ``lots`` (a venue's word after reconciling); return the
        difference adopted (0: nothing changed). Its cost is unknown, so it is booked at the
        mark, now or at the first one: PnL counts from there. A contract with offsets applies
        the difference to its sides as a fill of unknown offset."""
        diff = lots - self.positions.get(key, 0)
        if not diff:
            return 0
        self.positions[key] = lots
        self._exposure = None
        self.sides.adopt(key, diff, now_ns)
        if key in self.contracts:
            self.unpriced[key] = self.unpriced.get(key, 0) + diff
            self._price_adopted(key)
        return diff

    def _price_adopted(self, key: str) -> None:
        """Book an adopted position's cost at the mark once there is one."""
        mark = self.marks.get(key)
        diff = self.unpriced.get(key, 0)
        if mark is None or not diff:
            return
        c = self.contracts[key]
        self.cash[c.ccy] = self.cash.get(c.ccy, 0.0) - diff * mark * c.multiplier
        del self.unpriced[key]

    # --- valuation -------------------------------------------------------------------------------

    def fx(self, ccy: str) -> float:
        """Return home-currency units per unit of ``ccy`` (1 for the home currency or a currency
        without an FX book, 0 while its book has no mark)."""
        if ccy == self.home_ccy:
            return 1.0
        book = self.fx_books.get(ccy)
        if book is None:
            return 1.0
        mark = self.marks.get(book[0], 0.0)
        if mark <= 0:
            return 0.0
        return 1.0 / mark if book[1] else mark

    def fx_rates(self) -> dict[str, float]:
        """Return the rate of every currency that has an FX book (see ``fx``)."""
        return {ccy: self.fx(ccy) for ccy in self.fx_books}

    def pnl(self) -> dict[str, float]:
        """Return realized+MTM gross, fees, funding and net PnL (gross - fees + funding) in the
        home currency; fees and funding converted from their own currencies as cash is."""
        # every rate once: ``fx`` of a currency without an FX book (the home one too) is 1
        rates = self.fx_rates()
        gross = 0.0
        fees = sum(v * rates.get(k, 1.0) for k, v in self.fees.items())
        funding = sum(v * rates.get(k, 1.0) for k, v in self.funding.items())
        for ccy, v in self.cash.items():
            gross += v * rates.get(ccy, 1.0)
        for key, lots in self.positions.items():
            c = self.contracts.get(key)
            if c is None or not lots:
                continue
            gross += lots * self.marks.get(key, 0.0) * c.multiplier * rates.get(c.ccy, 1.0)
        return {"gross": gross, "fees": fees, "funding": funding, "net": gross - fees + funding}

    def exposure(self) -> dict[str, float]:
        """Return net exposure per underlying in base units (signed)."""
        out: dict[str, float] = {}
        for key, lots in self.positions.items():
            c = self.contracts.get(key)
            if c is None or not c.underlying:
                continue
            out[c.underlying] = out.get(c.underlying, 0.0) + lots * c.base_per_lot
        return out

    def exposure_view(self) -> dict[str, float]:
        """``exposure()``, valued once per change of the positions and shared: the caller
        must not change it. The same numbers as ``exposure()`` (the positions, the contracts
        and the order of the sum are those it would read: positions change only in ``fill``
        and ``adopt``, which drop the cache)."""
        view = self._exposure
        if view is None:
            view = self._exposure = self.exposure()
        return view

    def lot_notional(self, key: str) -> float:
        """Return one lot of ``key`` at its mark in the home currency (0 without a mark)."""
        c = self.contracts.get(key)
        if c is None:
            return 0.0
        return self.marks.get(key, 0.0) * c.multiplier * self.fx(c.ccy)

    def lot_notionals(self) -> dict[str, float]:
        """Return ``lot_notional`` of every marked contract that is not an FX rate (in the
        order of ``marks``; each currency's rate asked once: the same ``fx`` value each time)."""
        contracts, fx_keys = self.contracts, self.fx_keys
        rates: dict[str, float] = {}
        out: dict[str, float] = {}
        for k, mark in self.marks.items():
            c = contracts.get(k)
            if c is None or k in fx_keys:
                continue
            ccy = c.ccy
            rate = rates.get(ccy)
            if rate is None:
                rate = rates[ccy] = self.fx(ccy)
            out[k] = mark * c.multiplier * rate  # ``lot_notional``'s product, in its order
        return out

    def gross_and_margin(self, lot_values: dict[str, float] | None = None) -> tuple[float, float]:
        """Return (gross notional, initial margin used) of every position, home currency; a
        contract with offsets counts its long and its short lots (both hold margin).
        ``lot_values``: ``lot_notionals()`` of the book as it is now, when the caller has it
        (each value is the ``lot_notional`` this would compute)."""
        gross = margin = 0.0
        two = self.sides
        for key, lots in self.positions.items():
            c = self.contracts.get(key)
            if c is None:
                continue
            held = two.gross_lots(key, lots) if key in two.rules else abs(lots)
            if not held:
                continue
            lot = lot_values.get(key) if lot_values is not None else None
            v = held * (self.lot_notional(key) if lot is None else lot)
            gross += v
            margin += v * c.margin_rate
        return gross, margin

    def margin_usage_pct(self, margin_capital: float) -> float:
        """Return initial margin in use as a percentage of ``margin_capital`` (home currency;
        0 if it is 0: unchecked)."""
        if margin_capital <= 0:
            return 0.0
        return 100.0 * self.gross_and_margin()[1] / margin_capital


def _fx_ccys(fx_books: dict[str, tuple[str, bool]]) -> dict[str, tuple[str, ...]]:
    """FX book key -> the currencies it prices, in the order of ``fx_books``."""
    out: dict[str, tuple[str, ...]] = {}
    for ccy, (key, _) in fx_books.items():
        out[key] = (*out.get(key, ()), ccy)
    return out


def _keys(ticks: dict[str, float]) -> dict[str, dict[str, str]]:
    """venue -> symbol -> key, for every split of every key at a ``:`` (``f"{venue}:{sym}"``
    is that key exactly when ``keys[venue][sym]`` is)."""
    out: dict[str, dict[str, str]] = {}
    for key in ticks:
        at = key.find(":")
        while at >= 0:
            out.setdefault(key[:at], {})[key[at + 1:]] = key
            at = key.find(":", at + 1)
    return out


__all__ = ["Book"]
