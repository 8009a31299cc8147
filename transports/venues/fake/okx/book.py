"""The OKX ``books`` channel of one instrument: the book as the fake's stream has told it, the
snapshot a new subscriber gets and the update each simulator delta becomes. Pure.

OKX's rules kept: a snapshot carries ``prevSeqId`` -1 and ``seqId`` S; each update carries
``seqId`` (the simulator's update id) and ``prevSeqId`` = ``seqId`` - 1, the id of the update
before it at the exchange, so a delta the fake did not send (the ``drop_diff`` fault, the
simulator's ``md_drop``) shows as ``prevSeqId`` != the client's last ``seqId`` and the client
must resubscribe for a new snapshot. Every message carries the CRC32 ``checksum`` of the top 25
levels of the exchange's book after it (``codec.checksum``): after a gap that is the true
book (taken from the core's snapshot), which a client that missed an update cannot match.

Levels are ``[px, sz, "0", orders]`` strings; a deleted level has ``sz`` "0".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transports.venues.fake.okx.codec import OkxMarket, checksum, ms_str
from transports.wire.venue_msgs import Delta, Snapshot

Level = list[str]


class BookFeed:
    """One instrument's ``books`` stream (see the module docstring)."""

    def __init__(self, m: OkxMarket, snap: Snapshot | None) -> None:
        self.m = m
        self.seq = 0
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.last: dict[str, Any] | None = None  # the last update sent (a duplicate resends it)
        self.reset(snap)

    def reset(self, snap: Snapshot | None) -> None:
        """Start again from ``snap`` (empty at seq 0 if None)."""
        self.seq = snap.seq if snap is not None else 0
        self.bids = {px: q for px, q in snap.b} if snap is not None else {}
        self.asks = {px: q for px, q in snap.a} if snap is not None else {}
        self.last = None

    def _level(self, px: Any, qty: Any) -> Level:
        return [self.m.px_str(px), self.m.sz_str(qty) if qty > 0 else "0", "0",
                "1" if qty > 0 else "0"]

    def side(self, bids: bool, depth: int = 400) -> list[Level]:
        """One side best first, at most ``depth`` levels."""
        book = self.bids if bids else self.asks
        pxs = sorted(book, reverse=bids)[:depth]
        return [self._level(px, book[px]) for px in pxs]

    def checksum(self) -> int:
        """OKX's checksum of the current book."""
        return checksum(self.side(True, 25), self.side(False, 25))

    def snapshot(self, ts_ns: int, depth: int = 400) -> dict[str, Any]:
        """The ``data[0]`` of a ``snapshot`` action (``books``; ``depth`` 5 / 1 for ``books5``
        and ``bbo-tbt``, which OKX sends as plain snapshots)."""
        return {"asks": self.side(False, depth), "bids": self.side(True, depth),
                "ts": ms_str(ts_ns), "checksum": self.checksum(), "prevSeqId": -1,
                "seqId": self.seq, "instId": self.m.inst_id}

    def apply(self, d: Delta, truth: Callable[[], Snapshot | None]
              ) -> tuple[str, dict[str, Any]] | None:
        """The message a delivered delta becomes: ``("update", data)``, or ``("snapshot",
        data)`` when the simulator restarted its update ids (``md_reset``: every subscriber
        gets a new snapshot), or None. ``truth()`` is the exchange's current book, used to
        stay exact across a gap."""
        if d.seq == self.seq and self.last is not None:
            return "update", self.last  # the simulator's md_duplicate: the same message twice
        if d.seq == self.seq - 1:  # the simulator's md_reorder: a late update, already in
            return "update", self._data(d, self.checksum())
        if d.seq < self.seq:  # md_reset: the update ids start again
            snap = truth()
            self.reset(snap if snap is not None and snap.seq >= d.seq else None)
            if snap is None or snap.seq < d.seq:
                self._put(d)
            return "snapshot", self.snapshot(d.ts)
        gap = d.seq > self.seq + 1
        self._put(d)
        if gap:
            snap = truth()
            if snap is not None and snap.seq == d.seq:
                self.reset(snap)
        self.seq = d.seq
        self.last = self._data(d, self.checksum())
        return "update", self.last

    def _put(self, d: Delta) -> None:
        for book, levels in ((self.bids, d.b), (self.asks, d.a)):
            for px, qty in levels:
                if qty > 0:
                    book[px] = qty
                else:
                    book.pop(px, None)
        self.seq = d.seq

    def _data(self, d: Delta, cs: int) -> dict[str, Any]:
        return {"asks": [self._level(px, q) for px, q in d.a],
                "bids": [self._level(px, q) for px, q in d.b], "ts": ms_str(d.ts),
                "checksum": cs, "prevSeqId": d.seq - 1, "seqId": d.seq,
                "instId": self.m.inst_id}


__all__ = ["BookFeed"]
