"""CTP depth snapshots -> protocol deltas (pure).

CTP sends a whole top-of-book snapshot per update (``CThostFtdcDepthMarketDataField``: level 1
everywhere, levels 2-5 where the exchange sends them, e.g. SHFE/INE L2 fronts). Each is diffed
against the levels last published for the symbol: changed levels go out with their new
quantity, vanished levels with quantity 0, and the gateway's own sequence per symbol counts the
deltas. A snapshot equal to the last one (CTP repeats them, e.g. on volume-only changes) is no
delta. Prices become integer ticks of the instrument's tick; an empty level is price 0 or the
API's "no value" (DBL_MAX) or volume 0.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from transports.venues.ctp.time import md_time_ns
from transports.wire.venue_msgs import Delta, Level, Snapshot

LEVELS = 5
_NO_PRICE = 1e300  #: CTP fills unset prices with DBL_MAX


def to_ticks(price: float, tick: Decimal) -> int:
    """A CTP price (double) in integer ticks, rounded to the nearest (doubles are inexact)."""
    return int((Decimal(repr(price)) / tick).to_integral_value())


def levels_of(f: Any, side: str, tick: Decimal) -> list[Level]:
    """The valid (ticks, lots) levels of one side of a depth field, best first."""
    out: list[Level] = []
    for i in range(1, LEVELS + 1):
        px = getattr(f, f"{side}Price{i}", 0.0)
        qty = int(getattr(f, f"{side}Volume{i}", 0) or 0)
        if qty <= 0 or not px or px >= _NO_PRICE or px != px:
            continue
        out.append((to_ticks(px, tick), qty))
    return out


def _diff(old: list[Level], new: list[Level]) -> list[Level]:
    before, after = dict(old), dict(new)
    out = [(p, q) for p, q in new if before.get(p) != q]
    out += [(p, 0) for p, _ in old if p not in after]
    return out


class DepthBooks:
    """Last published levels and sequence of every subscribed symbol."""

    def __init__(self, ticks: dict[str, Decimal], exchanges: dict[str, str]) -> None:
        self.ticks, self.exchanges = ticks, exchanges
        self.bids: dict[str, list[Level]] = {}
        self.asks: dict[str, list[Level]] = {}
        self.seqs: dict[str, int] = {s: 0 for s in ticks}
        self.ts: dict[str, int] = {}
        self.repeats = 0  #: snapshots that changed nothing
        self.unknown = 0  #: snapshots of symbols not served

    def on_depth(self, f: Any, recv_ns: int) -> Delta | None:
        """One ``CThostFtdcDepthMarketDataField`` -> the delta to publish, or None."""
        sym = f.InstrumentID
        tick = self.ticks.get(sym)
        if tick is None:
            self.unknown += 1
            return None
        b, a = levels_of(f, "Bid", tick), levels_of(f, "Ask", tick)
        db, da = _diff(self.bids.get(sym, []), b), _diff(self.asks.get(sym, []), a)
        if not db and not da:
            self.repeats += 1
            return None
        ts = md_time_ns(self.exchanges.get(sym, f.ExchangeID), f.TradingDay, f.ActionDay,
                        f.UpdateTime, f.UpdateMillisec, recv_ns)
        self.bids[sym], self.asks[sym], self.ts[sym] = b, a, ts
        self.seqs[sym] += 1
        return Delta(sym=sym, seq=self.seqs[sym], ts=ts, b=db, a=da)

    def snapshot(self, sym: str, now_ns: int) -> Snapshot:
        """The full book as last published (``seq`` of its last delta)."""
        return Snapshot(sym=sym, seq=self.seqs.get(sym, 0), ts=self.ts.get(sym, now_ns),
                        b=list(self.bids.get(sym, [])), a=list(self.asks.get(sym, [])))


__all__ = ["DepthBooks", "levels_of", "to_ticks"]
