"""IB market depth -> protocol deltas (pure: the caller passes the time).

IB keeps the book by *position* (``updateMktDepth`` insert/update/delete at row N); ib-async
applies those rows to ``Ticker.domBids``/``domAsks``. The protocol keys levels by *price*, so
each update is diffed against what this gateway last published: a price that left the book
is sent with qty 0, a changed quantity with its new absolute quantity, and a pass that changed
nothing is no delta (no seq spent). Where depth is not permitted (error 10092 and friends) the
same book is fed from L1 (bid/ask and their sizes) instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from loguru import logger

from transports.venues.ib.contracts import Scale
from transports.wire.venue_msgs import Delta, Level, Snapshot


class DepthBook:
    """One symbol's published levels and its delta sequence."""

    def __init__(self, scale: Scale, depth: int) -> None:
        self.scale = scale
        self.depth = depth
        self.seq = 0
        self.ts = 0
        self.bids: dict[int, int] = {}  # px ticks -> lots, as published
        self.asks: dict[int, int] = {}
        self.off_tick = 0  #: levels dropped because their price is off the tick grid

    def _levels(self, rows: Iterable[tuple[float, float]]) -> dict[int, int]:
        out: dict[int, int] = {}
        for price, size in rows:
            if not (isinstance(price, float | int) and math.isfinite(price) and price > 0):
                continue
            if not (math.isfinite(size) and size > 0):
                continue
            px = self.scale.to_ticks(price)
            if px is None:
                self.off_tick += 1
                logger.warning("{}: price {} off the tick {}, level skipped", self.scale.sym,
                               price, self.scale.tick)
                continue
            out[px] = out.get(px, 0) + int(size)
        return out

    def update(self, bids: Iterable[tuple[float, float]], asks: Iterable[tuple[float, float]],
               ts_ns: int) -> Delta | None:
        """The new full book (native price, size rows); the delta to publish, or ``None``."""
        nb, na = self._levels(bids), self._levels(asks)
        db = _diff(self.bids, nb, reverse=True)
        da = _diff(self.asks, na, reverse=False)
        if not db and not da:
            return None
        self.bids, self.asks = nb, na
        self.seq += 1
        self.ts = ts_ns
        return Delta(sym=self.scale.sym, seq=self.seq, ts=ts_ns, b=db, a=da)

    def from_dom(self, ticker: Any, ts_ns: int) -> Delta | None:
        """From an ib-async depth ticker (``domBids``/``domAsks`` of ``DOMLevel``)."""
        return self.update(((lv.price, lv.size) for lv in ticker.domBids),
                           ((lv.price, lv.size) for lv in ticker.domAsks), ts_ns)

    def from_l1(self, ticker: Any, ts_ns: int) -> Delta | None:
        """From an ib-async L1 ticker (bid/bidSize, ask/askSize; NaN = none)."""
        return self.update([(ticker.bid, ticker.bidSize)], [(ticker.ask, ticker.askSize)], ts_ns)

    def clear(self, ts_ns: int) -> Delta | None:
        """Every published level deleted (depth reset, error 317, or the feed lost)."""
        return self.update((), (), ts_ns)

    def snapshot(self, ts_ns: int) -> Snapshot:
        """The published book; its seq is the last delta's."""
        return Snapshot(sym=self.scale.sym, seq=self.seq, ts=self.ts or ts_ns,
                        b=sorted(self.bids.items(), reverse=True)[: self.depth],
                        a=sorted(self.asks.items())[: self.depth])


def _diff(old: dict[int, int], new: dict[int, int], *, reverse: bool) -> list[Level]:
    out = [(px, q) for px, q in new.items() if old.get(px) != q]
    out += [(px, 0) for px in old if px not in new]
    return sorted(out, reverse=reverse)


__all__ = ["DepthBook"]
