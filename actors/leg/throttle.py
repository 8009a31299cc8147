"""The venue's rate limit (``throttled``, protocol v2) as the LegExecutor's back-off.

A ``reject`` or ``cancel_reject`` with code ``throttled`` starts a back-off of at least its
``retry_ms`` plus a jitter derived from the client id (``throttle_jitter_ms``: deterministic, so
replay is exact; it spreads the retries of several accounts hit at once). Meanwhile no new order
goes to the venue (denied ``throttled``; the strategies hear ``throttled`` and open nothing
there) and cancels are held; when it ends the held cancels go first, then new orders may go. A
throttled ``reject`` is definitive (the order never traded); a throttled ``cancel_reject`` is
retried when the back-off ends.
"""

from __future__ import annotations

import zlib

from actors.core import Out
from actors.leg.book import OrderBook
from actors.leg.orders import LegTimer
from actors.leg.reports import Reports
from transports.wire.messages import SetTimer

_NS = 1_000_000
#: the jitter added to a venue's ``retry_ms`` is below this share of it
THROTTLE_JITTER_SHARE = 0.2


def throttle_jitter_ms(cl: str, retry_ms: int) -> int:
    """The deterministic jitter (ms, ``0 <= j < 20%`` of ``retry_ms``) added to a ``throttled``
    back-off: a CRC of the client id, not ``hash`` (salted per process) nor ``random`` (global
    state), so a replay waits exactly as the run did."""
    span = int(retry_ms * THROTTLE_JITTER_SHARE)
    return zlib.crc32(cl.encode()) % span if span > 0 else 0


class Throttle:
    """The LegExecutor's back-off after a ``throttled`` answer: when it ends and the cancels it
    holds until then. It counts and alarms through the executor's ``book`` and ``reports``."""

    def __init__(self, book: OrderBook, reports: Reports) -> None:
        self.book = book
        self.reports = reports
        #: when the back-off ends (0: not throttled): new orders are denied ``throttled``
        #: until the ``THROTTLE`` timer clears it
        self.until_ns = 0
        #: client ids whose cancel waits for the back-off's end (sent first then)
        self.held: list[str] = []

    def start(self, cl: str, retry_ms: int, now_ns: int) -> Out:
        """Start (or lengthen) the back-off a ``throttled`` answer about ``cl`` asks for: at
        least ``retry_ms`` plus ``throttle_jitter_ms``. A venue that gives no ``retry_ms`` gets
        the order timeout's worth (we must wait some time; it said how long nowhere)."""
        wait_ms = retry_ms if retry_ms > 0 else self.reports.timeout_ns // _NS
        until = now_ns + (wait_ms + throttle_jitter_ms(cl, wait_ms)) * _NS
        book = self.book
        book.counters["throttled"] = book.counters.get("throttled", 0) + 1
        out: Out = [self.reports.alarm("throttled", now_ns, cl=cl, retry_ms=retry_ms,
                                       until_ms=(until - now_ns) // _NS)]
        if until > self.until_ns:
            self.until_ns = until
            out.append(("@timer", SetTimer(LegTimer.THROTTLE, until, "")))
        return out

    def hold(self, cl: str) -> bool:
        """While throttled, keep ``cl``'s cancel for the back-off's end (once) and say so."""
        if not self.until_ns:
            return False
        if cl not in self.held:
            self.held.append(cl)
        return True

    def end(self, now_ns: int) -> list[str]:
        """If the back-off is over, end it and return the held cancels' client ids (to send
        first); else nothing."""
        if not self.until_ns or now_ns < self.until_ns:
            return []  # lengthened since this timer was set: its own timer comes later
        self.until_ns = 0
        held, self.held = self.held, []
        return held


__all__ = ["THROTTLE_JITTER_SHARE", "Throttle", "throttle_jitter_ms"]
