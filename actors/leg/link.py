"""The LegExecutor's order-entry link: pings on ``@oe`` and the disconnects they reveal.

The executor (``actors.leg.executor``) owns one ``OeLink``. It pings every ``ping_ns`` (the
``PING`` timer); a ping with no pong for ``timeout_ns`` is a disconnect, and a pong after one is a
reconnect. What follows from either -- working orders flagged unknown and new orders denied
``disconnected``; a reconciliation before trading again (``actors.leg.reconciler``) -- is the
executor's to do: the link only says when.
"""

from __future__ import annotations

from actors.core import Out
from actors.leg.orders import LegTimer
from transports.wire.messages import SetTimer
from transports.wire.venue_msgs import Ping


class OeLink:
    """Ping schedule and link state of one venue's order entry."""

    def __init__(self, ping_ns: int, timeout_ns: int) -> None:
        self.ping_ns = ping_ns
        self.timeout_ns = timeout_ns  #: no pong for this long is a disconnect
        self.up = True
        self.last_pong_ns = 0

    def start(self, now_ns: int) -> Out:
        """The first ping (the link counts as up from now)."""
        self.last_pong_ns = now_ns
        return self.ping(now_ns)

    def ping(self, now_ns: int) -> Out:
        """A ping and the next ping's timer."""
        return [("@oe", Ping(ts=now_ns)),
                ("@timer", SetTimer(LegTimer.PING, now_ns + self.ping_ns))]

    def lost(self, now_ns: int) -> bool:
        """True the first time the pongs are overdue (the link goes down)."""
        if self.up and now_ns - self.last_pong_ns >= self.timeout_ns:
            self.up = False
            return True
        return False

    def pong(self, now_ns: int) -> bool:
        """A pong came; True when it brings the link back up."""
        self.last_pong_ns = now_ns
        if self.up:
            return False
        self.up = True
        return True


__all__ = ["OeLink"]
