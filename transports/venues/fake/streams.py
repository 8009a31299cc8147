"""The fake's streams: who subscribed to what, and the faults that act on the streams.

``FakeCore`` (``core.py``) hands every market-data message of a served venue to ``md`` and
every order event or funding payment to ``private``; the exchange layers' websockets are the
subscribers. The market-data faults act here: a dropped delta is never sent (``drop_md``), and
a stall (``stall_md``) holds a venue's messages back and sends them, in order, once it is over
(``release``) -- always before any newer message, so a stall never reorders a stream. The
``disconnect_private`` fault closes the private streams it names (``disconnect``) and refuses
new ones while it lasts. Everything runs on the fake's one asyncio loop: callbacks must not
block (queue and return).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from transports.venues.fake.faults import FakeFaults
from transports.wire.venue_msgs import Delta, Mark, MdStatus, Trade

_Drop = Callable[[], None] | None


class Streams:
    """The md and private subscribers of one fake, and the md held back by stalls."""

    def __init__(self, faults: FakeFaults) -> None:
        self.faults = faults
        self._ids = itertools.count(1)
        self._md_subs: dict[int, tuple[str, Callable[[Any], None]]] = {}
        self._priv_subs: dict[int, tuple[str, str, Callable[[Any], None], _Drop]] = {}
        self._held: dict[str, list[Any]] = {}  # venue -> md held by a stall

    # --- subscriptions ----------------------------------------------------------------------

    def subscribe_md(self, venue: str, cb: Callable[[Any], None]) -> int:
        """Call ``cb(msg)`` for the venue's market data; returns a token."""
        tok = next(self._ids)
        self._md_subs[tok] = (venue, cb)
        return tok

    def subscribe_private(self, venue: str, account: str, cb: Callable[[Any], None],
                          on_drop: _Drop, now: int) -> int:
        """Call ``cb(msg)`` for ``account``'s private messages on ``venue``; during a
        ``disconnect_private`` outage the stream is refused (``on_drop`` at once)."""
        tok = next(self._ids)
        if self.faults.private_down(venue, account, now):
            self.faults.record("private_refused", now, venue=venue, account=account)
            if on_drop is not None:
                on_drop()
            return tok
        self._priv_subs[tok] = (venue, account, cb, on_drop)
        return tok

    def unsubscribe(self, token: int) -> None:
        """Stop a subscription (unknown tokens are ignored)."""
        self._md_subs.pop(token, None)
        self._priv_subs.pop(token, None)

    # --- market data ------------------------------------------------------------------------

    def md(self, venue: str, msg: Any, now: int) -> None:
        """Send one md message of ``venue`` (after what a finished stall held), hold it during
        a stall, or drop it (a delta the ``drop_md`` fault takes; heartbeats: the exchanges
        have their own keep-alives)."""
        if isinstance(msg, Delta) and self.faults.take_drop(venue, msg.sym, now, msg.seq):
            return
        if not isinstance(msg, Delta | Trade | MdStatus | Mark):
            return
        if self.faults.stalled_until(venue, now):
            self._held.setdefault(venue, []).append(msg)
            return
        self.release(venue, now)  # a stall's held messages go first: no reordering
        self._send_md(venue, msg)

    def release(self, venue: str, now: int) -> None:
        """Send what a finished stall held, in order."""
        held = self._held.get(venue)
        if held and not self.faults.stalled_until(venue, now):
            self._held[venue] = []
            for msg in held:
                self._send_md(venue, msg)

    def release_all(self, now: int) -> None:
        """``release`` every venue a stall held messages of."""
        for venue in list(self._held):
            self.release(venue, now)

    def stalls(self, now: int) -> list[int]:
        """When each stall holding messages ends (the run loop wakes then to send them)."""
        return [u for v in self._held if (u := self.faults.stalled_until(v, now))]

    def hold(self, venues: Iterable[str]) -> None:
        """A ``stall_md`` switch was set on ``venues``: watch them for its end."""
        for v in venues:
            self._held.setdefault(v, [])

    def _send_md(self, venue: str, msg: Any) -> None:
        for v, cb in list(self._md_subs.values()):
            if v == venue:
                cb(msg)

    # --- private ----------------------------------------------------------------------------

    def private(self, venue: str, account: str, msg: Any) -> None:
        """Send one private message to ``account``'s streams on ``venue``."""
        for v, a, cb, _ in list(self._priv_subs.values()):
            if v == venue and a == account:
                cb(msg)

    def disconnect(self, venue: str, account: str, now: int) -> None:
        """Close the private streams of ``venue`` / ``account`` (``""``: every one), each
        recorded and told through its ``on_drop``."""
        for tok, (v, a, _, on_drop) in list(self._priv_subs.items()):
            if venue in ("", v) and account in ("", a):
                self._priv_subs.pop(tok, None)
                self.faults.record("disconnect_private", now, venue=v, account=a)
                if on_drop is not None:
                    on_drop()


__all__ = ["Streams"]
