"""The paper venue's own market data: the source's book less what our orders took.

Pure logic. The published book of a symbol is, level by level, the source's quantity less the
consumed overlay (``matcher.FillModel.available``): the engine sees the liquidity it took gone,
as on a real venue. Paper orders do not show in it (they never trade with each other, so showing
them could only cross the book). The sequence is the paper venue's own: deltas are ``seq + 1``
from 1 whatever the source does, and a resync of the source (a gap, its restart) costs the
engine nothing: when the source book is current again the difference goes out as one delta.
While a source book is resyncing nothing is published for it (its changes wait, marked dirty).
"""

from __future__ import annotations

from collections.abc import Callable

from transports.wire.venue_msgs import Delta, Snapshot

Available = Callable[[str, str, int], int]  #: (sym, side, px) -> lots to show


class Publisher:
    """Per symbol: the published levels and the seq of the last published delta."""

    def __init__(self, syms: list[str]) -> None:
        self.seq: dict[str, int] = dict.fromkeys(syms, 0)
        self.pub: dict[str, dict[str, dict[int, int]]] = {s: {"B": {}, "S": {}} for s in syms}

    def take_delta(self, sym: str, ts: int, dirty: set[tuple[str, int]],
                   available: Available) -> Delta | None:
        """Publish the changed levels among ``dirty`` (cleared) as a delta; None if nothing
        changed."""
        if not dirty:
            return None
        pub = self.pub[sym]
        changed: dict[str, list[tuple[int, int]]] = {"B": [], "S": []}
        for side, px in dirty:
            q = available(sym, side, px)
            if pub[side].get(px, 0) != q:
                changed[side].append((px, q))
                if q > 0:
                    pub[side][px] = q
                else:
                    del pub[side][px]
        dirty.clear()
        if not changed["B"] and not changed["S"]:
            return None
        self.seq[sym] += 1
        return Delta(sym=sym, seq=self.seq[sym], ts=ts, b=sorted(changed["B"], reverse=True),
                     a=sorted(changed["S"]))

    def snapshot(self, sym: str, ts: int) -> Snapshot:
        """The published book (best first) with the seq of the last delta it contains."""
        pub = self.pub[sym]
        return Snapshot(sym=sym, seq=self.seq[sym], ts=ts, b=sorted(pub["B"].items(), reverse=True),
                        a=sorted(pub["S"].items()))

    def seqs(self) -> dict[str, int]:
        """The last published seq of every symbol (for heartbeats)."""
        return dict(self.seq)


__all__ = ["Available", "Publisher"]
