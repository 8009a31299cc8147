"""Book actor: the L2 order book of one instrument, held in Numba arrays.

In: ``BookSnapshot``, ``BookDelta``, ``BookInvalid`` from the Feed. Out: ``BookUpdate`` (the
best ``publish_levels`` levels a side, and whether the book is usable) to each subscriber;
``Resync`` to the venue's Feed when the data itself is bad.

Touch-only subscribers (``Topology.touch_only``: risk's marks, a LegExecutor's price band) read
nothing of an update but its validity and best bid and ask prices, so they get one only when
what they read may have changed: the touch prices or the validity moved since the last update
they were sent, the update is a snapshot or says INVALID, the book (re)started, or
``TOUCH_REFRESH_NS`` of receive time passed since their last one (a subscriber restarted
without its state, a fresh core, has the current touch within that bound). A change of a
quantity or of a deeper level reaches only the full subscribers (the strategies, the
ComboExecutor: executable prices and repairs walk the depth, quote ages read the timestamps).
Those that get an update get it in subscriber order, as before; the rule reads only the
messages, so replay and rebuild send the same updates.

A book is usable only after a snapshot and while every delta since applied cleanly. A crossed or
locked book, or a level with a non-positive price or a negative quantity, makes it INVALID until
the next snapshot; counters record why.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Any

import msgspec
import numpy as np

from actors.core import Core, Out
from actors.topology import DEFAULT, Topology
from kernels.book import (
    APPLY_BAD_VALUE,
    APPLY_OK,
    APPLY_UNREAD,
    book_apply_levels,
    book_apply_packed,
    book_clear,
    book_crossed,
    book_update_checked,
    book_update_level,
)
from transports.wire.messages import BookDelta, BookInvalid, BookSnapshot, BookUpdate, Resync

#: Largest quantity per level we believe; anything above is a corrupt frame.
MAX_LEVEL_LOTS = 10_000_000
#: Deltas with more levels than this go to ``book_apply_packed`` in one kernel call (their levels
#: handed over as msgpack bytes); up to this many take one kernel call a level, nothing to build
#: (``book_update_checked`` for a single level, ``book_update_level`` each for two): the live
#: feed's usual one- or two-level delta.
PER_LEVEL_MAX = 2
_REASONS = {APPLY_BAD_VALUE: "bad_value"}
_flatten = chain.from_iterable
#: ``(bids, asks)`` as msgpack bytes for ``book_apply_packed``: msgspec walks the lists of
#: tuples in C (~0.45 µs for 24 levels); an int64 array of them built from Python costs ~1.7
_pack = msgspec.msgpack.Encoder().encode
#: what ``_pack`` raises for levels it cannot encode (not ints, an int past 64 bits)
_UNPACKABLE = (TypeError, OverflowError, ValueError)
_NO_LEVELS = np.zeros(0, np.int64)
#: a touch-only subscriber gets an update at least this often (receive time) while the book
#: updates, even with an unchanged touch: the bound on how long a subscriber that lost its
#: state (a fresh core after a failed rebuild) can lack the touch
TOUCH_REFRESH_NS = 10_000_000


class BookCore(Core):
    """Pure book state for one ``venue:sym``.

    Both sides live in one ``levels: int64[4, depth]`` array (bid prices, bid quantities, ask
    prices, ask quantities) and ``n: int64[2]`` (live bid / ask counts); ``bid_px``,
    ``bid_qty``, ``bid_n`` and the ask ones are views of the same memory, in the layout of
    ``kernels.book``'s one-side kernels. ``depth`` and ``publish_levels`` are fixed at
    construction (the publication views are made once). ``topo`` names the venue's Feed and
    says which ``subscribers`` are touch-only (module docstring); ``touch_only`` names them
    instead when given.
    """

    # Class defaults: a book pickled before touch-only subscribers existed (an older checkpoint)
    # loads as one that sends every update to every subscriber, as it did.
    _touch: tuple[str, ...] = ()  #: the touch-only subscribers
    _full: list[str] = []  #: the others, in subscriber order
    #: the best bid (0: none) of the last update the touch-only subscribers were sent; -1: the
    #: next update goes to them (it said INVALID, a snapshot came, the book started)
    _sent_bid = -1
    _sent_ask = 0  #: ... and its best ask (0: none)
    _sent_ns = 0  #: ... and its receive time
    _refresh_ns = 0  #: ... plus ``TOUCH_REFRESH_NS``: from then on they are sent the next one

    def __init__(self, name: str, venue: str, sym: str, subscribers: list[str], depth: int = 20,
                 publish_levels: int = 10, *, topo: Topology = DEFAULT,
                 touch_only: Iterable[str] | None = None) -> None:
        super().__init__(name)
        self.venue = venue
        self.sym = sym
        self.feed = topo.feed(venue)
        self.subscribers = subscribers
        touch = (set(touch_only) if touch_only is not None
                 else {s for s in subscribers if topo.touch_only(s)})
        self._touch = tuple(s for s in subscribers if s in touch)
        self._full = [s for s in subscribers if s not in touch]
        self.depth = depth
        self.publish_levels = min(publish_levels, depth)
        self.book = np.zeros((4, depth), np.int64)
        self.n = np.zeros(2, np.int64)
        self.bid_px, self.bid_qty, self.ask_px, self.ask_qty = self.book
        self.bid_n = self.n[0:1]
        self.ask_n = self.n[1:2]
        #: ``book[:, :k]`` for every k a publication can need (views made once, not per update)
        self._tops = [self.book[:, :k] for k in range(self.publish_levels + 1)]
        self.valid = False
        self.quiet = False  #: no update for too long: data intact, not usable until it moves
        self.seq = 0
        self.updates = 0
        self.invalidations: dict[str, int] = {}
        self.last_event_ns = 0
        # an empty delta and a bad level change nothing; they load the kernels now, not on
        # the first delta
        book_apply_levels(self.book, self.n, _NO_LEVELS, 0, MAX_LEVEL_LOTS)
        book_apply_packed(self.book, self.n, _pack(((), ())), MAX_LEVEL_LOTS)
        book_update_checked(self.book, self.n, 0, 0, 0, MAX_LEVEL_LOTS)

    def _apply(self, bids: list[tuple[int, int]],
               asks: list[tuple[int, int]]) -> tuple[str, int, int]:
        """Apply ``bids`` then ``asks`` in one kernel call; return ``(why, n_bid, n_ask)``:
        ``why`` is "" (applied), "bad_value" (nothing applied) or "crossed" (applied)."""
        try:
            status, nb, na = book_apply_packed(self.book, self.n, _pack((bids, asks)),
                                               MAX_LEVEL_LOTS)
        except _UNPACKABLE:
            status = APPLY_UNREAD
        if status == APPLY_UNREAD:
            # not plain int64 levels (nothing was applied): the array path decides (or
            # raises) as it always did
            levels = bids + asks
            flat = np.fromiter(_flatten(levels), np.int64, 2 * len(levels))
            status, nb, na = book_apply_levels(self.book, self.n, flat, len(bids),
                                               MAX_LEVEL_LOTS)
        if status == APPLY_OK:
            return "", nb, na
        return _REASONS.get(status, "crossed"), nb, na

    def _publish(self, ts_event_ns: int, ts_recv_ns: int, now_ns: int) -> Out:
        nb, na = self.n.tolist()
        return self._publish_n(nb, na, ts_event_ns, ts_recv_ns, now_ns)

    def _publish_n(self, nb: int, na: int, ts_event_ns: int, ts_recv_ns: int,
                   now_ns: int) -> Out:
        """Publish the best ``publish_levels`` of ``nb`` bid and ``na`` ask live levels."""
        top = self.publish_levels
        if nb > top:
            nb = top
        if na > top:
            na = top
        # one tolist of a ready-made view for all four rows, then trim the shorter side
        if nb < na:
            bp, bq, ap, aq = self._tops[na].tolist()
            bp, bq = bp[:nb], bq[:nb]
        else:
            bp, bq, ap, aq = self._tops[nb].tolist()
            if na < nb:
                ap, aq = ap[:na], aq[:na]
        valid = self.valid and not self.quiet
        upd = BookUpdate(self.venue, self.sym, valid, ts_event_ns, ts_recv_ns, now_ns,
                         bp, bq, ap, aq)
        to = self.subscribers
        if self._touch:
            bid = bp[0] if nb else 0
            ask = ap[0] if na else 0
            if (bid == self._sent_bid and ask == self._sent_ask and valid
                    and self._sent_ns <= ts_recv_ns < self._refresh_ns):
                to = self._full  # nothing a touch-only subscriber reads changed
            else:
                self._sent_bid, self._sent_ask = (bid, ask) if valid else (-1, 0)
                self._sent_ns, self._refresh_ns = ts_recv_ns, ts_recv_ns + TOUCH_REFRESH_NS
        if len(to) == 2:  # the usual fan-out, built without a comprehension's frame
            return [(to[0], upd), (to[1], upd)]
        return [(d, upd) for d in to]

    def _invalidate(self, reason: str, ts_recv_ns: int, now_ns: int,
                    ask_resync: bool = True) -> Out:
        self.invalidations[reason] = self.invalidations.get(reason, 0) + 1
        was_valid = self.valid
        self.valid = False
        out = self._publish(0, ts_recv_ns, now_ns) if was_valid else []
        if ask_resync:
            # the data itself is bad: only a fresh snapshot can make this book usable again
            out.append((self.feed, Resync(self.sym)))
        return out

    def on_start(self, now_ns: int) -> Out:
        """(Re)started: the next update goes to every subscriber."""
        self._sent_bid = -1
        return []

    def on_book_snapshot(self, m: BookSnapshot, now_ns: int) -> Out:
        self._sent_bid = -1  # a snapshot (a resync) reaches every subscriber
        book_clear(self.bid_n)
        book_clear(self.ask_n)
        why, _nb, _na = self._apply(m.bids, m.asks)
        if why:
            return self._invalidate(why, m.ts_recv_ns, now_ns)
        self.valid = True
        self.quiet = False
        self.seq = m.seq
        self.updates += 1
        self.last_event_ns = m.ts_event_ns
        return self._publish(m.ts_event_ns, m.ts_recv_ns, now_ns)

    def on_book_delta(self, m: BookDelta, now_ns: int) -> Out:
        if not self.valid:
            return []
        bids, asks = m.bids, m.asks
        # the side of a one-level delta; -1: none or more levels
        side = (1 if not bids and len(asks) == 1 else -1) if asks else (
            0 if len(bids) == 1 else -1)
        if side >= 0:
            # one level (the live feed's usual delta): validated, applied and checked in one
            # kernel call, ~0.15 µs less than the checks here and ``book_update_level``
            px, qty = (asks if side else bids)[0]
            try:
                status, nb, na = book_update_checked(self.book, self.n, side, px, qty,
                                                     MAX_LEVEL_LOTS)
            except OverflowError:
                pass  # a value beyond int64: the checks below decide, as they always did
            else:
                if status != APPLY_OK:
                    return self._invalidate(_REASONS.get(status, "crossed"), m.ts_recv_ns,
                                            now_ns)
                # as ``_applied``, inline: the live feed's delta pays no extra call
                self.seq = m.seq
                self.updates += 1
                self.last_event_ns = m.ts_event_ns
                self.quiet = False
                return self._publish_n(nb, na, m.ts_event_ns, m.ts_recv_ns, now_ns)
        if len(bids) + len(asks) > PER_LEVEL_MAX:
            # a many-level delta (a maker refreshing its ladder): validated, applied and checked
            # in one kernel call
            why, nb, na = self._apply(bids, asks)
            if why:
                return self._invalidate(why, m.ts_recv_ns, now_ns)
            return self._applied(m, nb, na, now_ns)
        # validate every level before applying any (as ``_apply``): a bad frame changes nothing
        for px, qty in bids:
            if px <= 0 or qty < 0 or qty > MAX_LEVEL_LOTS:
                return self._invalidate("bad_value", m.ts_recv_ns, now_ns)
        for px, qty in asks:
            if px <= 0 or qty < 0 or qty > MAX_LEVEL_LOTS:
                return self._invalidate("bad_value", m.ts_recv_ns, now_ns)
        # two levels (or none): one kernel call per level (bids, then asks, in order) beats
        # building an array; the last call reports the crossed state of the result
        book, n = self.book, self.n
        res = None
        for px, qty in bids:
            res = book_update_level(book, n, 0, px, qty)
        for px, qty in asks:
            res = book_update_level(book, n, 1, px, qty)
        if res is None:  # an empty delta
            nb, na = n.tolist()
            crossed = bool(book_crossed(self.bid_px, nb, self.ask_px, na))
        else:
            crossed, nb, na = res
        if crossed:
            return self._invalidate("crossed", m.ts_recv_ns, now_ns)
        # as ``_applied``, inline: the live feed's two-level delta pays no extra call
        self.seq = m.seq
        self.updates += 1
        self.last_event_ns = m.ts_event_ns
        self.quiet = False
        return self._publish_n(nb, na, m.ts_event_ns, m.ts_recv_ns, now_ns)

    def _applied(self, m: BookDelta, nb: int, na: int, now_ns: int) -> Out:
        """A delta applied cleanly: take its sequence and publish the ``nb``/``na`` levels."""
        self.seq = m.seq
        self.updates += 1
        self.last_event_ns = m.ts_event_ns
        self.quiet = False  # it moved: a quiet (stale) book is usable again, its data was intact
        return self._publish_n(nb, na, m.ts_event_ns, m.ts_recv_ns, now_ns)

    def on_book_invalid(self, m: BookInvalid, now_ns: int) -> Out:
        if m.reason == "book_stale":
            if not self.valid or self.quiet:
                return []
            self.quiet = True
            self.invalidations["book_stale"] = self.invalidations.get("book_stale", 0) + 1
            return self._publish(0, m.ts_recv_ns, now_ns)
        return self._invalidate(m.reason, m.ts_recv_ns, now_ns, ask_resync=False)

    def levels(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Return (bids, asks) as lists of (px_ticks, qty_lots), best first."""
        nb, na = self.n.tolist()
        return (list(zip(self.bid_px[:nb].tolist(), self.bid_qty[:nb].tolist(), strict=True)),
                list(zip(self.ask_px[:na].tolist(), self.ask_qty[:na].tolist(), strict=True)))

    def snapshot(self) -> dict[str, Any]:
        """Return the book state and counters."""
        bids, asks = self.levels()
        return {"venue": self.venue, "sym": self.sym, "valid": self.valid, "seq": self.seq,
                "updates": self.updates, "invalidations": dict(self.invalidations),
                "bids": bids, "asks": asks}
