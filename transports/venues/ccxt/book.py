"""One symbol's published book: the exchange's top N levels as protocol deltas (pure).

ccxt keeps the exchange's full book (snapshot plus the exchange's diffs, resynced by ccxt by the
exchange's own update-id rules). The gateway publishes only the top ``depth`` levels of each
side, as they change: every update is diffed against the levels last published, and the
changed levels (absolute quantities, 0 = deleted, best first) go out as one ``delta`` with the
symbol's next ``seq``. The engine's book is therefore exactly ``published`` after each delta,
and a ``snapshot`` reply is ``published`` with the seq it contains.

Because the diff is against what was published, not against the exchange's last message, any
resync inside ccxt (a dropped diff found by update id, a checksum error, a reconnect and fresh
snapshot) reaches the engine as one ordinary delta from the old book to the new one: the
engine's sequence stays gap-free and its book consistent without a resync of its own.

A book that is crossed or locked is not published (the next consistent update is); a level off
the tick or lot grid is dropped and counted; a quantity above the protocol's 10,000,000 lots is
capped there (counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transports.venues.ccxt.units import OffStep, Scale
from transports.wire.venue_msgs import Delta, Snapshot

MAX_LEVEL_QTY = 10_000_000  #: the protocol's largest level quantity (lots)


class PublishedBook:
    """The levels last published for one symbol, its ``seq`` and the diff that moves them."""

    __slots__ = ("asks", "bids", "counters", "depth", "scale", "seq", "sym", "ts")

    def __init__(self, sym: str, scale: Scale, depth: int) -> None:
        self.sym, self.scale, self.depth = sym, scale, depth
        self.bids: dict[int, int] = {}  #: px ticks -> qty lots
        self.asks: dict[int, int] = {}
        self.seq = 0
        self.ts = 0
        self.counters = {"deltas": 0, "crossed": 0, "off_step": 0, "capped": 0, "unchanged": 0}

    def _side(self, levels: Sequence[Sequence[Any]]) -> dict[int, int]:
        out: dict[int, int] = {}
        px_of, qty_of = self.scale.price_ticks_f, self.scale.amount_lots_f
        for lvl in levels[: self.depth]:
            try:
                px, qty = px_of(lvl[0]), qty_of(lvl[1])
            except OffStep:
                self.counters["off_step"] += 1
                continue
            if px <= 0 or qty <= 0:
                continue
            if qty > MAX_LEVEL_QTY:
                self.counters["capped"] += 1
                qty = MAX_LEVEL_QTY
            out[px] = qty
        return out

    def update(self, bids: Sequence[Sequence[Any]], asks: Sequence[Sequence[Any]],
               ts_ns: int) -> Delta | None:
        """Diff the exchange's current book (best first, ``[price, amount]`` floats) against
        the published levels; return the delta to publish (``None``: nothing changed, or the
        book is crossed and is held back)."""
        nb, na = self._side(bids), self._side(asks)
        if nb and na and max(nb) >= min(na):
            self.counters["crossed"] += 1
            return None
        db = _changes(self.bids, nb, reverse=True)
        da = _changes(self.asks, na, reverse=False)
        if not db and not da:
            self.counters["unchanged"] += 1
            return None
        self.bids, self.asks = nb, na
        self.seq += 1
        self.ts = ts_ns
        self.counters["deltas"] += 1
        return Delta(sym=self.sym, seq=self.seq, ts=ts_ns, b=db, a=da)

    def snapshot(self, now_ns: int) -> Snapshot:
        """The published book and the seq of the last delta it contains."""
        return Snapshot(sym=self.sym, seq=self.seq, ts=self.ts or now_ns,
                        b=sorted(self.bids.items(), reverse=True), a=sorted(self.asks.items()))


def _changes(old: dict[int, int], new: dict[int, int], *, reverse: bool) -> list[tuple[int, int]]:
    """Levels whose quantity differs (a level gone has quantity 0), best first."""
    ch = [(px, q) for px, q in new.items() if old.get(px) != q]
    ch += [(px, 0) for px in old if px not in new]
    if len(ch) > 1:
        ch.sort(reverse=reverse)
    return ch


__all__ = ["MAX_LEVEL_QTY", "PublishedBook"]
