"""What a Feed learns of its venue beyond the books (venue protocol version 2).

The ``FeedCore`` (``actors.feed``) owns one ``VenueFacts``:

- **the venue's own description**: when a LegExecutor trades the venue (``info_to`` given), the
  feed asks the gateway's ``instruments`` on its ref socket at start (again every
  ``retry_ns`` until it answers, and after the feed was STALE: the gateway may have been
  replaced). The reply's protocol version ``v`` (absent: 1) and each symbol's ``kind`` go to
  ``info_to`` as one ``VenueInfo``: the executor asks a version 2 gateway for ``balances`` and
  sends ``reduce_only`` on perpetuals, and never sends a version 1 gateway a request or a key
  it does not know. The config is not the place for these facts: they are the gateway's
  answer, and as an input journaled where it arrives (``@ref``) a replay, a rebuild and every
  node of a multi-process placement learn them the same way. (The launcher's start check,
  ``actors.runtime.instruments``, compares the same reply with the config.)
- **marks** (``mark`` on md, perpetuals): the last mark, index, funding rate and next funding
  time per symbol, kept for the snapshot and forwarded as ``MarkUpdate`` to ``mark_to`` (the
  strategies of the pairs using the symbol). A ``funding_rate`` that is not a finite decimal
  is counted (``bad_marks``) and dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from actors.core import Out
from transports.wire.messages import MarkUpdate, VenueInfo
from transports.wire.venue_msgs import Instruments, InstrumentsReq, Mark


class VenueFacts:
    """The venue's protocol version, instrument kinds and marks, as one Feed learns them."""

    def __init__(self, venue: str, syms: Iterable[str], info_to: list[str] | None,
                 mark_to: dict[str, list[str]] | None, retry_ns: int) -> None:
        self.venue = venue
        self.syms = frozenset(syms)
        #: who hears ``VenueInfo``; None: the instruments are not asked (no executor needs them)
        self.info_to = info_to
        self.mark_to = mark_to or {}  #: sym -> who hears its ``MarkUpdate``
        self.retry_ns = retry_ns
        self.version = 0  #: the gateway's protocol version; 0 = not known (not asked, no reply)
        self.kinds: dict[str, str] = {}  #: sym -> kind, as the venue lists it
        self.asked_ns = 0
        self.marks: dict[str, dict[str, Any]] = {}  #: sym -> the last mark
        self.bad_marks = 0

    def ask(self, now_ns: int) -> Out:
        """Ask the gateway's instruments (when an executor needs the answer)."""
        if self.info_to is None:
            return []
        self.asked_ns = now_ns
        return [("@ref", InstrumentsReq())]

    def retry(self, now_ns: int) -> Out:
        """Ask again if no answer came within ``retry_ns`` (a request may be lost)."""
        if self.version or self.info_to is None or now_ns - self.asked_ns < self.retry_ns:
            return []
        return self.ask(now_ns)

    def on_instruments(self, m: Instruments, now_ns: int) -> Out:
        """Keep the version and the kinds; tell ``info_to``."""
        self.version = max(m.v, 1)
        self.kinds = {i.sym: i.kind for i in m.list if i.sym in self.syms and i.kind}
        info = VenueInfo(self.venue, self.version, dict(self.kinds), now_ns)
        return [(d, info) for d in self.info_to or ()]

    def on_mark(self, m: Mark, now_ns: int) -> Out:
        """Keep the mark of a known symbol and forward it as a ``MarkUpdate``."""
        if m.sym not in self.syms:
            return []
        try:
            rate = float(m.funding_rate)
        except ValueError:
            rate = math.nan
        if not math.isfinite(rate):
            self.bad_marks += 1
            return []
        self.marks[m.sym] = {"mark_px": m.mark_px, "index_px": m.index_px,
                             "funding_rate": m.funding_rate,
                             "next_funding_ts": m.next_funding_ts, "ts": m.ts}
        to = self.mark_to.get(m.sym)
        if not to:
            return []
        u = MarkUpdate(self.venue, m.sym, m.mark_px, m.index_px, rate, m.next_funding_ts, m.ts,
                       now_ns)
        return [(d, u) for d in to]

    def snapshot(self) -> dict[str, Any]:
        """The version (0: unknown), the kinds and the last mark per symbol."""
        return {"protocol": self.version, "kinds": dict(self.kinds),
                "marks": {s: dict(v) for s, v in self.marks.items()},
                "bad_marks": self.bad_marks}


__all__ = ["VenueFacts"]
