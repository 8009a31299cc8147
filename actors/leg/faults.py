"""What the LegExecutor does when its venue link or its intent WAL fails under it.

A lost link (``oe_lost``: no pong for ``oe_timeout_ms``; ``actors.leg.link`` says when) flags
every open order unknown; the executor denies new orders ``disconnected`` until it reconciles.

Bad frames (``BadFrames``): an order-entry frame that does not decode (``BadFrame``, the shell
logged it) is never silent: alarm ``bad_frame``, counter ``bad_frames``, and the venue is
*uncertain* (only position-reducing orders pass, ``venue_uncertain``; the strategies hear
``uncertain``): the frame may have been an ack, a fill or a done of any working order, so every
open order is flagged unknown and queried (never resent). The venue proves itself again -- the
flag clears -- with the next pong (an answer to a ping sent after the bad frame; without
``oe_link``, the next report that decodes) or a finished reconciliation; the gate then stays
shut until every order flagged unknown has been answered. ``limit`` bad frames within
``window_ns`` also send ``Reduce("bad_frames:<venue>: ...")`` to risk (REDUCING until resumed;
again at most once per window).

The intent WAL (``WalFailure``): when the node's intent WAL fails (``IntentFailed`` from
``@wal``: the shell could not make these orders' intents durable and did not send them) the
orders are rejected locally (``rejected``, reason ``intent_wal_failed``: they never left), the
first failure alarms ``intent_wal_failed`` and sends ``Reduce("intent_wal_failed:<venue>:
...")`` to risk; from then on only position-reducing orders pass (the rest are denied
``intent_wal_failed``) and each goes without a durable intent, journaled
``Decision("non_durable")`` (``actors.leg.entry``; why: ``actors.runtime.shells.venue_shell``).
"""

from __future__ import annotations

import collections

from actors.core import Out
from actors.leg.book import OrderBook
from actors.leg.orders import LegTimer, St
from actors.leg.reports import Reports
from transports.wire.messages import BadFrame, IntentFailed, Reduce, SetTimer

_NS = 1_000_000


def oe_lost(book: OrderBook, reports: Reports, since_pong_ns: int, now_ns: int) -> Out:
    """The order-entry link just went down: count, alarm, and flag every open order unknown
    (whatever the venue did with it since is unknown here)."""
    book.counters["oe_disconnects"] += 1
    out: Out = [reports.alarm("oe_disconnected", now_ns, open=len(book.open),
                              since_pong_ms=since_pong_ns // _NS)]
    for lo in list(book.open.values()):
        out += reports.flag_unknown(lo, "oe_disconnect", now_ns)
    return out


class BadFrames:
    """The LegExecutor's doubt after undecodable order-entry frames (``suspect_ns``) and the
    recent ones that may ask risk to reduce. It flags, counts and alarms through the
    executor's ``book`` and ``reports``; the executor gates the result."""

    def __init__(self, book: OrderBook, reports: Reports, venue: str, risk: str, limit: int,
                 window_ns: int) -> None:
        self.book = book
        self.reports = reports
        self.venue = venue
        self.risk = risk  #: the risk actor (``Reduce``)
        #: when the latest undecodable frame came, while the venue has not proved itself since
        #: (0: it has); the venue is uncertain meanwhile
        self.suspect_ns = 0
        self.limit = limit
        self.window_ns = window_ns
        self.recent: collections.deque[int] = collections.deque()  #: recent bad frames
        self.reduce_ns = 0  #: when the last ``Reduce`` for bad frames went to risk

    def on_bad_frame(self, b: BadFrame, now_ns: int) -> Out:
        """Alarm, make the venue uncertain, flag every open order unknown (queried); too many
        within the window ask risk for REDUCING (see the module)."""
        book = self.book
        book.counters["bad_frames"] = book.counters.get("bad_frames", 0) + 1
        self.suspect_ns = now_ns
        out: Out = [self.reports.alarm("bad_frame", now_ns, key=b.key, reason=b.reason[:200],
                                       open=len(book.open))]
        for lo in list(book.open.values()):
            if not lo.unknown:  # it may have been this order's ack, fill or done
                out += self.reports.flag_unknown(lo, "bad_frame", now_ns)
        recent = self.recent
        recent.append(now_ns)
        while now_ns - recent[0] > self.window_ns:
            recent.popleft()
        if len(recent) >= self.limit and (
                not self.reduce_ns or now_ns - self.reduce_ns >= self.window_ns):
            self.reduce_ns = now_ns
            ms = self.window_ns // _NS
            why = f"bad_frames:{self.venue}: {len(recent)} undecodable frames in {ms} ms"
            out += [(self.risk, Reduce(why)),
                    self.reports.alarm("bad_frames_reduce", now_ns, count=len(recent),
                                       window_ms=ms)]
        return out


class WalFailure:
    """Whether the node's intent WAL failed under the LegExecutor (``reason``) and the local
    rejection of the orders whose intents it could not make durable."""

    def __init__(self, book: OrderBook, reports: Reports, venue: str, risk: str) -> None:
        self.book = book
        self.reports = reports
        self.venue = venue
        self.risk = risk  #: the risk actor (``Reduce``)
        #: the intent WAL's error once an intent failed ('' = never): only reducing orders
        #: pass, without a durable intent
        self.reason = ""

    def on_intent_failed(self, m: IntentFailed, now_ns: int) -> Out:
        """These orders' intents could not be made durable and the shell did not send them:
        each is rejected here (``intent_wal_failed``; it never traded). The first failure
        alarms and asks risk to reduce; only reducing orders pass from then on."""
        book = self.book
        out: Out = []
        first = not self.reason
        self.reason = m.reason or "intent WAL failed"
        for cl in m.cls:
            lo = book.orders.get(cl)
            if lo is None or lo.state is not St.SUBMITTED:
                continue  # not an order of ours still waiting for its first answer
            book.counters["intent_failed"] = book.counters.get("intent_failed", 0) + 1
            out.append(("@timer", SetTimer(LegTimer.ACK, 0, cl)))
            out += self.reports.reject_local(lo, "intent_wal_failed", now_ns)
        if first:
            why = f"intent_wal_failed:{self.venue}: {self.reason}"[:300]
            out += [(self.risk, Reduce(why)),
                    self.reports.alarm("intent_wal_failed", now_ns, orders=list(m.cls),
                                       reason=self.reason[:200])]
        return out


__all__ = ["BadFrames", "WalFailure", "oe_lost"]
