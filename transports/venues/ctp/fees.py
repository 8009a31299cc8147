"""Commission and margin rates from CTP's rate queries (pure).

``ReqQryInstrumentCommissionRate`` answers per instrument or per product (its ``InstrumentID``
is then the product, e.g. ``au`` for ``au2612``), so a row applies to every served symbol it
names or whose product it names. A fill's fee is ``qty × ByVolume + price × multiplier × qty ×
ByMoney`` with the rates of its offset (open, close, close today); without rates, the
configured ``fee_per_lot``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_PRODUCT = re.compile(r"^[A-Za-z]+")


def product_of(sym: str) -> str:
    """The product code of a futures symbol (``au2612`` -> ``au``, ``SR701`` -> ``SR``)."""
    m = _PRODUCT.match(sym)
    return m.group(0) if m else sym


@dataclass
class Rates:
    """Fee rates of one symbol: (by money, by volume) per offset."""

    open: tuple[float, float] = (0.0, 0.0)
    close: tuple[float, float] = (0.0, 0.0)
    close_today: tuple[float, float] = (0.0, 0.0)
    margin_long: float = 0.0  #: by money


class FeeBook:
    """Rates per symbol and the fee of a fill."""

    def __init__(self, multipliers: dict[str, int], fee_per_lot: dict[str, float]) -> None:
        self.multipliers, self.fee_per_lot = multipliers, fee_per_lot
        self.rates: dict[str, Rates] = {}

    def _targets(self, inst: str) -> list[str]:
        return [s for s in self.multipliers if s == inst or product_of(s) == inst]

    def on_commission(self, row: Any) -> list[str]:
        """A ``CThostFtdcInstrumentCommissionRateField``; returns the symbols it applies to."""
        out = self._targets(row.InstrumentID)
        for s in out:
            r = self.rates.setdefault(s, Rates())
            r.open = (float(row.OpenRatioByMoney), float(row.OpenRatioByVolume))
            r.close = (float(row.CloseRatioByMoney), float(row.CloseRatioByVolume))
            r.close_today = (float(row.CloseTodayRatioByMoney),
                             float(row.CloseTodayRatioByVolume))
        return out

    def on_margin(self, row: Any) -> list[str]:
        """A ``CThostFtdcInstrumentMarginRateField``; returns the symbols it applies to."""
        out = self._targets(row.InstrumentID)
        for s in out:
            self.rates.setdefault(s, Rates()).margin_long = float(row.LongMarginRatioByMoney)
        return out

    def fee(self, sym: str, offset: str, price: float, qty: int) -> float:
        """The fee of a fill, in CNY."""
        r = self.rates.get(sym)
        if r is None:
            return self.fee_per_lot.get(sym, 0.0) * qty
        by_money, by_volume = (r.close_today if offset == "close_today"
                               else r.open if offset == "open" else r.close)
        return qty * by_volume + price * self.multipliers.get(sym, 1) * qty * by_money


__all__ = ["FeeBook", "Rates", "product_of"]
