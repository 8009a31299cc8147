"""One venue's market-data output path through the md fault switches (pure, no sockets).

``MdPipe.feed(t, items)`` takes what the venue published at ``t`` (``(topic, msg)`` in order:
deltas, trades, status, heartbeats) and returns what goes on the wire now; messages held back
(fault ``md_delay``) come out of ``release(t)`` at ``hold_until``. The decisions are the venue's
``FaultInjector``'s; see ``faults`` for what each switch does.
"""

from __future__ import annotations

from typing import Any

import msgspec

from transports.venues.sim.faults import FaultInjector
from transports.venues.sim.matching import Book
from transports.wire.venue_msgs import Delta, Heartbeat

Item = tuple[str, msgspec.Struct]

HUGE_QTY = 1 << 40  #: an absurd quantity (the protocol's limit is 10,000,000)


def bad_delta(d: Delta, kind: str) -> Delta:
    """``d`` with its first level spoiled: ``px_zero``, ``qty_negative``, ``qty_huge`` or
    ``float`` (a float px where an int is required). Still valid MessagePack."""
    side = "b" if d.b else "a"
    levels: list[Any] = list(getattr(d, side))
    if not levels:  # an empty delta (cannot happen with take_delta); give it a level
        levels = [(1, 1)]
    px, qty = levels[0]
    if kind == "px_zero":
        levels[0] = (0, qty)
    elif kind == "qty_negative":
        levels[0] = (px, -max(1, qty))
    elif kind == "qty_huge":
        levels[0] = (px, HUGE_QTY)
    else:
        levels[0] = (px + 0.5, qty)
    return msgspec.structs.replace(d, **{side: levels})


class MdPipe:
    """The md fault switches of one venue."""

    def __init__(self, faults: FaultInjector, books: dict[str, Book]) -> None:
        self.faults = faults
        self.books = books
        self.hold_until = 0  #: md_delay: everything is held until then
        self.held: list[Item] = []
        self._reorder: Item | None = None  # a delta waiting for the next one of its symbol

    def feed(self, t: int, items: list[Item]) -> list[Item]:
        """Apply the switches to ``items`` published at ``t``; return what goes out now."""
        out: list[Item] = []
        split = 0 if self.held else None  # a hold lasts until ``release`` empties it
        for topic, msg in items:
            if isinstance(msg, Delta):
                if split is None and self._delta(t, topic, msg, out) == "md_delay":
                    split = len(out) - 1
                    self.hold_until = t + self.faults.cfg.md_delay_ms * 1_000_000
                elif split is not None:
                    self._delta(t, topic, msg, out, delay_ok=False)
                continue
            if isinstance(msg, Heartbeat):
                out.extend(self.flush())  # the hb must not report a seq still held back
            out.append((topic, msg))
        if split is None:
            return out
        self.held.extend(out[split:])
        return out[:split]

    def _delta(
        self, t: int, topic: str, d: Delta, out: list[Item], *, delay_ok: bool = True
    ) -> str | None:
        f = self.faults
        if self._reorder is not None and self._reorder[1].sym == d.sym:  # type: ignore[attr-defined]
            held, self._reorder = self._reorder, None
            out.extend([(topic, d), held])
            f.count("md_reorder", t, sym=d.sym, seq=held[1].seq)  # type: ignore[attr-defined]
            return None
        act = f.md_action(t, d.sym, d.seq, delay=delay_ok)
        if act == "md_drop":
            return act
        if act == "md_bad":
            kind = f.bad_kind()
            f.last_event["bad"] = kind
            out.append((topic, bad_delta(d, kind)))
        elif act == "md_duplicate":
            out.extend([(topic, d), (topic, d)])
        elif act == "md_reorder":
            out.extend(self.flush())
            self._reorder = (topic, d)
        elif act == "md_crossed":
            out.append((topic, d))
            book = self.books.get(d.sym)
            cross = book.crossing_delta(t, 1 + int(f.rng.integers(0, 10))) if book else None
            if cross is not None:
                out.append((topic, cross))
        else:
            out.append((topic, d))
        return act

    def reset(self) -> None:
        """Fault ``md_reset``: a delta held for a reorder is lost with the restart."""
        self._reorder = None

    def flush(self) -> list[Item]:
        """The delta held for a reorder, unswapped (before an hb)."""
        if self._reorder is None:
            return []
        held, self._reorder = self._reorder, None
        return [held]

    def release(self, t: int) -> list[Item]:
        """The held messages, in order, once ``hold_until`` has come (else nothing)."""
        if not self.held or t < self.hold_until:
            return []
        out, self.held, self.hold_until = self.held, [], 0
        return out
